"""The named conventions: 30/360 for Section 4.1(a) ("a 360-day year of twelve 30-day
months") and the New York banking calendar for Section 4.1(c)'s three Business Days."""

from datetime import date

import pytest

from engine.conventions import Calendar, DayCount

THIRTY_360 = DayCount.THIRTY_360
NEW_YORK = Calendar.NEW_YORK_BANKING


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(1997, 8, 19), date(1997, 9, 2), 13),  # 30 + (2 - 19)
        (date(1997, 8, 19), date(1997, 8, 25), 6),
        (date(1997, 2, 19), date(1997, 8, 19), 180),  # the semi-annual period of 4.1(a)(i)
        (date(1998, 2, 19), date(1998, 3, 19), 30),  # a monthly period across February
        (date(1997, 8, 19), date(1997, 8, 19), 0),
        # Ending on the 31st: kept as 31 when the period starts before the 30th ...
        (date(1997, 8, 19), date(1997, 10, 31), 72),  # 60 + (31 - 19)
        # ... and counted as 30 when it starts on the 30th or 31st.
        (date(1997, 8, 30), date(1997, 10, 31), 60),
        (date(1997, 8, 31), date(1997, 9, 30), 30),  # a first day of 31 counts as 30
        (date(1997, 12, 31), date(1998, 1, 31), 30),  # 31 -> 30 at both ends
        # February's last day is taken as it is: Bond Basis has no end-of-month rule.
        (date(1998, 1, 31), date(1998, 2, 28), 28),  # 30 + (28 - 30)
        (date(1998, 2, 28), date(1998, 3, 31), 33),  # 30 + (31 - 28): start is not 30
        (date(1998, 2, 28), date(1998, 3, 28), 30),
        (date(1996, 2, 29), date(1996, 3, 29), 30),  # a leap year's February
    ],
)
def test_30_360_bond_basis(start, end, days):
    assert THIRTY_360.days(start, end) == days


def test_a_30_360_year_has_360_days_whatever_the_calendar():
    assert THIRTY_360.days(date(1996, 2, 19), date(1997, 2, 19)) == 360  # 1996 is a leap year
    assert THIRTY_360.year_days == 360


def test_three_business_days_before_crosses_a_holiday_weekend():
    # February 19, 1998 (Thursday) is the first date an Additional Capitalized Interest Amount
    # may be added (4.1(b)(ii)). Counting back: Wed 18 (1), Tue 17 (2), Mon 16 is Washington's
    # Birthday, Sat 14 and Sun 15 are the weekend, Fri 13 (3). Weekdays alone would give Mon 16.
    assert NEW_YORK.business_days_before(date(1998, 2, 19), 3) == date(1998, 2, 13)
    assert NEW_YORK.holiday(date(1998, 2, 16)) == "Washington's Birthday"


def test_library_calendar_from_1999_martin_luther_king_day():
    # Tuesday, January 19, 1999: Mon 18 is Martin Luther King Jr. Day; Fri 15 (1), Thu 14 (2),
    # Wed 13 (3).
    assert NEW_YORK.business_days_before(date(1999, 1, 19), 3) == date(1999, 1, 13)


def test_a_saturday_holiday_is_not_moved_for_new_york_banks():
    # July 4, 1998 was a Saturday: the federal government closed on Friday July 3, but the
    # Federal Reserve Banks (and so New York banks) opened that Friday.
    assert NEW_YORK.is_business_day(date(1998, 7, 3))
    assert not NEW_YORK.is_business_day(date(1998, 7, 4))
    # A Sunday holiday is observed on the Monday: Christmas 1994 fell on a Sunday.
    assert not NEW_YORK.is_business_day(date(1994, 12, 26))


def test_new_york_banks_close_on_columbus_and_veterans_day_but_not_good_friday():
    assert not NEW_YORK.is_business_day(date(1998, 10, 12))  # Columbus Day
    assert not NEW_YORK.is_business_day(date(1998, 11, 11))  # Veterans Day
    assert NEW_YORK.is_business_day(date(1998, 4, 10))  # Good Friday: the NYSE closes, banks open


def test_business_days_after_skips_weekends_and_holidays():
    # Friday, November 21, 1997 + 5 Business Days: 24, 25, 26, (27 Thanksgiving), 28, Dec 1.
    assert NEW_YORK.business_days_after(date(1997, 11, 21), 5) == date(1997, 12, 1)


def test_business_days_past_the_last_date_there_is_are_none():
    # Friday, December 24, 9999 + 5 Business Days: 27, 28, 29, 30 and Friday the 31st, the last
    # date a date can hold (Christmas falls on the Saturday, not moved for New York banks); a
    # sixth would be in the year 10000.
    assert NEW_YORK.business_days_after(date(9999, 12, 24), 5) == date(9999, 12, 31)
    assert NEW_YORK.business_days_after(date(9999, 12, 24), 6) is None
