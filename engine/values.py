"""Parsing of the values people type: amounts in accounting notation, ISO dates, fiscal quarters.

Shared by the rule loader and the facts loader so that a threshold written "(16,609,000)" in a
rule file and a loss written "(1,458,000)" in a controller's sheet mean the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache

from dateutil.relativedelta import relativedelta

_NUMBER = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?|\.\d+")
_PLAIN = r"\d++(?:\.\d++)?+"
# Digits with any decimal part, and nothing else: what `Decimal(text)` reads as written (most
# cells of a controller's CSV file). A match or None, without a Python call of its own.
plain_number = re.compile(_PLAIN).fullmatch
# Such numbers joined by commas: a row's amounts checked in one match.
plain_numbers = re.compile(f"{_PLAIN}(?:,{_PLAIN})*+").fullmatch
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_QUARTER = re.compile(r"(\d{4})Q([1-4])")


def later(day: date, span: timedelta) -> date | None:
    """`day` plus `span`, or None if that is past the last date there is (9999-12-31): a
    deadline that never comes within the dates a run can be as of."""
    return day + span if date.max - day >= span else None


def parse_decimal(text: str) -> Decimal:
    """Read `1,458,000`, `$(1,458,000)`, `-1458000.50`, `8.5%`; raise ValueError otherwise.

    A parenthesis must be balanced: the First Amendment's own misprint `$  1,458,000)` is
    refused here, so that such a reading is always a decision recorded in a rule file.
    """
    if plain_number(text):  # most cells: what the rest of this function would give
        return Decimal(text)
    s = text.strip()
    negative = False
    if s.startswith("$"):
        s = s[1:].strip()
    if s.startswith("(") or s.endswith(")"):
        if not (s.startswith("(") and s.endswith(")")):
            raise ValueError(f"unbalanced parenthesis in {text!r}")
        negative, s = True, s[1:-1].strip()
    if s.startswith("-"):
        if negative:
            raise ValueError(f"both parentheses and a minus sign in {text!r}")
        negative, s = True, s[1:].strip()
    if s.startswith("$"):
        s = s[1:].strip()
    s = s.removesuffix("%").strip()
    if not _NUMBER.fullmatch(s):
        raise ValueError(f"{text!r} is not a number")
    try:
        value = Decimal(s.replace(",", ""))
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only digits
        raise ValueError(f"{text!r} is not a number") from error
    return -value if negative else value


def parse_date(value: object) -> date:
    """Read an ISO date (`1997-12-27`) or a date cell from a spreadsheet; raise ValueError."""
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise ValueError(f"{value} has a time of day; expected a date")
        return value.date()
    if isinstance(value, date):
        return value
    return _parsed_date(str(value))


@lru_cache(maxsize=4096)
def _parsed_date(text: str) -> date:
    """Each date's text read once: a portfolio's files give the same few thousand dates
    (quarter ends, drawdown days) hundreds of thousands of times."""
    text = text.strip()
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date; expected YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a date; expected YYYY-MM-DD") from error


@dataclass(frozen=True, order=True)
class FiscalQuarter:
    """A fiscal quarter such as `1997Q4`, named by the calendar quarter its tables call it by.

    Cerplex closed its books on a 52/53-week calendar, so `1997Q4` ended on 1997-12-27 although
    the covenant tables call it "the fiscal quarter ending December 31, 1997".
    """

    year: int
    quarter: int

    @staticmethod
    def parse(text: str) -> FiscalQuarter:
        """One object for each quarter, however many cells name it (`_quarter`)."""
        return _parsed_quarter(text)

    @staticmethod
    def of(day: date) -> FiscalQuarter:
        """The calendar quarter containing `day` (one object for each, `_quarter`)."""
        return _quarter(day.year, (day.month - 1) // 3 + 1)

    @property
    def nominal_start(self) -> date:
        """The first day of the calendar quarter the tables name."""
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def nominal_end(self) -> date:
        """The calendar quarter end the covenant tables name (e.g. December 31, 1997)."""
        return _quarter_end(self.year, self.quarter)

    def next(self) -> FiscalQuarter:
        return FiscalQuarter(self.year + self.quarter // 4, self.quarter % 4 + 1)

    def previous(self) -> FiscalQuarter:
        if self.quarter == 1:
            return FiscalQuarter(self.year - 1, 4)
        return FiscalQuarter(self.year, self.quarter - 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.quarter}"


@lru_cache(maxsize=4096)
def _parsed_quarter(text: str) -> FiscalQuarter:
    match = _QUARTER.fullmatch(text.strip().upper())
    if not match:
        raise ValueError(f"{text!r} is not a fiscal quarter; expected e.g. 1997Q4")
    return _quarter(int(match[1]), int(match[2]))


@lru_cache(maxsize=4096)
def _quarter(year: int, quarter: int) -> FiscalQuarter:
    """The quarters read from files, one object for each: a portfolio's files name a few dozen
    quarters hundreds of thousands of times, and an object for each row stayed alive in the
    caches of every facility with a covenant table of its own (57,000 at ten thousand
    facilities), for the garbage collector to walk again and again."""
    return FiscalQuarter(year, quarter)


@cache
def _quarter_end(year: int, quarter: int) -> date:
    """Worked out once per quarter: every facility's every row asks. The month's last day
    (`day=31` stops there), not the next month's first less a day, which 9999Q4 has not."""
    return date(year, 3 * quarter, 1) + relativedelta(day=31)
