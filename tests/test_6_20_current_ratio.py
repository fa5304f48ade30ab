"""Section 6.20 Current Ratio (First Amendment, Exhibit A item 5): Consolidated Current Assets /
Consolidated Current Liabilities as of the last day of the fiscal quarter, not less than
0.47 / 0.42 / 0.44 / 0.45 / 1.00 (June 30, 1997 ... June 30, 1998 and thereafter)."""

from decimal import Decimal

import pytest

from conftest import only, pick, quarter, run, write_table
from engine.report.text import describe

ROWS = [
    ("1997Q2", "1997-06-28", "14,100,000", "0.47"),  # 14,100,000 / 30,000,000 = 0.47
    ("1997Q3", "1997-09-27", "12,600,000", "0.42"),  # 12,600,000 / 30,000,000 = 0.42
    ("1997Q4", "1997-12-27", "13,200,000", "0.44"),  # 13,200,000 / 30,000,000 = 0.44
    ("1998Q1", "1998-03-28", "13,500,000", "0.45"),  # 13,500,000 / 30,000,000 = 0.45
    ("1998Q2", "1998-06-27", "30,000,000", "1.00"),  # 30,000,000 / 30,000,000 = 1.00
    ("2001Q4", "2001-12-29", "30,000,000", "1.00"),  # "and thereafter"
]


@pytest.mark.parametrize(("fq", "period_end", "assets", "minimum"), ROWS)
def test_6_20_ratio_equal_to_the_minimum_complies(facts_dir, fq, period_end, assets, minimum):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                period_end,
                fiscal_quarter=fq,
                current_assets=assets,
                current_liabilities="30,000,000",
            )
        ],
    )
    events = run(facts_dir)
    test = only(events, "test", "6.20")
    assert Decimal(test.details["value"]) == Decimal(minimum)
    assert Decimal(test.details["threshold"]) == Decimal(minimum)
    assert test.details["result"] == "compliant"
    assert pick(events, "breach", "6.20") == []


@pytest.mark.parametrize(("fq", "period_end", "assets", "minimum"), ROWS)
def test_6_20_ratio_below_the_minimum_breaches(facts_dir, fq, period_end, assets, minimum):
    short = Decimal(assets.replace(",", "")) - 3  # 3 dollars short: 0.0000001 below the floor
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                period_end,
                fiscal_quarter=fq,
                current_assets=str(short),
                current_liabilities="30000000",
            )
        ],
    )
    events = run(facts_dir)
    breach = only(events, "breach", "6.20")
    assert Decimal(breach.details["headroom"]) == Decimal("-0.0000001")
    # Shown to four places the ratio would read as the minimum and the headroom as zero: both
    # are shown to the seventh place, where they differ.
    below = Decimal(minimum) - Decimal("0.0000001")
    assert describe(breach) == (
        f"{fq}: {below} vs minimum {Decimal(minimum):.4f}, headroom -0.0000001"
    )
    assert only(events, "default", "6.20").date == breach.date
