"""How amounts, ratios and events read in every report format, and in `run` and `log`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..audit import StoredEvent


def money(value: str | Decimal | None, cents: bool = False) -> str:
    """Accounting style: $1,234 and ($1,234) for a negative amount; cents when there are any."""
    if value is None:
        return "n/a"
    amount = Decimal(value)
    places = "{:,.2f}" if cents or amount != amount.to_integral_value() else "{:,.0f}"
    body = "$" + places.format(abs(amount))
    return f"({body})" if amount < 0 else body


def ratio_places(value: Decimal, unlike: str | Decimal | None) -> int | None:
    """Four places, or as many more as it takes not to show a ratio equal to `unlike` (its
    threshold, or zero for a headroom) when it is not: rounding must never make a breach of
    0.44999997 against 0.45 read as 0.4500 against 0.4500, nor its headroom as -0.0000.
    None: past twelve places, every digit."""
    other = None if unlike is None else Decimal(unlike)
    for places, place in _PLACE.items():
        if other is None or value == other or value.quantize(place) != other:
            return places
    return None


_PLACE = {places: Decimal(1).scaleb(-places) for places in range(4, 13)}


def ratio(value: str | Decimal | None, unlike: str | Decimal | None = None) -> str:
    if value is None:
        return "n/a"
    amount = Decimal(value)
    places = ratio_places(amount, unlike)
    return f"{amount if places is None else amount.quantize(_PLACE[places]):f}"


def amount(unit: str | None, value: str | Decimal | None, unlike: str | None = None) -> str:
    """A metric, threshold or headroom in its covenant's unit."""
    if unit == "days":
        if value is None:
            return "n/a"
        return f"{value} day{'' if abs(Decimal(str(value))) == 1 else 's'}"
    return ratio(value, unlike) if unit == "ratio" else money(value)


def input_amount(test: dict[str, Any], value: str | None) -> str:
    """One of a test's inputs: days for a covenant counted in days (a report's days from its
    filing), dollars otherwise (a ratio's or a minimum's inputs are amounts)."""
    return amount("days", value) if test["unit"] == "days" else money(value)


def figure(details: dict[str, Any], key: str) -> str:
    """A test's value, threshold or headroom (`key`) in its unit: a value is not shown equal
    to its threshold, nor a headroom to zero, when it is not."""
    return amount(details.get("unit"), details.get(key), unlike(details, key))


def unlike(details: dict[str, Any], key: str) -> str | None:
    """What a test's figure `key` is never shown equal to unless it is: the value its
    threshold, the headroom zero."""
    return {"value": details.get("threshold"), "headroom": "0"}.get(key)


def headroom_share(test: dict[str, Any]) -> Decimal | None:
    """A test's headroom as a percentage of its threshold's size (None: it has none). The log
    keeps it to the hundredth; one kept as 0.00 or -0.00 whose headroom is not zero (a dollar
    inside or outside a limit of millions) is worked out again from the headroom, so that it
    neither reads as equality nor sorts, or shows as a meter, with the compliant."""
    kept = test.get("headroom_percent")
    if kept is None:
        return None
    if Decimal(kept) or not Decimal(test["headroom"]):
        return Decimal(kept)
    return Decimal(test["headroom"]) * 100 / abs(Decimal(test["threshold"]))


def share_places(value: Decimal) -> int:
    """Two places, or as many more as it takes to show the first digit of a share that is not
    zero (0.000006, not 0.00001, for 0.00000602)."""
    return max(2, -value.adjusted()) if value else 2


def percent(test: dict[str, Any]) -> str:
    """A test's headroom share as the reports print it: "1.26%", "0.000025%", "-0.000025%"."""
    value = headroom_share(test)
    if value is None:
        return ""
    return f"{value.quantize(Decimal(1).scaleb(-share_places(value))):f}%"


def when(test: dict[str, Any]) -> str:
    """A test's date, with its fiscal quarter when it has one."""
    period = test.get("period")
    return test["date"] if not period or period == test["date"] else f"{period} ({test['date']})"


def nearest(test: dict[str, Any] | None) -> str:
    """A facility's compliant covenant closest to its limit, for the portfolio view."""
    if test is None:
        return ""
    return f"{test['covenant']} {test['title']}: {percent(test)} on {when(test)}"


# What a summary counts as neither compliant nor in breach: no test to go by, or a breach that
# is no default (waived, suspended; a Revolving Loan Reduction; Senior Debt above 9.1's cap).
OTHER = "not tested, waived, suspended, accelerated or above a cap"

# How the portfolio view orders its rows, and what "Tested through" means; said by every format.
PORTFOLIO_ORDER = (
    "the most serious status first; among equals, one short of a coming step-up first, then "
    "the least headroom; those whose monitoring ended last. Tested through: each one's latest "
    "quarter-end test by the report's date."
)


# What the figures an agreement defines are, as every format heads them.
FIGURES = "Figures the agreement defines (columns of financials.csv, or sums of them)"


def reported(figure: dict[str, Any]) -> str:
    """How a figure an agreement defines comes: a column reported at quarter ends or at any
    time, or the sum or average of one over fiscal quarters, which the monitor works out."""
    if "average_of" in figure:
        return (
            f"the average of {figure['average_of']} at the ends of {figure['quarters']} fiscal "
            "quarters, the last the one tested"
        )
    if "sum_of" in figure:
        said = (
            f"the sum of {figure['sum_of']} over {figure['quarters']} fiscal quarters, "
            "the last the one tested"
        )
        if first := figure.get("annualized_from"):
            if clause := figure.get("annualized_source"):
                first += f" ({clause})"
            said += (
                f"; counted from {first}, and annualized until {figure['quarters']} have "
                f"passed (the sum of those since, times {figure['quarters']} and divided by "
                "their number)"
            )
        return said
    return {"quarter_end": "at quarter ends", "any_time": "at any time"}[figure["reported"]]


def year_end(quarter: str) -> str:
    """When a covenant tested at fiscal year ends only is tested (`quarter`: "Q4")."""
    return f"at each fiscal year's end only, the quarter named {quarter}"


def step_up_short(short: dict[str, Any] | None) -> str:
    """A facility's first coming step its latest figures fall short of, for the portfolio
    view: "6.18 from 1998-06-30: $4,000,000 short" (a maximum's: "... over")."""
    if short is None:
        return ""
    needed = amount(short["unit"], short["improvement_needed"])
    side = "over" if short["breach_when"] == "above" else "short"
    return f"{short['covenant']} from {short['takes_effect']}: {needed} {side}"


def open_defaults(count: int, of_default: int) -> str:
    """A facility's open defaults for the portfolio view, those that are events of default
    said where there are any: "2 (1 event of default)", "1", "0"."""
    if not of_default:
        return str(count)
    return f"{count} ({of_default} event{'s' if of_default != 1 else ''} of default)"


def limit(covenant: dict[str, Any]) -> str:
    """What a covenant's threshold is: "maximum", "minimum", or "limit" before its first test
    says which."""
    return {"above": "maximum", "below": "minimum"}.get(covenant["breach_when"], "limit")


def adjusted(base: str, plus: str | None) -> str:
    """A limit with what its clause adds to it, as arithmetic: "minimum + net_securities_proceeds",
    and for an expression that subtracts, "maximum - term_loan_permanent_reductions - ..." (not
    "+ -term_loan..."); the same sum, since nothing binds looser than + and -."""
    if not plus:
        return base
    plus = " ".join(plus.split())
    if plus.startswith("-"):
        return f"{base} - {plus[1:].lstrip()}"
    return f"{base} + {plus}"


def _moves(up: dict[str, Any]) -> str:
    """ "the minimum rises from $1 to $2" (a maximum's: "the maximum falls ..."), and what is
    added to it."""
    unit = up["unit"]
    moves = "maximum falls" if up["breach_when"] == "above" else "minimum rises"
    plus = ""
    if up["plus"]:
        plus = f" plus {up['plus'].replace('_', ' ')} ({amount(unit, up['plus_value'])} so far)"
    return (
        f"the {moves} from {amount(unit, up['from_minimum'])} to "
        f"{amount(unit, up['to_minimum'])}{plus}"
    )


def step_up_sentence(up: dict[str, Any]) -> str:
    """The step-up warning in words; shared by every format."""
    unit = up["unit"]
    text = f"{up['covenant']} {up['title']}: from {up['takes_effect']} ({up['table_row']}) "
    text += _moves(up) + "."
    latest = up["latest"]
    if latest is None:
        return text + " No test yet to compare with."
    needed = up["improvement_needed"]
    tested = when(latest)
    if needed is None:
        return text + f" The latest test ({tested}) has no value to compare with."
    if needed == "0":
        value = amount(unit, latest["value"])
        return text + f" The latest value, {value} ({tested}), already meets it."
    return (
        text + f" The latest value, {amount(unit, latest['value'])} ({tested}), must improve by "
        f"{amount(unit, needed)} to comply. ({up['source']})"
    )


# What the report's dates ahead are, in the order those of one day are listed, and each in a
# few words (a calendar's title; a step-up's say which way its limit moves).
AHEAD = {
    "grace_ends": "grace runs out: an Event of Default unless cured or waived",
    "notice_deadline": "last day of a notice",
    "maturity": "the Notes mature",
    "interest_payment": "interest payable on the Notes",
    "step_up": "",
    "suspension_ends": "a suspension ends at the latest",
}


def ahead_brief(item: dict[str, Any]) -> str:
    """A date ahead in a few words: "interest payable on the Notes", "the minimum rises"."""
    if item["kind"] == "step_up":
        return "the maximum falls" if item["breach_when"] == "above" else "the minimum rises"
    return AHEAD[item["kind"]]


def ahead_words(item: dict[str, Any]) -> str:
    """What happens on one of the report's dates ahead, in words; shared by every format."""
    kind = item["kind"]
    if kind == "interest_payment":
        return "Interest on the Notes is payable."
    if kind == "maturity":
        return "The Notes mature: their principal and interest fall due."
    if kind == "grace_ends":
        return (
            f"The grace period ({item['grace_days']} days) of the breach of "
            f"{item['breach_date']} runs out: unless it is cured or waived before, it is an "
            "Event of Default from this day."
        )
    if kind == "notice_deadline":
        return f"Last day of the notice to {item['to']}: {item['reason']}."
    if kind == "step_up":
        latest, needed = item["latest"], item["improvement_needed"]
        moves = _moves(item)
        text = moves[0].upper() + moves[1:]
        if latest is None:
            return text + ": no test yet to compare with."
        if needed is None:
            return f"{text}: the latest test ({when(latest)}) has no value to compare with."
        value = f"the latest value, {amount(item['unit'], latest['value'])} ({when(latest)}),"
        if needed == "0":
            return f"{text}: {value} already meets it."
        side = "over it" if item["breach_when"] == "above" else "short of it"
        return f"{text}: {value} is {side} by {amount(item['unit'], needed)}."
    until = " and ".join(x.replace("_", " ") for x in item["until_earlier_of"])
    return (
        f"The suspension by {item['instrument']} ends at the latest (the earlier of {until}): "
        "the covenant is in full force again after it."
    )


def unpaid_words(date: str, unpaid: dict[str, str], to: str = "") -> str:
    """What a Note's holder (or, `to` " to the Notes' holders", all of them) has not been paid
    on `date`, in words; shared by every format."""
    if not Decimal(unpaid["total"]):
        return f"Nothing due is unpaid{to} on {date}"
    parts = [
        f"{money(unpaid[key], True)} {words}"
        for key, words in (
            ("overdue", "overdue"),
            ("due_that_day", "falling due that day"),
            ("default_rate_interest", "Default Rate interest on what is overdue"),
        )
        if Decimal(unpaid[key])
    ]
    return f"Unpaid{to} on {date}: {money(unpaid['total'], True)} ({', '.join(parts)})"


def blocked_runs(blocked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Payment dates on which capitalization was not allowed, those in a row for the same
    reason under the same clause taken together: the example's 45 monthly dates, from February
    19, 1998 to the maturity, all for the Section 6.18 default of 1997-09-27, are one line, not
    45 alike. Each keeps the sequence numbers of its dates."""
    runs: list[dict[str, Any]] = []
    for b in blocked:
        last = runs[-1] if runs else None
        if last and (last["reason"], last["clause"]) == (b["reason"], b["clause"]):
            last["through"] = b["payment_date"]
            last["seqs"].append(b["seq"])
        else:
            runs.append(
                {
                    "from": b["payment_date"],
                    "through": b["payment_date"],
                    "seqs": [b["seq"]],
                    "reason": b["reason"],
                    "clause": b["clause"],
                }
            )
    return runs


def describe(event: StoredEvent) -> str:
    """One line saying what the event records, without its date, covenant or clause."""
    d = event.details
    kind = event.event
    if kind in ("test", "breach", "revolving_loan_reduction") and "threshold" in d:
        if d.get("threshold") is None:
            return f"reported ({d.get('reported_by')})"
        bound = "maximum" if d.get("breach_when") == "above" else "minimum"
        body = (
            f"{d.get('period')}: {figure(d, 'value')} vs {bound} "
            f"{figure(d, 'threshold')}, headroom {figure(d, 'headroom')}"
        )
        return body + (f" -> {d.get('result')}" if kind == "test" else "")
    if "excess" in d:
        return (
            f"{d.get('period')}: {figure(d, 'value')} vs cap {figure(d, 'threshold')}, "
            f"excess {money(d['excess'])}"
        )
    if kind == "amount_due":
        what = f" ({d['what']})" if d.get("what") else ""
        return f"{money(d['amount'], cents=True)} due {d['due_date']} to {d['holder']}{what}"
    if kind == "notice_required":
        body = f"notice to {d.get('to')} by {d['deadline']}"
        if d.get("given_on"):
            body += f"; given {d['given_on']} ({'on time' if d.get('timely') else 'late'})"
        return body
    if kind == "interest_payment":
        body = (
            f"{d['holder']}: {money(d['interest'], cents=True)} interest for "
            f"{d['period_from']} to {d['period_to_excluding']} ({d['days']} days)"
        )
        if d.get("capitalized_as"):
            body += f"; {money(d['capitalized'], cents=True)} added as {d['capitalized_as']}"
        return body + f"; {money(d['cash'], cents=True)} in cash"
    if kind == "initial_amount_accelerated":
        return (
            f"{d['holder']}: Initial Capitalized Interest Amount {money(d['accelerated'], True)} "
            f"falls due (Revolving Loan Reduction); principal {money(d['principal_after'], True)}"
        )
    if kind == "payment_applied":
        parts = [
            f"{money(a['paid'], True)} to the {a['for']} due {a['due_date']}"
            + (f" ({a['days_late']} days late)" if a.get("days_late") else "")
            for a in d["applied"]
        ]
        body = f"{d['holder']}: {money(d['amount'], True)} received; " + "; ".join(parts)
        if Decimal(d["unapplied"]):
            body += f"; {money(d['unapplied'], True)} not applied (nothing else is due)"
        return body
    if kind == "payment_overdue":
        short, whole = d["unpaid_on_due_date"], d["amount"]
        unpaid = (
            f"({money(whole, True)})"
            if Decimal(short) == Decimal(whole)
            else f"{money(short, True)} of {money(whole, True)}"
        )
        return f"{d['holder']}: the {d['for']} due {d['due_date']} {unpaid} not paid that day"
    if kind == "payment_postponed":
        return (
            f"{d['holder']}: {money(d['installment'], cents=True)} postponed (blockage from "
            f"{d['blockage_from']})"
        )
    if kind == "blockage_settlement":
        return (
            f"{d['holder']}: blockage {d['blockage_from']} to {d['blockage_to_excluding']}, "
            f"{money(d['cash_total'], cents=True)} in cash, "
            f"{money(d['capitalized'], cents=True)} added to principal"
        )
    if kind == "note_position":
        body = (
            f"{d['holder']}: principal {money(d['principal'], cents=True)}, accrued interest "
            f"{money(d['accrued_interest'], cents=True)} since {d['accrued_from']}"
        )
        if d.get("in_blockage_since"):
            body += f"; in a blockage since {d['in_blockage_since']}"
        if d.get("unpaid_total") is None:  # payments not tracked: nothing known unpaid
            return body
        if not Decimal(d["unpaid_total"]):
            return body + "; nothing due is unpaid"
        return body + (
            f"; unpaid {money(d['unpaid_total'], cents=True)}, with Default Rate interest "
            f"{money(d['default_rate_interest_total'], cents=True)}"
        )
    if kind in (
        "waived",
        "suspended",
        "reinstatement_date",
        "covenant_suspended",
        "instrument_effective",
        "waiver_pending",
    ):
        body = f"{d.get('instrument')}"
        return body + (f" ({d['trigger']})" if d.get("trigger") else "")
    if kind == "restatement":
        return restatement(d)
    if kind in ("default", "event_of_default", "grace_period"):
        body = f"breach of {d.get('breach_date')}"
        if d.get("event_of_default_on"):
            body += f"; event of default on {d['event_of_default_on']}"
        return body
    if kind == "covenant_terms":
        rows = len(d.get("schedule") or [])
        test = d.get("test")
        if quarter := d.get("fiscal_year_end"):
            test = f"{test} ({year_end(quarter)})"
        return f"{d.get('title')}: {test}, {rows} schedule row(s) ({d.get('rule_file')})"
    if kind == "agreement_terms":
        return f"{d.get('title')}, dated {d.get('dated')}"
    if kind == "interest_terms":
        rates = ", ".join(f"{r.get('percent')}% from {r.get('from')}" for r in d.get("rates") or [])
        return f"{d.get('title')}: {rates}; maturity {d.get('maturity')}"
    if kind == "not_tested":
        return f"{d.get('period')}: {d.get('reason')}"
    return d.get("message") or d.get("reason") or ""


def restatement(d: dict[str, Any]) -> str:
    """What changed, then what it undid: 'financials period_end 1997-11-29 tangible_net_worth
    -15400000 -> -15300000; withdraws 3 event(s), replaces 1'."""
    said = []
    for change in d.get("changes", []):
        if "column" in change:
            said.append(
                f"{change['table']} {change['row']} {change['column']} "
                f"{change['old']} -> {change['new']}"
            )
        elif "table" in change:
            said.append(f"{change['table']} {change['row']} {change['change']}")
        elif "rules_file" in change:
            said.append(f"rule file {change['rules_file']} {change['change']}")
        elif "facility_file" in change:
            said.append(f"the facility's {change['facility_file']} {change['change']}")
        else:
            said.append(str(change.get("note", "")))
    said = said or [d.get("reason", "")]
    counts = (
        f"withdraws {len(d.get('withdrawn', []))} event(s), replaces {len(d.get('replaced', []))}"
    )
    return "; ".join([*said, counts])


def one_line(event: StoredEvent) -> str:
    """The short form `run` and `log` print, in columns as wide as the example's widest
    covenant ("SPA 5(a)") and kind ("initial_amount_accelerated")."""
    head = f"{event.date}  {event.agreement:<10} {event.covenant or '-':<8} {event.event:<26}"
    clause = event.details.get("clause")
    return f"{head} {describe(event)}" + (f"  [{clause}]" if clause else "")


def no_position(day: str) -> str:
    """Why a report as of an earlier date than any run's says nothing of where a Note stood."""
    return (
        f"Where this Note stood on {day} is not recorded: a run records each Note's position "
        f'on its own as-of date, and none did on or before {day}. "covenant-monitor run '
        f'--as-of {day} --db ANOTHER.db" records it, in a log of its own.'
    )


def tally(by_status: list[dict[str, Any]]) -> str:
    """The portfolio view's count of facilities at each status, thousands separated, with the
    count on the date compared to in brackets where there is one: "3 event of default (1)"."""
    counts = "; ".join(
        f"{s['facilities']:,} {s['label']}"
        + (f" ({s['facilities_before']:,})" if "facilities_before" in s else "")
        for s in by_status
    )
    return f"By status: {counts}." if counts else ""


CHANGES = {"worse": "worse", "better": "better", "new": "first recorded since", "same": "unchanged"}


def change(moved: str) -> str:
    """A facility's change in the portfolio view's table: blank when unchanged, so that the
    changes stand out (Excel, which filters, says "unchanged")."""
    return "" if moved == "same" else CHANGES[moved]


def changes(compared_to: str, counts: dict[str, int]) -> str:
    """How the book's facilities moved since the date compared to, after `tally`."""
    said = ", ".join(f"{counts[c]:,} {words}" for c, words in CHANGES.items() if counts.get(c))
    return (
        f"Since {compared_to} (in brackets, the counts on that day): of "
        f"{sum(counts.values()):,} facilities, {said}."
    )


def followed(
    facilities: int, not_detailed: int, paged: bool = False, compared_to: str | None = None
) -> str:
    """What follows a portfolio view: every facility's sections, or those needing attention
    (or, `compared_to` a date, changed since it); in a `paged` report each has a page of its
    own, which its name links to."""
    if not not_detailed:
        if paged:
            return "Each facility has a page of its own: follow its name."
        return "Each facility's sections follow."
    detailed = facilities - not_detailed
    which = "needing attention" + (f" or changed since {compared_to}" if compared_to else "")
    shown = (
        f"The {detailed:,} {which} have a page each: follow the name"
        if paged
        else f"The sections of the {detailed:,} {which} follow"
    )
    unchanged = f" and unchanged since {compared_to}" if compared_to else ""
    return (
        f"{shown}; the other {not_detailed:,}, compliant with nothing open, unpaid or short of "
        f"a coming step-up{unchanged}, or no longer monitored, are in this table only "
        '("covenant-monitor report --facility NAME" gives one in full, "--detail all" all).'
    )
