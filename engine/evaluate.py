"""Compute every covenant test: the metric, the threshold in force, the headroom.

Arithmetic is done here, in Decimal, before anything reaches the rule engine: durable-rules
cannot divide and dies on a division by zero, and routing arithmetic through it would cost two
orders of magnitude (see DESIGN.md). What it receives is one fact per test carrying its result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from .facts import Facts, Origin
from .rules import Agreement, Covenant, TestKind, Threshold
from .values import FiscalQuarter, later

_HUNDRED, _CENT = Decimal(100), Decimal("0.01")


@dataclass
class TestResult:
    """One covenant tested on one date. Not frozen, though nothing changes one once made: a
    portfolio makes millions, and a frozen dataclass's __init__ (a setattr call for each field)
    cost six times as much."""

    covenant: Covenant
    date: date
    period: str  # the fiscal quarter for quarter-end tests, else the date itself
    inputs: dict[str, Decimal]
    value: Decimal | None  # None: a zero denominator the rule file says complies
    threshold: Decimal  # the row's minimum plus any adjustment (6.21's Net Securities Proceeds)
    row: Threshold
    origin: Origin
    plus_value: Decimal | None = None
    note: str | None = None
    # How far inside the limit: positive complies, negative breaches, zero is equality (None:
    # no value). Worked out with the test, since every test is asked whether it passed, and
    # every test recorded says its headroom as a share of the threshold's size, for a
    # reviewer's sense of distance (None: no value, or a zero threshold).
    headroom: Decimal | None = field(init=False)
    passed: bool = field(init=False)  # "less than" (or "more than") breaches; equality complies
    headroom_percent: Decimal | None = field(init=False)

    def __post_init__(self) -> None:
        value, threshold = self.value, self.threshold
        if value is None:
            self.headroom, self.passed, self.headroom_percent = None, True, None
            return
        if self.covenant.breach_when == "above":
            self.headroom = headroom = threshold - value
        else:
            self.headroom = headroom = value - threshold
        self.passed = headroom >= 0
        # Times 100 before dividing, not after: the same digits (a power of ten scales the
        # quotient exactly), in one operation fewer.
        self.headroom_percent = (
            (headroom * _HUNDRED / abs(threshold)).quantize(_CENT) if threshold else None
        )


@dataclass(frozen=True)
class NotTested:
    """A reported date the covenant's table does not reach: said, never silently passed."""

    covenant: Covenant
    date: date
    period: str
    reason: str
    origin: Origin
    until: date | None = None  # a later as-of date from which it is tested (a deadline)


@dataclass(frozen=True)
class Evaluation:
    tests: tuple[TestResult, ...]
    not_tested: tuple[NotTested, ...]


def evaluate(agreement: Agreement, facts: Facts, as_of: date | None = None) -> Evaluation:
    """`as_of` dates what is still pending (a delivery or a replenishment not yet late)."""
    return _evaluation(_covenant_items(c, facts, as_of) for c in agreement.covenants.values())


# Covenants tested on each row of a table (financials, revolver, wells_fargo): rows appended to
# those tables are tested alone (`row_tests`).
ROW_BY_ROW = (TestKind.FISCAL_QUARTER_END, TestKind.ANY_TIME, TestKind.EACH_REPORTED_DATE)


def row_tests(agreement: Agreement, facts: Facts) -> Evaluation:
    """`evaluate` of the covenants tested row by row alone: what rows appended to their tables
    give (`facts` holding those rows only)."""
    covenants = agreement.covenants.values()
    return _evaluation(_test_covenant(c, facts) for c in covenants if c.test in ROW_BY_ROW)


def _covenant_items(
    covenant: Covenant, facts: Facts, as_of: date | None
) -> Iterable[TestResult | NotTested]:
    if covenant.test is TestKind.MAINTAINED_BALANCE:
        return _maintained(covenant, facts, as_of)
    if covenant.test is TestKind.DELIVERED_WITHIN_DAYS:
        return _deliveries(covenant, facts, as_of)
    return _test_covenant(covenant, facts)


def _evaluation(found: Iterable[Iterable[TestResult | NotTested]]) -> Evaluation:
    """Each covenant's tests and dates not tested, in date order."""
    tests: list[TestResult] = []
    not_tested: list[NotTested] = []
    for items in found:
        for item in items:
            (tests if isinstance(item, TestResult) else not_tested).append(item)
    tests.sort(key=lambda t: (t.date, t.covenant.section))
    not_tested.sort(key=lambda t: (t.date, t.covenant.section))
    return Evaluation(tuple(tests), tuple(not_tested))


def _test_covenant(covenant: Covenant, facts: Facts) -> Iterator[TestResult | NotTested]:
    if covenant.test is TestKind.FISCAL_QUARTER_END:
        year_end = covenant.fiscal_year_end
        for row in facts.financials:
            quarter = row.fiscal_quarter
            if quarter is not None and (year_end is None or quarter.quarter == year_end):
                yield _test(
                    covenant,
                    row.period_end,
                    quarter,
                    row.amounts,
                    row.origin,
                    _nsp_note(row),
                    row.sums,
                )
    elif covenant.test is TestKind.ANY_TIME:
        for row in facts.financials:
            yield _test(
                covenant,
                row.period_end,
                row.period_end,
                row.amounts,
                row.origin,
                _nsp_note(row),
                row.sums,
            )
    elif covenant.test is TestKind.EACH_REPORTED_DATE:
        for row in facts.wells_fargo if covenant.table == "wells_fargo" else facts.revolver:
            yield _test(covenant, row.date, row.date, row.amounts, row.origin, None)


def _maintained(covenant: Covenant, facts: Facts, as_of: date | None):
    """First Amendment Section 5.2 style: funded by the schedule's first date, then kept at
    the minimum; a shortfall breaches only if not made good within the restoration period."""
    rows = facts.counsel_reserve
    first = covenant.schedule[0]
    assert isinstance(first.start, date) and covenant.calendar is not None

    def balance_on(day: date) -> tuple[Decimal, Origin | None]:
        last = next((r for r in reversed(rows) if r.date <= day), None)
        return (last.balance, last.origin) if last else (Decimal(0), None)

    def check(day: date, period: str, note: str) -> TestResult | NotTested:
        balance, origin = balance_on(day)
        origin = origin or Origin("counsel_reserve.csv", 0)
        row = covenant.threshold_for(day)
        assert row is not None
        inputs = {"balance": balance}
        return TestResult(
            covenant, day, period, inputs, balance, row.minimum, row, origin, None, note
        )

    due = first.start
    if as_of is not None and as_of < due:
        return
    if "counsel_reserve" not in facts.given:
        yield NotTested(
            covenant, due, f"funded by {due}", "counsel_reserve.csv is not given", Origin("", 0)
        )
        return
    yield check(due, f"funded by {due}", f"the reserve must be paid by {due}")
    for row in rows:
        if row.date <= due or row.balance >= first.minimum:
            continue
        deadline = covenant.calendar.business_days_after(row.date, covenant.restore_business_days)
        period = f"short from {row.date}"
        fell = f"the balance fell to {row.balance} on {row.date} ({row.origin.cited})"
        if deadline is None:
            yield NotTested(
                covenant,
                row.date,
                period,
                f"{fell}; its {covenant.restore_business_days} Business Days to restore "
                f"{first.minimum - row.balance} end after {date.max}, the last date there is",
                row.origin,
            )
            continue
        if as_of is not None and deadline > as_of and balance_on(as_of)[0] < first.minimum:
            yield NotTested(
                covenant,
                row.date,
                period,
                f"{fell}; {first.minimum - row.balance} must be restored by {deadline} "
                f"({covenant.restore_business_days} Business Days)",
                row.origin,
            )
            continue
        yield check(
            deadline,
            period,
            f"{fell}; tested {covenant.restore_business_days} Business Days later, on {deadline}",
        )


def _deliveries(covenant: Covenant, facts: Facts, as_of: date | None):
    """Stock Purchase Agreement Section 5(a) style: days from filing to delivery, against a
    maximum; a document not delivered is late from the day after the last day allowed."""
    for filing in facts.filings:
        row = covenant.threshold_for(filing.filed)
        if row is None:
            continue
        allowed = int(row.minimum)
        # None: the last day allowed is past the last date there is, and so after any delivery
        last_day = later(filing.filed, timedelta(days=allowed))
        if filing.delivered is not None:
            days = (filing.delivered - filing.filed).days
            day, note = (filing.delivered, f"delivered {filing.delivered}")
            if last_day is not None and days > allowed:
                day = last_day + timedelta(days=1)
        elif as_of is not None and last_day is not None and as_of > last_day:
            days, day = allowed + 1, last_day + timedelta(days=1)
            note = f"not delivered by {last_day}"
        else:
            due = (
                f"by {last_day}"
                if last_day is not None
                else f"{allowed} days later, after {date.max}"
            )
            yield NotTested(
                covenant,
                filing.filed,
                filing.document,
                f"filed {filing.filed}; copies due {due}",
                filing.origin,
                None if last_day is None else later(last_day, timedelta(days=1)),
            )
            continue
        yield TestResult(
            covenant,
            day,
            filing.document,
            {"days_from_filing": Decimal(days)},
            Decimal(days),
            row.minimum,
            row,
            filing.origin,
            None,
            f"filed {filing.filed}; {note}",
        )


def _nsp_note(row) -> str | None:
    if row.nsp_carried_from is None:
        return None
    return f"net_securities_proceeds carried from {row.nsp_carried_from}"


def _test(
    covenant: Covenant,
    day: date,
    key: date | FiscalQuarter,
    amounts: dict[str, Decimal],
    origin: Origin,
    note: str | None,
    sums: dict[str, str] | None = None,
) -> TestResult | NotTested:
    """`sums`: what the row's sums over quarters add up, or why they could not be made."""
    assert covenant.metric is not None
    period = str(key)
    row = covenant.threshold_for(key)
    if row is None:
        first = covenant.schedule[0]
        return NotTested(
            covenant,
            day,
            period,
            f"the table has no row for {period}; its rows begin with {first.table_row!r}",
            origin,
        )
    names = covenant.input_names
    try:
        inputs = {name: amounts[name] for name in names}
    except KeyError:
        # Blank inputs make the test impossible: said in the log, never passed in silence.
        missing = [name for name in names if name not in amounts]
        unmade = [sums[name] for name in missing if sums and name in sums]
        blank = ", ".join(name for name in missing if not sums or name not in sums)
        why = "; ".join(([f"{blank} not reported"] if blank else []) + unmade)
        return NotTested(covenant, day, period, f"{why} ({origin.cited})", origin)
    if sums and (made := [sums[name] for name in names if name in sums]):
        note = "; ".join([note, *made] if note else made)
    plus_value = covenant.plus.evaluate(inputs) if covenant.plus else None
    threshold = row.minimum + (plus_value or 0)
    try:
        value: Decimal | None = covenant.metric.evaluate(inputs)
    except ZeroDivisionError:
        # The loader admits only "comply" here; without it the test cannot be made.
        if covenant.on_zero_denominator != "comply":
            return NotTested(covenant, day, period, "the metric's denominator is zero", origin)
        value, note = None, covenant.zero_denominator_note or "denominator is zero: complies"
    return TestResult(
        covenant, day, period, inputs, value, threshold, row, origin, plus_value, note
    )
