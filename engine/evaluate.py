"""Compute every covenant test: the metric, the threshold in force, the headroom.

Arithmetic is done here, in Decimal, before anything reaches the rule engine: durable-rules
cannot divide and dies on a division by zero, and routing arithmetic through it would cost two
orders of magnitude (see DESIGN.md). What it receives is one fact per test carrying its result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .facts import Facts, Origin
from .rules import Agreement, Covenant, TestKind, Threshold
from .values import FiscalQuarter


@dataclass(frozen=True)
class TestResult:
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

    @property
    def headroom(self) -> Decimal | None:
        return None if self.value is None else self.value - self.threshold

    @property
    def headroom_percent(self) -> Decimal | None:
        """Headroom as a share of the threshold's size, for a reviewer's sense of distance."""
        if self.headroom is None or self.threshold == 0:
            return None
        return (self.headroom / abs(self.threshold) * 100).quantize(Decimal("0.01"))

    @property
    def passed(self) -> bool:
        # "less than" breaches; equality complies.
        return self.value is None or self.value >= self.threshold


@dataclass(frozen=True)
class NotTested:
    """A reported date the covenant's table does not reach: said, never silently passed."""

    covenant: Covenant
    date: date
    period: str
    reason: str
    origin: Origin


@dataclass(frozen=True)
class Evaluation:
    tests: tuple[TestResult, ...]
    not_tested: tuple[NotTested, ...]


def evaluate(agreement: Agreement, facts: Facts) -> Evaluation:
    tests: list[TestResult] = []
    not_tested: list[NotTested] = []
    for covenant in agreement.covenants.values():
        for item in _test_covenant(covenant, facts):
            (tests if isinstance(item, TestResult) else not_tested).append(item)
    tests.sort(key=lambda t: (t.date, t.covenant.section))
    not_tested.sort(key=lambda t: (t.date, t.covenant.section))
    return Evaluation(tuple(tests), tuple(not_tested))


def _test_covenant(covenant: Covenant, facts: Facts) -> Iterator[TestResult | NotTested]:
    if covenant.test is TestKind.FISCAL_QUARTER_END:
        for row in facts.financials:
            if row.fiscal_quarter is not None:
                yield _test(
                    covenant,
                    row.period_end,
                    row.fiscal_quarter,
                    row.amounts,
                    row.origin,
                    _nsp_note(row),
                )
    elif covenant.test is TestKind.ANY_TIME:
        for row in facts.financials:
            yield _test(
                covenant, row.period_end, row.period_end, row.amounts, row.origin, _nsp_note(row)
            )
    elif covenant.test is TestKind.EACH_REPORTED_DATE:
        for row in facts.revolver:
            yield _test(covenant, row.date, row.date, row.amounts, row.origin, None)


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
) -> TestResult | NotTested:
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
    names = covenant.metric.names | (covenant.plus.names if covenant.plus else frozenset())
    missing = sorted(names - amounts.keys())
    if missing:
        # Blank inputs make the test impossible: said in the log, never passed in silence.
        return NotTested(
            covenant, day, period, f"{', '.join(missing)} not reported ({origin.cited})", origin
        )
    inputs = {name: amounts[name] for name in sorted(names)}
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
