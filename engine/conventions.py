"""Market conventions as closed, named enumerations: how days are counted and which days are
Business Days. A rule file names one; nothing else is accepted, so every amount and deadline
says exactly which rule produced it.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from functools import cache


class DayCount(StrEnum):
    """How many days of interest lie between two dates."""

    # Section 4.1(a): "on the basis of a 360-day year of twelve 30-day months". The exact rule
    # is 30/360 Bond Basis (ISDA 2006 Definitions, Section 4.16(f), the US corporate-bond
    # convention): a first day of 31 counts as 30; a last day of 31 counts as 30 only when the
    # first day is 30 or 31; February's last day is taken as it is (no end-of-month rule).
    THIRTY_360 = "30/360"

    def days(self, start: date, end: date) -> int:
        """Days from `start` (included) to `end` (excluded)."""
        d1 = min(start.day, 30)
        d2 = min(end.day, 30) if d1 == 30 else end.day
        return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)

    @property
    def year_days(self) -> int:
        return 360


class Calendar(StrEnum):
    """Which days are Business Days."""

    # The 1993 Note Purchase Agreement, which defines "Business Day", is not among the
    # documents. The customary definition in such agreements is a day other than a Saturday,
    # a Sunday or a day on which commercial banks in New York City are required or authorized
    # to close: the New York banking calendar (ISDA's USNY business centre), which follows the
    # holidays of the Federal Reserve Bank of New York.
    NEW_YORK_BANKING = "new_york_banking"

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _new_york_holidays(day.year)

    def holiday(self, day: date) -> str | None:
        """The holiday's name, for text that explains a deadline."""
        return _new_york_holidays(day.year).get(day)

    def business_days_before(self, day: date, count: int) -> date:
        """The Business Day `count` Business Days before `day`: "not less than three Business
        Days prior to" a date is satisfied on or before it."""
        found = day
        while count:
            found -= timedelta(days=1)
            if self.is_business_day(found):
                count -= 1
        return found

    def business_days_after(self, day: date, count: int) -> date | None:
        """None if they run past the last date there is (9999-12-31)."""
        found = day
        while count:
            if found == date.max:
                return None
            found += timedelta(days=1)
            if self.is_business_day(found):
                count -= 1
        return found


@cache
def _new_york_holidays(year: int) -> dict[date, str]:
    """The Federal Reserve Bank of New York's holidays in `year`, from the `holidays` library.

    Its Federal Reserve calendar (USNY) begins in 1999. For earlier years the same rule is
    applied to its United States federal calendar: a holiday on a Sunday is observed on the
    Monday, and one on a Saturday is not moved (the Reserve Banks open on the Friday before).
    """
    import holidays  # here, not at the top: about 20 ms of a run's start, and most count no days

    usny = holidays.financial_holidays("USNY")
    if year >= usny.start_year:
        return dict(holidays.financial_holidays("USNY", years=year))
    federal = holidays.country_holidays("US", years=year, observed=False)
    found = {}
    for day, name in federal.items():
        found[day] = name
        if day.weekday() == 6:
            found[day + timedelta(days=1)] = f"{name} (observed)"
    return found
