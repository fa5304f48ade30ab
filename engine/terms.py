"""The agreement's terms as audit events, so a report built from the log alone can show the
clause text and the schedule of thresholds every test was run against.

A rerun records nothing; an edited rule file records the new terms as a new version that
supersedes the old (the event's version covers the terms, not where the rule files sit).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .cached import WhileAlive
from .lifecycle import AuditEvent, SharedDetails, SharedEvent, unit_of
from .rules import Agreement, Covenant, Figure, InterestTerms

RULE = "declared"


def declared(agreement: Agreement) -> list[AuditEvent]:
    """One `agreement_terms` event, one `interest_terms` event when the agreement has interest
    terms, and one `covenant_terms` event per covenant."""
    events = [
        AuditEvent(
            "agreement_terms",
            agreement.id,
            None,
            agreement.dated,
            {
                "rule": RULE,
                "title": agreement.title,
                "dated": agreement.dated.isoformat(),
                "borrower": agreement.borrower,
                "lenders": list(agreement.lenders),
                "text": agreement.text.strip(),
                "rule_folder": agreement.folder,
                "default_rates": [
                    {
                        "from": rate.start.isoformat(),
                        "through": rate.end.isoformat() if rate.end else None,
                        "floor_percent": str(rate.floor_percent),
                        "source": rate.source,
                        "note": rate.note,
                    }
                    for rate in agreement.default_rates
                ],
                **_facility(agreement),
                **_figures(agreement),
            },
        )
    ]
    if (interest := agreement.interest) is not None:
        events.append(
            SharedEvent(
                "interest_terms",
                agreement.id,
                interest.section,
                interest.rates[0].start,
                _interest_terms(interest),
            )
        )
    for covenant in agreement.covenants.values():
        amended = agreement.instruments.get(covenant.amended_by or "")
        in_force_from = amended.effective if amended else agreement.dated
        events.append(
            SharedEvent(
                "covenant_terms",
                agreement.id,
                covenant.section,
                in_force_from,
                _covenant_terms(covenant),
            )
        )
    return events


def ended(agreement: Agreement, as_of: date) -> list[AuditEvent]:
    """A `monitoring_ended` event once `as_of` reaches the day the facility's monitoring ended,
    as its facility.toml declares."""
    ending = agreement.ended
    if ending is None or ending.day > as_of:
        return []
    details = {"rule": RULE, "reason": ending.reason, "source": "facility.toml, ended"}
    return [AuditEvent("monitoring_ended", agreement.id, None, ending.day, details)]


def _facility(agreement: Agreement) -> dict[str, Any]:
    """For a facility following a shared package: which, and the facility's name."""
    if agreement.package is None:
        return {}
    return {"package": agreement.package, "facility_name": agreement.facility_name}


def _figures(agreement: Agreement) -> dict[str, Any]:
    """The figures of financials.csv the agreement declares, with the clauses defining them
    (none for Cerplex, whose terms then read as before)."""
    if not agreement.figures:
        return {}
    return {"figures": [_figure(f) for f in agreement.figures]}


def _figure(figure: Figure) -> dict[str, Any]:
    """A figure as its terms say it: how it is reported, or what it sums (or averages) over
    how many quarters (and from which, annualized until they have passed)."""
    if figure.sum_of is not None:
        of = "average_of" if figure.average else "sum_of"
        how: dict[str, Any] = {of: figure.sum_of, "quarters": figure.quarters}
        if figure.annualized_from is not None:
            how["annualized_from"] = str(figure.annualized_from)
        if figure.annualized_source is not None:
            how["annualized_source"] = figure.annualized_source
    else:
        how = {"reported": str(figure.reported), "non_negative": figure.non_negative}
    return {
        "name": figure.name,
        "title": figure.title,
        **how,
        "source": figure.source,
        "note": figure.note,
    }


def _interest(terms: InterestTerms) -> dict[str, Any]:
    return {
        "title": terms.title,
        "text": terms.text.strip(),
        "rule_file": terms.file,
        "day_count": str(terms.day_count),
        "calendar": str(terms.calendar),
        "calendar_note": terms.calendar_note,
        "maturity": terms.maturity.isoformat(),
        "maturity_source": terms.maturity_source,
        "rates": [
            {
                "from": r.start.isoformat(),
                "through": r.end.isoformat() if r.end else None,
                "percent": str(r.percent),
                "source": r.source,
            }
            for r in terms.rates
        ],
        "payment_dates": {
            "semi_annual": [d.isoformat() for d in terms.semi_annual],
            "monthly_from": terms.monthly_from.isoformat(),
            "source": terms.payment_source,
        },
        "additional_capitalization": {
            "from": terms.additional_from.isoformat(),
            "minimum_cash_percent": str(terms.additional_cash_percent),
            "notice_business_days": terms.notice_business_days,
            "source": terms.additional_source,
        },
        "prepayment": {
            "through": terms.prepayment_through.isoformat(),
            "rate_percent": str(terms.prepayment_rate_percent),
            "source": terms.prepayment_source,
        },
        "note": terms.note,
    }


def _covenant(covenant: Covenant) -> dict[str, Any]:
    return {
        "title": covenant.title,
        "text": covenant.text.strip(),
        "test": str(covenant.test),
        **({"fiscal_year_end": f"Q{year_end}"} if (year_end := covenant.fiscal_year_end) else {}),
        "consequence": str(covenant.consequence),
        "metric": covenant.metric.source if covenant.metric else None,
        "unit": unit_of(covenant),
        # a limit's side, so that a report reads a cap as one before its first test
        "breach_when": covenant.breach_when if covenant.schedule else None,
        "plus": covenant.plus.source if covenant.plus else None,
        "plus_source": covenant.plus_source,
        "on_zero_denominator": covenant.on_zero_denominator,
        "zero_denominator_note": covenant.zero_denominator_note,
        "grace_days": covenant.grace_days,
        "grace_note": covenant.grace_note,
        "amended_by": covenant.amended_by,
        "note": covenant.note,
        "rule_file": covenant.file,
        "schedule": [
            {
                "from": str(row.start),
                "through": str(row.end) if row.end is not None else None,
                "minimum": str(row.minimum),
                "table_row": row.table_row,
                "source": row.source,
                "note": row.note,
            }
            for row in covenant.schedule
        ],
    }


# The details of a package's terms are made once for all the facilities that follow it, and so
# are their texts; an override makes a facility's covenant an object of its own, whose terms go
# with it.
_covenant_terms = WhileAlive(lambda covenant: SharedDetails(rule=RULE, **_covenant(covenant)))
_interest_terms = WhileAlive(lambda terms: SharedDetails(rule=RULE, **_interest(terms)))
