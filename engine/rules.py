"""Load an agreement's rule files (TOML) strictly into typed declarations.

Each file in `rules/<agreement>/` holds one top-level table: `[agreement]`, `[covenant]`,
`[instrument]` or `[interest]` (the Notes' interest terms). Unknown keys, wrong types, bad
amounts and overlapping schedule rows are all collected and raised together as one InputError
naming each file and key.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import tomli
from dateutil.relativedelta import relativedelta

from .cached import ByIdentity
from .conventions import Calendar, DayCount
from .errors import InputError, Problem
from .expr import Expr, parse_expr
from .schema import FINANCIALS, METRIC_TABLES, Column, Kind, Table, financials_for
from .snapshot import Snapshot, folder_files
from .values import FiscalQuarter, parse_decimal


class TestKind(StrEnum):
    """When a covenant is tested."""

    FISCAL_QUARTER_END = "fiscal_quarter_end"  # as of the last day of each fiscal quarter
    ANY_TIME = "any_time"  # on every balance-sheet date reported, interim ones included
    EACH_REPORTED_DATE = "each_reported_date"  # on every date the controller reports
    REPORTED = "reported"  # terms not in the documents: breaches come as reported facts
    # A balance kept at a minimum from a due date; after an amount is applied, restored within
    # a number of Business Days (counsel_reserve.csv).
    MAINTAINED_BALANCE = "maintained_balance"
    # Each document delivered within a number of days of its filing (filings.csv).
    DELIVERED_WITHIN_DAYS = "delivered_within_days"


class Consequence(StrEnum):
    """What a failed test leads to."""

    DEFAULT = "default"  # a breach, then a Default, then an Event of Default after grace
    ACCELERATION = "acceleration"  # its first occurrence makes an amount due (Section 4.2)
    FLAG = "flag"  # no default: the excess is flagged (Section 9.1's Senior Debt cap)


# A schedule row is keyed by fiscal quarter for quarter-end tests and by date otherwise.
Key = date | FiscalQuarter


@dataclass(frozen=True)
class Threshold:
    """One row of a covenant's table: the minimum in force from `start` through `end`."""

    start: Key
    end: Key | None  # None: "and thereafter"
    minimum: Decimal
    table_row: str
    source: str
    note: str | None = None

    def covers(self, key: Key) -> bool:
        return self.start <= key and (self.end is None or key <= self.end)


@dataclass(frozen=True)
class Acceleration:
    amount_field: str
    interest_from: date
    rate: str
    day_count: str
    source: str
    note: str | None


@dataclass(frozen=True)
class Covenant:
    section: str
    title: str
    text: str
    test: TestKind
    consequence: Consequence
    file: str
    metric: Expr | None = None
    table: str | None = None  # the facts table the metric reads
    plus: Expr | None = None  # added to every row's minimum (6.21's Net Securities Proceeds)
    plus_source: str | None = None
    on_zero_denominator: str | None = None
    zero_denominator_note: str | None = None
    grace_days: int = 0
    grace_note: str | None = None
    schedule: tuple[Threshold, ...] = ()
    acceleration: Acceleration | None = None
    amended_by: str | None = None
    note: str | None = None
    breach_when: str = "below"  # "below": less than the limit breaches; "above": more than
    restore_business_days: int = 0  # MAINTAINED_BALANCE: how long a shortfall may last
    calendar: Calendar | None = None
    restore_note: str | None = None
    other_agreement: str | None = None  # the covenant is another agreement's, same borrower
    flag: str | None = None  # Consequence.FLAG: the event a failed test records
    # FISCAL_QUARTER_END: tested at each fiscal year's end only, the quarter of that number
    # (4 for a year ending December 31, 2 for one ending June 30); None: every quarter's end
    fiscal_year_end: int | None = None

    def threshold_for(self, key: Key) -> Threshold | None:
        schedule = self.schedule
        found = _in_force.made.get((id(schedule), key))  # asked once for each test: inlined
        return found[1] if found is not None else _in_force(schedule, key)

    @cached_property
    def input_names(self) -> tuple[str, ...]:
        """The facts its metric and any plus read, in order."""
        names = self.metric.names if self.metric else frozenset()
        return tuple(sorted(names | (self.plus.names if self.plus else frozenset())))

    @cached_property
    def made(self) -> dict[Hashable, Any]:
        """What is worked out once for this covenant and kept with it (the texts of its tests'
        shapes, `lifecycle._texts_of`): a package's covenants are kept for the whole run, a
        facility's own (overridden) ones until the facility is evaluated."""
        return {}


# The row of each schedule in force at each key asked about, by the schedule's identity: every
# facility of a package asks its covenants for the same quarters, forty times a facility.
# Kept here, bounded, not in each covenant: a facility's own (overridden) covenants are asked
# once for each key.
_in_force: ByIdentity[tuple[Threshold, ...], Threshold | None] = ByIdentity(
    lambda schedule, key: next((row for row in schedule if row.covers(key)), None), most=1 << 14
)


@dataclass(frozen=True)
class Waiver:
    covenants: tuple[str, ...]
    source: str  # waives breaches dated before the instrument's effective date


@dataclass(frozen=True)
class Suspension:
    """Covenants suspended from the effective date through the earlier of an event and a date."""

    covenants: tuple[str, ...]
    until_event: str
    until_latest: date
    source: str
    note: str | None


@dataclass(frozen=True)
class Instrument:
    id: str
    title: str
    dated: date
    document: str
    effective: date
    text: str
    file: str
    conditions_precedent: str | None = None  # effective only if facts record them satisfied
    amends: tuple[str, ...] = ()
    waiver: Waiver | None = None
    suspension: Suspension | None = None


@dataclass(frozen=True)
class RateFloor:
    start: date
    end: date | None
    floor_percent: Decimal
    source: str
    note: str | None


@dataclass(frozen=True)
class Cited:
    """A value with the clause it comes from (or the reason the documents do not give it)."""

    value: Decimal
    source: str


class Reported(StrEnum):
    """When the controller reports a figure an agreement declares."""

    QUARTER_END = "quarter_end"  # on quarter-end rows only: a row holding it is one
    ANY_TIME = "any_time"  # on interim balance sheets too


@dataclass(frozen=True)
class Figure:
    """A financial figure an agreement's covenants read beyond the built-in columns of
    financials.csv (Consolidated EBITDA, Total Funded Debt, ...), as the agreement defines it:
    a column of its own, or the sum of a quarter-end column over consecutive fiscal quarters
    (EBITDA "for the four fiscal quarters then ended") or its average at their ends (Total Debt
    "averaged over the last day of each of the four fiscal quarters then ended"), which the
    monitor works out."""

    name: str
    title: str
    reported: Reported | None  # None: a sum, on quarter-end rows
    non_negative: bool
    source: str  # the clause that defines it
    note: str | None = None
    sum_of: str | None = None  # the quarter-end column summed (then divided, for an average)
    quarters: int = 0  # how many fiscal quarters, ending with the one tested
    average: bool = False  # the sum divided by `quarters`
    # The first fiscal quarter a sum (not an average) counts (a borrower's first after its
    # closing): until `quarters` have passed, the sum of those since, times quarters / their
    # number.
    annualized_from: FiscalQuarter | None = None
    annualized_source: str | None = None  # its clause, when a facility's own: not `source`

    @property
    def column(self) -> Column:
        """Its column of financials.csv (a reported figure's)."""
        quarter_end = self.reported is Reported.QUARTER_END
        return Column(
            self.name,
            Kind.AMOUNT,
            non_negative=self.non_negative,
            quarter_end=quarter_end,
            interim=not quarter_end,
        )


@dataclass(frozen=True)
class RatePeriod:
    start: date
    end: date | None
    percent: Decimal
    source: str


@dataclass(frozen=True)
class InterestTerms:
    """Section 4.1: the rate, the payment dates, capitalized interest, blockage and prepayment."""

    section: str
    title: str
    text: str
    file: str
    day_count: DayCount
    calendar: Calendar
    calendar_note: str
    maturity: date
    maturity_source: str
    rates: tuple[RatePeriod, ...]
    semi_annual: tuple[date, ...]
    monthly_from: date
    payment_source: str
    initial_capitalization: date
    initial_source: str
    additional_from: date
    additional_cash_percent: Decimal
    notice_business_days: int
    additional_source: str
    notice_source: str
    blockage_cash_percent: Decimal
    blockage_source: str
    prepayment_through: date
    prepayment_rate_percent: Decimal
    prepayment_source: str
    note: str | None = None

    def rate_on(self, day: date) -> RatePeriod | None:
        return next(
            (r for r in self.rates if r.start <= day and (r.end is None or day <= r.end)), None
        )

    @cached_property
    def payment_dates(self) -> tuple[date, ...]:
        """Computed once: the loader checks every election against them and the ledger walks
        them several times."""
        return payment_dates(self.semi_annual, self.monthly_from, self.maturity)


@cache
def payment_dates(
    semi_annual: tuple[date, ...], monthly_from: date, maturity: date
) -> tuple[date, ...]:
    """Every interest payment date through maturity: the semi-annual dates, then the monthly
    date on the day of the month `monthly_from` falls on. The report works them out again
    from the terms the log recorded, for each facility of a book on the same terms: kept,
    as they take some 0.4 ms to work out."""
    dates = set(semi_annual)
    months = 0
    while (day := monthly_from + relativedelta(months=months)) <= maturity:
        dates.add(day)
        months += 1
    return tuple(sorted(dates))


@dataclass(frozen=True)
class Ending:
    """The day a facility's monitoring ends (repaid, refinanced, sold) and why, as its
    facility.toml says: it is evaluated as of that day at the latest."""

    day: date
    reason: str


@dataclass(frozen=True)
class Agreement:
    id: str
    title: str
    dated: date
    borrower: str
    lenders: tuple[str, ...]
    text: str
    default_rates: tuple[RateFloor, ...]
    covenants: dict[str, Covenant]
    instruments: dict[str, Instrument]
    folder: str
    facts: str  # the borrower's folder under facts/ (by default the agreement's id)
    highest_lawful_rate: Cited | None = None  # limb (A) of the Default Rate, when configured
    interest: InterestTerms | None = None
    figures: tuple[Figure, ...] = ()
    # A facility following this agreement as a shared covenant package (see portfolio.py):
    # the package's id, the facility's own name, and the end of its monitoring if it ended.
    package: str | None = None
    facility_name: str | None = None
    ended: Ending | None = None
    # Its folder as read, the rule files parsed from these bytes: what a run records.
    snapshot: Snapshot | None = field(default=None, compare=False, repr=False)

    @cached_property
    def financials(self) -> Table:
        """financials.csv's columns for this agreement: the built-in ones and its reported
        figures, those its covenants read (or sum) required; the same table for every facility
        of a package."""
        summed = {f.name: f.sum_of for f in self.sums}
        read = frozenset(
            summed.get(name, name)
            for c in self.covenants.values()
            if c.table == "financials"
            for name in c.input_names
        )
        return financials_for(tuple(f.column for f in self.figures if f.sum_of is None), read)

    @cached_property
    def sums(self) -> tuple[Figure, ...]:
        """Its figures that are sums (or averages) over fiscal quarters, which the facts loader
        works out."""
        return tuple(f for f in self.figures if f.sum_of is not None)

    def evaluated_as_of(self, as_of: date) -> date:
        """The date it is evaluated as of in a run as of `as_of`: the day its monitoring
        ended, if earlier, so that nothing after that (a test, a deadline, interest) gives
        events."""
        ended = self.ended
        return ended.day if ended is not None and ended.day < as_of else as_of


def read_toml(path: Path, problems: list[Problem], data: bytes) -> dict[str, Any] | None:
    """A TOML file's tables from its content (`data`, as read), or None with the problem
    noted."""
    try:
        return tomli.loads(data.decode())
    except UnicodeDecodeError as error:  # TOML is UTF-8
        line = data.count(b"\n", 0, error.start) + 1
        problems.append(
            Problem(str(path), "not UTF-8 text (Windows-1252 or Latin-1?); save it as UTF-8", line)
        )
    except tomli.TOMLDecodeError as error:
        problems.append(Problem(str(path), f"not valid TOML: {error}"))
    return None


def load_agreements(rules_dir: Path) -> list[Agreement]:
    """Every agreement folder under `rules_dir`, all checked before any is returned."""
    if not rules_dir.is_dir():
        raise InputError([Problem(str(rules_dir), "rules folder not found")])
    folders = sorted(p for p in rules_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise InputError([Problem(str(rules_dir), "no agreement folders (rules/<agreement>/)")])
    agreements, problems = [], []
    for folder in folders:
        try:
            agreements.append(load_agreement(folder))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise InputError(problems)
    return agreements


def load_agreement(folder: Path) -> Agreement:
    problems: list[Problem] = []
    sections: list[tuple[str, Reader, Section]] = []
    snapshot = folder_files(folder)
    names, contents = snapshot
    files = [n for n in names if "/" not in n and fnmatchcase(n, "*.toml")]
    if not files:
        raise InputError([Problem(str(folder), "no rule files (*.toml)")])
    for name in files:
        path = folder / name
        reader = Reader(str(path), problems)
        data = read_toml(path, problems, contents[names[name]])
        if data is None:
            continue
        if len(data) != 1 or next(iter(data)) not in _KINDS:
            found = ", ".join(data) or "nothing"
            problems.append(
                Problem(
                    str(path),
                    "a rule file holds exactly one table: [agreement], [covenant], "
                    f"[instrument] or [interest]; found {found}",
                )
            )
            continue
        kind, body = next(iter(data.items()))
        section = reader.section(body, kind)
        if section is not None:
            sections.append((kind, reader, section))
    # The agreement's figures first: its covenants' metrics may read them.
    agreement_tables = [section for kind, _, section in sections if kind == "agreement"]
    figures = _figures(agreement_tables[0]) if len(agreement_tables) == 1 else ()
    tables = {**METRIC_TABLES, "financials": _metric_financials(figures)}
    covenants: dict[str, Covenant] = {}
    instruments: dict[str, Instrument] = {}
    interest: list[InterestTerms] = []
    for kind, reader, section in sections:
        if kind == "covenant":
            covenant = _covenant(section, tables)
            if covenant and covenant.section in covenants:
                first = covenants[covenant.section].file
                reader.problem(
                    "covenant.section", f"section {covenant.section} is already declared in {first}"
                )
            elif covenant:
                covenants[covenant.section] = covenant
        elif kind == "interest":
            if interest:
                reader.problem(
                    "interest", f"interest terms are already declared in {interest[0].file}"
                )
            elif terms := _interest(section):
                interest.append(terms)
        elif kind == "instrument":
            instrument = parse_instrument(section)
            if instrument and instrument.id in instruments:
                first = instruments[instrument.id].file
                reader.problem(
                    "instrument.id", f"instrument {instrument.id} is already declared in {first}"
                )
            elif instrument:
                instruments[instrument.id] = instrument
    if len(agreement_tables) != 1:
        problems.append(
            Problem(str(folder), f"expected one [agreement] file, found {len(agreement_tables)}")
        )
        raise InputError(problems)
    agreement = _agreement(agreement_tables[0], folder, covenants, instruments)
    if agreement is not None:
        agreement = replace(agreement, interest=interest[0] if interest else None, figures=figures)
    _check_references(agreement, problems)
    if problems or agreement is None:
        raise InputError(problems)
    return replace(agreement, snapshot=snapshot)


def _agreement(section: Section, folder: Path, covenants, instruments) -> Agreement | None:
    agreement_id = section.text("id")
    if agreement_id is not None and agreement_id != folder.name:
        section.problem("id", f"must match its folder name {folder.name!r}")
    rates = []
    for row in section.tables("default_rate"):
        rates.append(
            RateFloor(
                row.date("from"),
                row.date("through", required=False),
                row.decimal("floor_percent"),
                row.text("source"),
                row.text("note", required=False),
            )
        )
        row.done()
    _check_rows(section, "default_rate", [(r.start, r.end) for r in rates])
    highest = None
    if (cap := section.table("highest_lawful_rate", required=False)) is not None:
        highest = Cited(cap.decimal("percent"), cap.text("source"))
        cap.done()
    agreement = Agreement(
        id=agreement_id,
        title=section.text("title"),
        dated=section.date("dated"),
        borrower=section.text("borrower"),
        lenders=section.strings("lenders"),
        text=section.text("text"),
        default_rates=tuple(rates),
        covenants=covenants,
        instruments=instruments,
        folder=str(folder),
        facts=section.text("facts", required=False) or folder.name,
        highest_lawful_rate=highest,
    )
    return agreement if section.done() else None


def _metric_financials(figures: tuple[Figure, ...]) -> Table:
    """What a metric on financials may read: the table's amounts, the agreement's figures
    reported in it and those it sums."""
    columns = financials_for(tuple(f.column for f in figures if f.sum_of is None), frozenset())
    sums = tuple(Column(f.name, Kind.AMOUNT) for f in figures if f.sum_of is not None)
    return Table("financials", (*columns.columns, *sums))


_FIGURE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _figures(section: Section) -> tuple[Figure, ...]:
    """The figures `[[agreement.figure]]` declares: each a new column of financials.csv, or
    a sum or an average of a quarter-end column over fiscal quarters (`sum_of` or `average_of`,
    `quarters`)."""
    taken = set(FINANCIALS.column_names)
    figures: list[Figure] = []
    summing: list[tuple[Section, str, Figure]] = []
    for row in section.tables("figure"):
        name = row.text("name")
        if name is not None:
            if not _FIGURE_NAME.fullmatch(name) or keyword.iskeyword(name):
                row.problem(
                    "name",
                    f"{name!r} is not a column name: lower-case letters, digits "
                    "and _, beginning with a letter",
                )
                name = None
            elif name in taken:
                row.problem("name", f"financials.csv already has a column {name!r}")
                name = None
            else:
                taken.add(name)
        average = row.has("average_of")
        if average and row.has("sum_of"):
            row.seen.add("sum_of")
            row.problem("sum_of", "a figure is a sum or an average (average_of), not both")
        of = "average_of" if average else "sum_of"
        summed = row.has(of)
        for key, why in _NOT_WITH[summed].items():
            if row.has(key):
                row.seen.add(key)
                row.problem(key, why)
        if average and row.has("annualized_from"):
            row.seen.add("annualized_from")
            row.problem("annualized_from", "an average is not annualized: a sum is")
        figure = Figure(
            name,
            row.text("title"),
            None if summed else row.choice("reported", Reported),
            not summed and row.boolean("non_negative", required=False),
            row.text("source"),
            row.text("note", required=False),
            row.text(of) if summed else None,
            _quarters(row) if summed else 0,
            average,
            row.quarter("annualized_from", required=False) if summed and not average else None,
        )
        if summed:
            summing.append((row, of, figure))
        row.done()
        if name is not None:  # declared even if another key is wrong: no metric reading it fails
            figures.append(figure)
    quarter_end = {*FINANCIALS.quarter_end_columns}
    quarter_end.update(f.name for f in figures if f.reported is Reported.QUARTER_END)
    for row, of, figure in summing:
        if figure.sum_of is not None and figure.sum_of not in quarter_end:
            row.problem(
                of,
                f"{figure.sum_of!r} is not a figure reported at a quarter's end; those are: "
                + ", ".join(sorted(quarter_end)),
            )
    return tuple(figures)


# The keys a figure reported (False) or summed or averaged (True) may not have, and why.
_NOT_WITH = {
    False: {
        key: "goes with sum_of (or average_of): the column summed"
        for key in ("quarters", "annualized_from")
    },
    True: {
        key: f"a sum or an average is of quarter-end figures: it takes no {key}"
        for key in ("reported", "non_negative")
    },
}


def _quarters(row: Section) -> int:
    """How many fiscal quarters a sum or an average runs over: two at least (one is the figure
    itself)."""
    quarters = row.integer("quarters")
    if type(row.data.get("quarters")) is int and 0 <= quarters < 2:  # else said already
        row.problem("quarters", f"{quarters}: a sum runs over two fiscal quarters or more")
    return quarters


def _covenant(section: Section, tables: Mapping[str, Table]) -> Covenant | None:
    test = section.choice("test", TestKind)
    consequence = section.choice("consequence", Consequence)
    metric = table = plus = None
    computed = test in (TestKind.MAINTAINED_BALANCE, TestKind.DELIVERED_WITHIN_DAYS)
    breach_when = "below"
    if computed:
        breach_when = section.choice("breach_when", ("below", "above"))
    elif test is not None and test is not TestKind.REPORTED:
        metric, table = section.metric("metric", tables)
        breach_when = section.choice("breach_when", ("below", "above"))
        if section.has("plus"):
            plus, plus_table = section.metric("plus", tables)
            if plus_table is not None and table is not None and plus_table != table:
                section.problem("plus", f"must read the same table as the metric ({table})")
    schedule = _schedule(section, test, breach_when) if test is not TestKind.REPORTED else ()
    restore_days, calendar, restore_note = 0, None, None
    if test is TestKind.MAINTAINED_BALANCE:
        restore_days = section.integer("restore_within_business_days")
        calendar = section.choice("calendar", Calendar)
        restore_note = section.text("restore_note")
    acceleration = None
    accel = section.table("acceleration", required=consequence is Consequence.ACCELERATION)
    if accel is not None:
        acceleration = Acceleration(
            accel.choice("amount", ("initial_capitalized_interest_amount",)),
            accel.date("interest_from"),
            accel.choice("rate", ("default_rate",)),
            accel.choice("day_count", ("30/360",)),
            accel.text("source"),
            accel.text("note", required=False),
        )
        accel.done()
    covenant = Covenant(
        section=section.text("section"),
        title=section.text("title"),
        text=section.text("text"),
        test=test,
        consequence=consequence,
        file=section.file,
        metric=metric,
        table=table,
        plus=plus,
        plus_source=section.text("plus_source", required=plus is not None),
        on_zero_denominator=section.choice("on_zero_denominator", ("comply",), required=False),
        zero_denominator_note=section.text("zero_denominator_note", required=False),
        grace_days=section.integer("grace_days", required=consequence is Consequence.DEFAULT),
        grace_note=section.text("grace_note", required=False),
        schedule=schedule,
        acceleration=acceleration,
        amended_by=section.text("amended_by", required=False),
        note=section.text("note", required=False),
        breach_when=breach_when or "below",
        restore_business_days=restore_days,
        calendar=calendar,
        restore_note=restore_note,
        other_agreement=section.text("other_agreement", required=False),
        flag=section.text("flag", required=consequence is Consequence.FLAG),
        fiscal_year_end=_fiscal_year_end(section, test),
    )
    return covenant if section.done() else None


def _fiscal_year_end(section: Section, test: TestKind | None) -> int | None:
    """`fiscal_year_end = "Q4"`: a quarter-end test made at each fiscal year's end only (an
    annual limit on capital expenditures), the year's last quarter named as the tables name
    quarters, by the calendar quarter it ends in."""
    if not section.has("fiscal_year_end"):
        return None
    if test is not TestKind.FISCAL_QUARTER_END:
        section.seen.add("fiscal_year_end")
        section.problem("fiscal_year_end", f"only a {TestKind.FISCAL_QUARTER_END} test has one")
        return None
    last = section.choice("fiscal_year_end", ("Q1", "Q2", "Q3", "Q4"))
    return int(last[1]) if last is not None else None


def _schedule(section: Section, test: TestKind | None, breach_when: str | None):
    by_quarter = test is TestKind.FISCAL_QUARTER_END
    limit = "maximum" if breach_when == "above" else "minimum"
    rows = []
    for row in section.tables("schedule", required=True):
        start = row.quarter("from") if by_quarter else row.date("from")
        end = row.quarter("through", required=False) if by_quarter else row.date("through", False)
        rows.append(
            Threshold(
                start,
                end,
                row.decimal(limit),
                row.text("table_row"),
                row.text("source"),
                row.text("note", required=False),
            )
        )
        row.done()
    _check_rows(section, "schedule", [(r.start, r.end) for r in rows])
    return tuple(rows)


def _check_rows(section: Section, key: str, spans: list[tuple[Any, Any]]) -> None:
    """Rows in order, none empty, none overlapping, no gap between them (a day or quarter
    with no row would have no threshold); only the last may run on ("thereafter")."""
    for i, (start, end) in enumerate(spans):
        if start is None:
            continue
        if end is not None and end < start:
            section.problem(f"{key}[{i}].through", f"{end} is before from {start}")
        if i == 0:
            continue
        prev_start, prev_end = spans[i - 1]
        if prev_start is None:
            continue
        if start == prev_start:
            section.problem(f"{key}[{i}].from", f"duplicate row starting {start}")
        elif prev_end is None or start <= prev_end:
            section.problem(
                f"{key}[{i}].from",
                f"row starting {start} overlaps the row before it ({prev_start} through "
                f"{prev_end or 'thereafter'}); rows must be in order and not overlap",
            )
        elif start != after(prev_end):
            section.problem(
                f"{key}[{i}].from",
                f"a gap: the row before ends {prev_end}, this one starts {start}; nothing "
                f"would apply from {after(prev_end)}",
            )


def after(end: Any) -> Any:
    """The first day, or fiscal quarter, after `end`."""
    return end.next() if isinstance(end, FiscalQuarter) else end + timedelta(days=1)


def before(start: Any) -> Any:
    """The last day, or fiscal quarter, before `start`."""
    return start.previous() if isinstance(start, FiscalQuarter) else start - timedelta(days=1)


_KINDS = ("agreement", "covenant", "instrument", "interest")


def _interest(section: Section) -> InterestTerms | None:
    rates = []
    for row in section.tables("rate", required=True):
        rates.append(
            RatePeriod(
                row.date("from"),
                row.date("through", required=False),
                row.decimal("percent"),
                row.text("source"),
            )
        )
        row.done()
    _check_rows(section, "rate", [(r.start, r.end) for r in rates])
    parts = {
        name: section.table(name)
        for name in ("payments", "initial_capitalization", "additional_capitalization")
    }
    parts |= {name: section.table(name) for name in ("blockage", "prepayment")}
    if any(part is None for part in parts.values()):
        return None
    pay, initial, additional = (
        parts["payments"],
        parts["initial_capitalization"],
        parts["additional_capitalization"],
    )
    blockage, prepayment = parts["blockage"], parts["prepayment"]
    terms = InterestTerms(
        section=section.text("section"),
        title=section.text("title"),
        text=section.text("text"),
        file=section.file,
        day_count=section.choice("day_count", DayCount),
        calendar=section.choice("calendar", Calendar),
        calendar_note=section.text("calendar_note"),
        maturity=section.date("maturity"),
        maturity_source=section.text("maturity_source"),
        rates=tuple(rates),
        semi_annual=tuple(pay.dates("semi_annual")),
        monthly_from=pay.date("monthly_from"),
        payment_source=pay.text("source"),
        initial_capitalization=initial.date("on"),
        initial_source=initial.text("source"),
        additional_from=additional.date("from"),
        additional_cash_percent=additional.decimal("minimum_cash_percent"),
        notice_business_days=additional.integer("notice_business_days"),
        additional_source=additional.text("source"),
        notice_source=additional.text("notice_source"),
        blockage_cash_percent=blockage.decimal("cash_percent"),
        blockage_source=blockage.text("source"),
        prepayment_through=prepayment.date("through"),
        prepayment_rate_percent=prepayment.decimal("rate_percent"),
        prepayment_source=prepayment.text("source"),
        note=section.text("note", required=False),
    )
    ok = all([part.done() for part in parts.values()])
    return terms if section.done() and ok else None


def parse_instrument(section: Section) -> Instrument | None:
    """An `[instrument]` table: of a rule file, or of a facility's own (portfolio.py)."""
    waiver = suspension = None
    if (w := section.table("waiver", required=False)) is not None:
        w.choice("breaches_before", ("effective",))
        waiver = Waiver(w.strings("covenants"), w.text("source"))
        w.done()
    if (s := section.table("suspension", required=False)) is not None:
        suspension = Suspension(
            s.strings("covenants"),
            s.choice("until_event", ("senior_debt_action",)),
            s.date("until_latest"),
            s.text("source"),
            s.text("note", required=False),
        )
        s.done()
    instrument = Instrument(
        id=section.text("id"),
        title=section.text("title"),
        dated=section.date("dated"),
        document=section.text("document"),
        effective=section.date("effective"),
        text=section.text("text"),
        file=section.file,
        conditions_precedent=section.text("conditions_precedent", required=False),
        amends=section.strings("amends", required=False),
        waiver=waiver,
        suspension=suspension,
    )
    return instrument if section.done() else None


def _check_references(agreement: Agreement | None, problems: list[Problem]) -> None:
    if agreement is None:
        return
    for covenant in agreement.covenants.values():
        if covenant.amended_by and covenant.amended_by not in agreement.instruments:
            problems.append(
                Problem(
                    covenant.file,
                    f"names instrument {covenant.amended_by!r}, which no rule file declares",
                    key="covenant.amended_by",
                )
            )
        if covenant.acceleration and not agreement.default_rates:
            problems.append(
                Problem(
                    covenant.file,
                    "accelerates at the Default Rate but the agreement declares none",
                    key="covenant.acceleration.rate",
                )
            )
    earlier: list[Instrument] = []
    for instrument in agreement.instruments.values():
        for key, message in instrument_conflicts(instrument, earlier, agreement.covenants):
            problems.append(Problem(instrument.file, message, key=f"instrument.{key}"))
        earlier.append(instrument)


def instrument_conflicts(
    instrument: Instrument, earlier: Iterable[Instrument], covenants: Mapping[str, Covenant]
) -> list[tuple[str, str]]:
    """(key, problem) for each covenant the instrument's waiver or suspension names that the
    agreement lacks, or that an earlier instrument already waives or suspends."""
    found = []
    for part, key in ((instrument.waiver, "waiver"), (instrument.suspension, "suspension")):
        for section in part.covenants if part else ():
            taken = [
                other.id
                for other in earlier
                if (covered := getattr(other, key)) and section in covered.covenants
            ]
            if taken:
                found.append(
                    (
                        f"{key}.covenants",
                        f"covenant {section} already has a {key} in {taken[0]}; one {key} per "
                        "covenant is supported",
                    )
                )
            if section not in covenants:
                message = f"covenant {section!r} is not declared in any rule file"
                found.append((f"{key}.covenants", message))
    return found


class Reader:
    """Collects the problems of one rule file."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, message, key=key))

    def section(self, data: object, path: str) -> Section | None:
        if not isinstance(data, dict):
            self.problem(path, "must be a table")
            return None
        return Section(self, data, path)


class Section:
    """One TOML table, read key by key; `done()` reports the keys nobody asked for."""

    def __init__(self, reader: Reader, data: dict[str, Any], path: str):
        self.reader, self.data, self.path = reader, data, path
        self.seen: set[str] = set()
        self.ok = True

    @property
    def file(self) -> str:
        return self.reader.file

    def problem(self, key: str, message: str) -> None:
        self.ok = False
        self.reader.problem(f"{self.path}.{key}", message)

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, required: bool, types: tuple[type, ...], what: str) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.problem(key, "required key is missing")
            return None
        value = self.data[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            self.problem(key, f"expected {what}, found {value!r}")
            return None
        return value

    def text(self, key: str, required: bool = True) -> str | None:
        value = self._get(key, required, (str,), "text")
        if value is not None and not value.strip():
            self.problem(key, "must not be empty")
            return None
        return value.strip() if value is not None else None

    def strings(self, key: str, required: bool = True) -> tuple[str, ...]:
        value = self._get(key, required, (list,), "a list of text")
        if value is None:
            return ()
        if not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(key, "expected a list of non-empty text")
            return ()
        return tuple(value)

    def date(self, key: str, required: bool = True) -> date | None:
        value = self._get(
            key, required, (date,), "a date such as 1997-08-20 (TOML date, no quotes)"
        )
        if value is not None and type(value) is not date:
            self.problem(key, "expected a date without a time of day")
            return None
        return value

    def dates(self, key: str) -> list[date]:
        value = self._get(key, True, (list,), "a list of dates")
        if value is None:
            return []
        if not all(type(v) is date for v in value):
            self.problem(key, "expected a list of dates such as [1997-08-19] (no quotes)")
            return []
        return list(value)

    def quarter(self, key: str, required: bool = True) -> FiscalQuarter | None:
        value = self._get(key, required, (str,), 'a fiscal quarter such as "1997Q4"')
        if value is None:
            return None
        try:
            return FiscalQuarter.parse(value)
        except ValueError as error:
            self.problem(key, str(error))
            return None

    def decimal(self, key: str, required: bool = True) -> Decimal | None:
        value = self._get(key, required, (str,), 'an amount as text, such as "(16,609,000)"')
        if value is None:
            return None
        try:
            return parse_decimal(value)
        except ValueError as error:
            self.problem(key, str(error))
            return None

    def integer(self, key: str, required: bool = True) -> int:
        value = self._get(key, required, (int,), "a whole number")
        if value is not None and value < 0:
            self.problem(key, "must not be negative")
        return value or 0

    def boolean(self, key: str, required: bool = True) -> bool:
        """true or false (absent and not required: false)."""
        return self._get(key, required, (bool,), "true or false") or False

    def choice(self, key: str, choices, required: bool = True):
        value = self._get(key, required, (str,), "text")
        if value is None:
            return None
        allowed = [str(c) for c in choices]
        if value not in allowed:
            self.problem(key, f"{value!r} is not one of: {', '.join(allowed)}")
            return None
        return choices(value) if isinstance(choices, type) else value

    def metric(self, key: str, tables: Mapping[str, Table]) -> tuple[Expr | None, str | None]:
        """An expression on the amounts of one of `tables`, and that table's name."""
        source = self.text(key)
        if source is None:
            return None, None
        for table_name, table in tables.items():
            try:
                return parse_expr(source, table.amount_fields), table_name
            except ValueError:
                continue
        fields = sorted(set().union(*(t.amount_fields for t in tables.values())))
        try:  # parse against every field to name the real fault
            parse_expr(source, frozenset(fields))
            self.problem(key, "a metric must read the amounts of one facts table only")
        except ValueError as error:
            self.problem(key, str(error))
        return None, None

    def table(self, key: str, required: bool = True) -> Section | None:
        value = self._get(key, required, (dict,), "a table")
        return Section(self.reader, value, f"{self.path}.{key}") if value is not None else None

    def tables(self, key: str, required: bool = False) -> list[Section]:
        value = self._get(key, required, (list,), "an array of tables ([[...]])")
        if value is None:
            return []
        sections = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.problem(f"{key}[{i}]", "must be a table")
                continue
            sections.append(Section(self.reader, item, f"{self.path}.{key}[{i}]"))
        return sections

    def done(self) -> bool:
        for key in self.data:
            if key not in self.seen:
                self.problem(key, "unknown key")
        return self.ok
