"""Section 4.1(a): interest "on the basis of a 360-day year of twelve 30-day months"."""

from datetime import date

import pytest

from engine.interest import days_30_360


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(1997, 8, 19), date(1997, 9, 2), 13),  # 30 + (2 - 19)
        (date(1997, 8, 19), date(1997, 8, 25), 6),
        (date(1997, 8, 19), date(1997, 10, 31), 72),  # 60 + (31 - 19): day 31 kept, start < 30
        (date(1997, 8, 31), date(1997, 9, 30), 30),  # 31 -> 30 at the start, then 30 -> 30
        (date(1997, 8, 30), date(1997, 10, 31), 60),  # start 30, so end 31 -> 30
        (date(1997, 8, 19), date(1998, 2, 19), 180),  # a semi-annual period
        (date(1997, 8, 19), date(1997, 8, 19), 0),
    ],
)
def test_30_360_bond_basis(start, end, days):
    assert days_30_360(start, end) == days
