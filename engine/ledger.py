"""The ledger of each Note under Section 4.1: interest accrued and paid in cash or capitalized,
the Default Rate during blockage periods, election notices owed, and the prepayment quote.

Amounts are computed here in Decimal, rounded to the cent (half up) once per payment. Whether
interest may be capitalized on a payment date is decided by rules: a fact for the payment date
carries the defaults continuing on it and the Company's election, and the rule that fires is
recorded with the outcome.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import host
from .facts import Blockage, Election, Facts, Note
from .interest import accrue, default_rate_pieces, first_undeclared
from .lifecycle import AuditEvent
from .rules import Agreement, InterestTerms

CENT = Decimal("0.01")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def continuing_defaults(events: list[AuditEvent], day: date) -> list[str]:
    """The Defaults and Events of Default continuing on `day`: every default that had occurred
    by then (the documents give no cure), and every breach by then that a waiver took effect
    only later."""
    found = []
    for e in events:
        if e.event == "default" and e.date <= day:
            found.append(f"Section {e.covenant} default of {e.date}")
        elif e.event == "waived":
            effective = date.fromisoformat(e.details["effective_date"])
            if e.date <= day < effective:
                found.append(
                    f"Section {e.covenant} breach of {e.date}, waived only from {effective}"
                )
    return found


@dataclass
class _Due:
    """A cash amount owed to one holder, and what has been paid against it."""

    due: date
    what: str
    amount: Decimal
    paid: list[tuple[date, Decimal]] = field(default_factory=list)

    @property
    def unpaid(self) -> Decimal:
        return self.amount - sum((part for _, part in self.paid), Decimal(0))

    @property
    def bears_default_rate(self) -> bool:
        # Default Rate interest is not itself compounded at the Default Rate.
        return self.what != DEFAULT_INTEREST


DEFAULT_INTEREST = "Default Rate interest on a late payment"
ACCELERATION = "acceleration (Section 4.2)"  # Section 4.2's amount_due records no `what`
IN_CASH = " in cash"
DEFAULT_RATE_SOURCE = (
    "First Amendment Agreement (1997-08-20), Exhibit A item 1, Section 4.1(a) (Default Rate)"
)
MISSED_NOTE = (
    "the Note Purchase Agreement's events of default (Section 7 of the 1993 agreement) are not "
    "among the documents: whether and when non-payment is an Event of Default is not decided"
)


@dataclass
class _Account:
    """One Note's running position."""

    note: Note
    principal: Decimal
    period_start: date
    accrued_from: date  # interest before this day is already in `pending`
    pending: Decimal = Decimal(0)  # exact interest at the contract rate not yet payable
    pending_floor: Decimal = Decimal(0)  # the same at the minimum cash rate (4.1(b)(ii)(A))
    pieces: list[dict[str, Any]] = field(default_factory=list)
    postponed: list[tuple[date, Decimal]] = field(default_factory=list)
    initial: Decimal | None = None  # the Initial Capitalized Interest Amount, once added
    additional: Decimal = Decimal(0)  # Additional Capitalized Interest Amounts added
    blockage_added: Decimal = Decimal(0)  # amounts added to principal under 4.1(d)(ii)
    accelerated: bool = False
    dues: list[_Due] = field(default_factory=list)


class Ledger:
    def __init__(
        self,
        agreement: Agreement,
        facts: Facts,
        as_of: date,
        lifecycle_events: list[AuditEvent],
    ):
        assert agreement.interest is not None
        self.agreement, self.terms, self.facts, self.as_of = (
            agreement,
            agreement.interest,
            facts,
            as_of,
        )
        # A covenant of another agreement (same borrower) is not a Default under this one.
        own = {c.section for c in agreement.covenants.values() if c.other_agreement is None}
        self.lifecycle = [
            e
            for e in lifecycle_events
            if e.agreement == agreement.id and (e.covenant is None or e.covenant in own)
        ]
        self.events: list[AuditEvent] = []
        self.elections = {e.payment_date: e for e in facts.elections}
        self.decision: tuple[str, str] = ("", "")
        start = self.terms.rates[0].start
        self.accounts = [
            _Account(n, n.existing_outstanding_principal, start, start)
            for n in facts.notes
            if n.existing_outstanding_principal is not None
        ]
        self.blocked_since: date | None = None
        self.matured = False
        # Payments are tracked once the borrower's folder has note_payments (even empty).
        self.tracking = "note_payments" in facts.given

    # -- events ---------------------------------------------------------------------------
    def emit(self, event: str, day: date, discriminator: str = "", **details: Any) -> None:
        details = {"title": self.terms.title, "rule": details.pop("rule", "ledger"), **details}
        self.events.append(
            AuditEvent(event, self.agreement.id, self.terms.section, day, details, discriminator)
        )

    # -- accrual --------------------------------------------------------------------------
    def _accrue(self, account: _Account, until: date) -> None:
        """Contract-rate interest from `accrued_from` to `until`, split where the rate changes."""
        terms = self.terms
        start = account.accrued_from
        cuts = {start, until}
        for rate in terms.rates:
            cuts.add(rate.start)
            if rate.end is not None:
                cuts.add(rate.end + timedelta(days=1))
        for a, b in itertools.pairwise(sorted(d for d in cuts if start <= d <= until)):
            rate = terms.rate_on(a)
            assert rate is not None
            days = terms.day_count.days(a, b)
            scale = account.principal * days / terms.day_count.year_days / 100
            account.pending += scale * rate.percent
            account.pending_floor += scale * terms.additional_cash_percent
            account.pieces.append(
                {
                    "from": a.isoformat(),
                    "to_excluding": b.isoformat(),
                    "principal": str(account.principal),
                    "rate_percent": str(rate.percent),
                    "days": days,
                    "basis": rate.source,
                }
            )
        account.accrued_from = until

    # -- the timeline ---------------------------------------------------------------------
    def run(self) -> list[AuditEvent]:
        missing = [n.holder for n in self.facts.notes if n.existing_outstanding_principal is None]
        if missing:
            self.emit(
                "data_missing",
                self.as_of,
                "existing_outstanding_principal",
                message="notes.csv gives no existing_outstanding_principal for "
                f"{', '.join(missing)}: the ledger of Section 4.1 cannot be kept for them",
            )
        if not self.accounts or self._undeclared_blockage():
            return self.events
        terms = self.terms
        payments = [d for d in self.terms.payment_dates if d <= self.as_of]
        timeline: list[tuple[date, int, str, Any]] = [(d, 3, "payment", None) for d in payments]
        for blockage in self.facts.blockages:
            timeline.append((blockage.start, 1, "blockage_start", blockage))
            if blockage.end is not None:
                timeline.append((blockage.end, 0, "blockage_end", blockage))
        reduction = next(
            (e.date for e in self.lifecycle if e.event == "revolving_loan_reduction"), None
        )
        if reduction is not None:
            timeline.append((reduction, 2, "acceleration", None))
        with RULES.session(self, f"{RULES.name}-{self.agreement.id}") as session:
            for day, _, kind, item in sorted(timeline, key=lambda t: (t[0], t[1])):
                if kind == "payment":
                    self._payment(session, day)
                elif kind == "blockage_start":
                    self._blockage_start(item)
                elif kind == "blockage_end":
                    self._blockage_end(item)
                else:
                    self._acceleration(day)
        if terms.maturity <= self.as_of:
            self.matured = True
            for account in self.accounts:
                self._amount_due(
                    account, terms.maturity, account.principal, terms.maturity_source, "principal"
                )
        else:
            self._upcoming_notice()
        for account in self.accounts:
            if self.tracking:
                self._apply_payments(account)
                self._missed(account)
            self._position(account)
        return self.events

    def _undeclared_blockage(self) -> bool:
        """Whether a blockage runs over a day for which the agreement declares no Default Rate,
        at which Section 4.1(d) accrues its interest: then the ledger cannot be kept, and a
        data_missing event says why."""
        floors = self.agreement.default_rates
        for blockage in self.facts.blockages:
            day = first_undeclared(floors, blockage.start, blockage.end or self.as_of)
            if day is not None:
                declared = f"from {floors[0].start}" if floors else "for no day"
                self.emit(
                    "data_missing",
                    self.as_of,
                    "default_rate",
                    message=f"the blockage from {blockage.start} ({blockage.origin.cited}) runs "
                    f"over {day}, for which the agreement declares no Default Rate (it declares "
                    f"one {declared}): the ledger of Section 4.1 cannot be kept",
                )
                return True
        return False

    def _blockage_start(self, blockage: Blockage) -> None:
        self.blocked_since = blockage.start
        for account in self.accounts:
            self._accrue(account, blockage.start)

    def _blockage_end(self, blockage: Blockage) -> None:
        """Section 4.1(d): cash at 9.50% for the postponement, the rest of the Default Rate
        interest added to principal; postponed installments paid in cash with Default Rate
        interest from their due dates."""
        terms, start, end = self.terms, blockage.start, blockage.end
        assert end is not None
        days = terms.day_count.days(start, end)
        for account in self.accounts:
            pieces = self._default_pieces(start, end)
            at_default_rate = accrue(account.principal, pieces)
            cash = cents(
                account.principal
                * terms.blockage_cash_percent
                * days
                / terms.day_count.year_days
                / 100
            )
            added = max(at_default_rate.interest - cash, Decimal(0))
            postponed = []
            for due, installment in account.postponed:
                late = accrue(installment, self._default_pieces(due, end))
                postponed.append(
                    {
                        "due_date": due.isoformat(),
                        "installment": str(installment),
                        "default_rate_interest": str(late.interest),
                        "days": late.days,
                    }
                )
            cash_total = cash + sum(
                (
                    Decimal(p["installment"]) + Decimal(p["default_rate_interest"])
                    for p in postponed
                ),
                Decimal(0),
            )
            holder = account.note.holder
            self.emit(
                "blockage_settlement",
                end,
                holder,
                holder=holder,
                blockage_from=start.isoformat(),
                blockage_to_excluding=end.isoformat(),
                days=days,
                principal=str(account.principal),
                default_rate_interest=str(at_default_rate.interest),
                cash_interest=str(cash),
                cash_percent=str(terms.blockage_cash_percent),
                capitalized=str(added),
                principal_after=str(account.principal + added),
                postponed=postponed,
                cash_total=str(cash_total),
                rates=_rates(pieces),
                clause=terms.blockage_source,
                source_row=str(blockage.origin),
            )
            self._amount_due(account, end, cash_total, terms.blockage_source, "blockage")
            account.principal += added
            account.blockage_added += added
            account.postponed = []
            account.accrued_from = end
            account.period_start = end
        self.blocked_since = None

    def _acceleration(self, day: date) -> None:
        """Section 4.2: the Initial Capitalized Interest Amount falls due with Default Rate
        interest from August 19, 1997 (computed with the Revolving Loan Reduction); from the
        start of the current period it no longer bears interest at the contract rate."""
        for account in self.accounts:
            if account.initial is not None and not account.accelerated:
                holder = account.note.holder
                self.emit(
                    "initial_amount_accelerated",
                    day,
                    holder,
                    holder=holder,
                    principal=str(account.principal),
                    accelerated=str(account.initial),
                    principal_after=str(account.principal - account.initial),
                    clause="First Amendment Agreement (1997-08-20), Exhibit A item 2, Section 4.2",
                )
                account.principal -= account.initial
                account.accelerated = True
                due = next(
                    e
                    for e in self.lifecycle
                    if e.event == "amount_due" and e.date == day and e.details["holder"] == holder
                )
                account.dues.append(_Due(day, ACCELERATION, Decimal(due.details["amount"])))

    def _payment(self, session: host.RuleSession, day: date) -> None:
        terms = self.terms
        if self.blocked_since is not None:
            for account in self.accounts:
                # Interest before the blockage began; the blockage itself is settled at its end.
                installment = cents(account.pending)
                account.postponed.append((day, installment))
                holder = account.note.holder
                self.emit(
                    "payment_postponed",
                    day,
                    holder,
                    holder=holder,
                    installment=str(installment),
                    blockage_from=self.blocked_since.isoformat(),
                    clause=terms.blockage_source,
                )
                account.pending = account.pending_floor = Decimal(0)
                account.pieces = []
                account.period_start = day
            return
        defaults = continuing_defaults(self.lifecycle, day)
        election = self.elections.get(day)
        if day == terms.initial_capitalization:
            capitalization = "initial"
        elif day >= terms.additional_from:
            capitalization = "additional"
        else:
            capitalization = "none"
        deadline = terms.calendar.business_days_before(day, terms.notice_business_days)
        timely = election is not None and election.notice_date <= deadline
        session.assert_fact(
            {
                "kind": "payment_date",
                "capitalization": capitalization,
                "defaults": len(defaults),
                "elected": int(election is not None),
                "timely": int(timely),
            }
        )
        rule, outcome = self.decision
        if election is not None:
            self._notice(day, deadline, election)
        if outcome == "blocked":
            self.emit(
                "pik_blocked",
                day,
                payment_date=day.isoformat(),
                rule=rule,
                # The earliest is enough to block; naming every one would restate each blocked
                # payment date whenever a later default is corrected.
                continuing_default=defaults[0] if defaults else None,
                reason=(
                    f"a Default or Event of Default is continuing, from the {defaults[0]}"
                    if defaults
                    else f"the election notice was given on {election.notice_date}, after the "
                    f"deadline of {deadline}"
                ),
                clause=terms.initial_source
                if capitalization == "initial"
                else terms.additional_source,
            )
        for account in self.accounts:
            self._pay(account, day, rule, outcome, capitalization)

    def _pay(
        self, account: _Account, day: date, rule: str, outcome: str, capitalization: str
    ) -> None:
        terms = self.terms
        self._accrue(account, day)
        interest = cents(account.pending)
        capitalized, capitalized_as = Decimal(0), None
        if outcome == "capitalize" and capitalization == "initial":
            capitalized, capitalized_as = interest, "Initial Capitalized Interest Amount"
            account.initial = capitalized
        elif outcome == "capitalize":
            capitalized = interest - cents(account.pending_floor)
            capitalized_as = "Additional Capitalized Interest Amount"
            account.additional += capitalized
        cash = interest - capitalized
        holder = account.note.holder
        clause = terms.payment_source
        if capitalized_as == "Initial Capitalized Interest Amount":
            clause = terms.initial_source
        elif capitalized_as:
            clause = terms.additional_source
        details: dict[str, Any] = {
            "holder": holder,
            "period_from": account.period_start.isoformat(),
            "period_to_excluding": day.isoformat(),
            "days": sum(p["days"] for p in account.pieces),
            "day_count": str(terms.day_count),
            "principal": str(account.principal),
            "interest": str(interest),
            "cash": str(cash),
            "capitalized": str(capitalized),
            "capitalized_as": capitalized_as,
            "principal_after": str(account.principal + capitalized),
            "outcome": outcome,
            "decided_by": rule,
            "rates": account.pieces,
            "clause": clause,
            "source_row": str(account.note.origin),
        }
        if capitalized_as == "Initial Capitalized Interest Amount":
            declared = account.note.initial_capitalized_interest_amount
            details["schedule_3_amount"] = str(declared)
            if declared != capitalized:
                details["note"] = (
                    f"notes.csv gives {declared} as this Note's Initial Capitalized Interest "
                    f"Amount; Section 4.1(a) gives {capitalized}"
                )
        if capitalized_as == "Additional Capitalized Interest Amount":
            details["minimum_cash_percent"] = str(terms.additional_cash_percent)
        self.emit("interest_payment", day, holder, **details)
        if cash:
            self._amount_due(account, day, cash, clause, "interest")
        account.principal += capitalized
        account.pending = account.pending_floor = Decimal(0)
        account.pieces = []
        account.period_start = day

    def _amount_due(
        self, account: _Account, day: date, amount: Decimal, clause: str, what: str
    ) -> None:
        holder = account.note.holder
        account.dues.append(_Due(day, what, amount))
        self.emit(
            "amount_due",
            day,
            f"{what}|{holder}",
            holder=holder,
            amount=str(amount),
            principal=str(amount) if what == "principal" else None,
            interest=None if what == "principal" else str(amount),
            due_date=day.isoformat(),
            day_count=str(self.terms.day_count),
            what=what if what == "principal" else what + IN_CASH,
            clause=clause,
        )

    def _apply_payments(self, account: _Account) -> None:
        """Each payment the holder received goes to the oldest amount still unpaid; the part
        of an amount paid after its due date bears the Default Rate until paid (Section
        4.1(a): overdue principal and, as far as the law allows, overdue interest)."""
        holder = account.note.holder
        for payment in sorted(
            (p for p in self.facts.note_payments if p.holder == holder), key=lambda p: p.date
        ):
            left, applied = payment.amount, []
            # The Default Rate interest a late part creates is due at once, so it is paid next.
            while left > 0 and (unpaid := [d for d in account.dues if d.unpaid > 0]):
                due = min(unpaid, key=lambda d: d.due)
                part = min(left, due.unpaid)
                due.paid.append((payment.date, part))
                left -= part
                entry = {"due_date": due.due.isoformat(), "for": due.what, "paid": str(part)}
                if payment.date > due.due and due.bears_default_rate:
                    late = accrue(part, self._default_pieces(due.due, payment.date))
                    entry |= {"days_late": late.days, "default_rate_interest": str(late.interest)}
                    if late.interest > 0:
                        self._amount_due(
                            account,
                            payment.date,
                            late.interest,
                            DEFAULT_RATE_SOURCE,
                            DEFAULT_INTEREST,
                        )
                applied.append(entry)
            self.emit(
                "payment_applied",
                payment.date,
                f"{holder}|{payment.origin.row}",
                holder=holder,
                amount=str(payment.amount),
                applied=applied,
                unapplied=str(left),
                clause=self.terms.payment_source,
                source_row=str(payment.origin),
            )

    def _missed(self, account: _Account) -> None:
        """Each amount not paid in full on its due date, overdue from the next day, whether it
        was paid later or is unpaid still: the part unpaid bears the Default Rate (Section
        4.1(a)). What is paid later is in `payment_applied`, not here: a payment made after a
        run must not read as a correction of this event. The Note Purchase Agreement's events
        of default are not among the documents, so when non-payment becomes one is not decided
        here."""
        holder = account.note.holder
        for due in account.dues:
            if due.due >= self.as_of:
                continue
            short = due.amount - sum((part for day, part in due.paid if day <= due.due), Decimal(0))
            if short <= 0:
                continue
            self.emit(
                "payment_overdue",
                due.due + timedelta(days=1),
                f"{due.what}|{holder}|{due.due.isoformat()}",
                holder=holder,
                due_date=due.due.isoformat(),
                amount=str(due.amount),
                unpaid_on_due_date=str(short),
                clause=DEFAULT_RATE_SOURCE,
                note=MISSED_NOTE,
                **{"for": due.what},
            )

    def _overdue(self, account: _Account) -> list[dict[str, Any]]:
        """What is unpaid after its due date on the as-of date, with Default Rate interest."""
        found = []
        for due in sorted(account.dues, key=lambda d: d.due):
            if due.unpaid <= 0 or due.due >= self.as_of:
                continue
            interest = Decimal(0)
            days = self.terms.day_count.days(due.due, self.as_of)
            if due.bears_default_rate:
                interest = accrue(due.unpaid, self._default_pieces(due.due, self.as_of)).interest
            found.append(
                {
                    "due_date": due.due.isoformat(),
                    "for": due.what,
                    "unpaid": str(due.unpaid),
                    "days": days,
                    "default_rate_interest": str(interest),
                }
            )
        return found

    def _notice(self, payment: date, deadline: date, election: Election | None) -> None:
        terms = self.terms
        details: dict[str, Any] = {
            "deadline": deadline.isoformat(),
            "payment_date": payment.isoformat(),
            "to": "each holder of a Note",
            "reason": (
                f"election to add Additional Capitalized Interest Amounts on {payment}: "
                f"written notice not less than {terms.notice_business_days} Business Days "
                f"before it ({terms.calendar} calendar)"
            ),
            "holidays": _holidays_between(terms, deadline, payment),
            "clause": terms.notice_source,
        }
        if election is not None:
            details["given_on"] = election.notice_date.isoformat()
            details["timely"] = election.notice_date <= deadline
            details["source_row"] = str(election.origin)
        else:
            details["reason"] = "if the Company elects to capitalize: " + details["reason"]
        # Dated from the start of the period the election is for, so that it is in the log (and
        # the report) from the day it can be made; the deadline is in the details.
        previous = max((d for d in terms.payment_dates if d < payment), default=payment)
        self.emit("notice_required", previous, payment.isoformat(), **details)

    def _upcoming_notice(self) -> None:
        """The next payment date's election deadline, while capitalization is open."""
        terms = self.terms
        upcoming = next((d for d in terms.payment_dates if d > self.as_of), None)
        if upcoming is None or upcoming < terms.additional_from or self.blocked_since:
            return
        election = self.elections.get(upcoming)
        deadline = terms.calendar.business_days_before(upcoming, terms.notice_business_days)
        if election is None and (
            deadline < self.as_of or continuing_defaults(self.lifecycle, self.as_of)
        ):
            return
        self._notice(upcoming, deadline, election)

    def _position(self, account: _Account) -> None:
        """Where the Note stands on the as-of date, with the Section 4.1(e) quote."""
        terms = self.terms
        if self.blocked_since is None and not self.matured:
            self._accrue(account, self.as_of)
        holder = account.note.holder
        details: dict[str, Any] = {
            "holder": holder,
            "principal": str(account.principal),
            "existing_outstanding_principal": str(account.note.existing_outstanding_principal),
            "initial_capitalized": str(account.initial) if account.initial is not None else None,
            "initial_accelerated": account.accelerated,
            "additional_capitalized": str(account.additional),
            "blockage_capitalized": str(account.blockage_added),
            "accrued_interest": str(cents(account.pending)),
            "accrued_from": account.period_start.isoformat(),
            "in_blockage_since": self.blocked_since.isoformat() if self.blocked_since else None,
            "clause": terms.payment_source,
            "source_row": str(account.note.origin),
        }
        if self.blocked_since is not None:
            pieces = self._default_pieces(self.blocked_since, self.as_of)
            details["blockage_default_rate_interest"] = str(
                accrue(account.principal, pieces).interest
            )
        overdue = self._overdue(account) if self.tracking else None
        if overdue is not None:
            details["overdue"] = overdue
            details["unpaid_total"] = str(
                sum((d.unpaid for d in account.dues if d.due <= self.as_of), Decimal(0))
            )
            details["default_rate_interest_total"] = str(
                sum((Decimal(o["default_rate_interest"]) for o in overdue), Decimal(0))
            )
        else:
            details["payments"] = "not tracked: the folder has no note_payments table"
        if self.as_of <= terms.prepayment_through:
            details["prepayment"] = self._quote(account, details)
        self.emit("note_position", self.as_of, holder, **details)

    def _quote(self, account: _Account, position: dict[str, Any]) -> dict[str, Any]:
        """Section 4.1(e): the Base Principal Amount with interest at 9.50% accrued since the
        last payment, in full satisfaction; capitalized amounts beyond it are forgiven."""
        terms = self.terms
        base = account.note.existing_outstanding_principal
        if account.initial is not None and not account.accelerated:
            base += account.initial
        days = terms.day_count.days(account.period_start, self.as_of)
        interest = cents(
            base * terms.prepayment_rate_percent * days / terms.day_count.year_days / 100
        )
        # "All other amounts due and payable": what is unpaid, with Default Rate interest.
        other = Decimal(position.get("unpaid_total", 0)) + Decimal(
            position.get("default_rate_interest_total", 0)
        )
        quote = {
            "on": self.as_of.isoformat(),
            "base_principal_amount": str(base),
            "interest_from": account.period_start.isoformat(),
            "days": days,
            "rate_percent": str(terms.prepayment_rate_percent),
            "interest": str(interest),
            "other_amounts_due": str(other),
            "amount": str(base + interest + other),
            "forgiven": str(account.additional + account.blockage_added),
            "available_through": terms.prepayment_through.isoformat(),
            "clause": terms.prepayment_source,
        }
        if not self.tracking:
            quote["assumes"] = (
                "every amount due before this date was paid (payments are not tracked)"
            )
        return quote

    def _default_pieces(self, start: date, end: date):
        return default_rate_pieces(
            self.agreement.default_rates,
            self.facts.prime_rates,
            start,
            end,
            self.agreement.highest_lawful_rate,
        )


def _decides(outcome: str) -> Callable[[Ledger, host.Firing], None]:
    """The action of a rule that decides how a payment date is paid."""

    def action(ledger: Ledger, firing: host.Firing) -> None:
        ledger.decision = (firing.rule, outcome)

    return action


_KIND = host.equals("kind", "payment_date")
_MAY_CAPITALIZE = host.any_of(
    host.equals("capitalization", "initial"), host.equals("capitalization", "additional")
)
_ADDITIONAL = host.equals("capitalization", "additional")
_CLEAR = host.equals("defaults", 0)

# The rules, declared once for every ledger.
RULES: host.RuleSet[Ledger] = host.RuleSet(
    "interest-payment",
    {
        "capitalize_initial": host.Rule(
            host.all_of(_KIND, host.equals("capitalization", "initial"), _CLEAR),
            _decides("capitalize"),
        ),
        "capitalize_additional": host.Rule(
            host.all_of(
                _KIND, _ADDITIONAL, _CLEAR, host.equals("elected", 1), host.equals("timely", 1)
            ),
            _decides("capitalize"),
        ),
        "pik_blocked_by_default": host.Rule(
            host.all_of(_KIND, _MAY_CAPITALIZE, host.greater("defaults", 0)),
            _decides("blocked"),
        ),
        "pik_blocked_by_late_notice": host.Rule(
            host.all_of(
                _KIND, _ADDITIONAL, _CLEAR, host.equals("elected", 1), host.equals("timely", 0)
            ),
            _decides("blocked"),
        ),
        "cash_no_election": host.Rule(
            host.all_of(_KIND, _ADDITIONAL, _CLEAR, host.equals("elected", 0)),
            _decides("cash"),
        ),
        "cash_payment_date": host.Rule(
            host.all_of(_KIND, host.equals("capitalization", "none")),
            _decides("cash"),
        ),
    },
)


def _rates(pieces) -> list[dict[str, Any]]:
    return [
        {
            "from": p.start.isoformat(),
            "to_excluding": p.end.isoformat(),
            "rate_percent": str(p.rate_percent),
            "days": p.days,
            "basis": p.basis,
        }
        for p in pieces
    ]


def _holidays_between(terms: InterestTerms, start: date, end: date) -> list[str]:
    """Holidays that moved a deadline, named so a reader can check it."""
    found, day = [], start
    while day < end:
        if name := terms.calendar.holiday(day):
            found.append(f"{day} {name}")
        day += timedelta(days=1)
    return found


def keep_ledger(
    agreement: Agreement, facts: Facts, as_of: date, lifecycle_events: list[AuditEvent]
) -> list[AuditEvent]:
    if agreement.interest is None:
        return []
    return Ledger(agreement, facts, as_of, lifecycle_events).run()
