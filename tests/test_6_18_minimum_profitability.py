"""Section 6.18 Minimum Profitability (First Amendment, Exhibit A item 3).

Consolidated Net Income for the fiscal quarter, excluding any gain on the sale of Peripheral
Computer Support, Inc., must not be "less than" the table's amount: equality complies.
"""

from decimal import Decimal

import pytest

from conftest import only, pick, quarter, run, write_table

# (fiscal quarter, a period_end on Cerplex's 52/53-week calendar, the table's minimum)
TABLE = [
    ("1997Q2", "1997-06-28", "-16609000"),  # row "June 30, 1997": $(16,609,000)
    ("1997Q3", "1997-09-27", "-1458000"),  # row "September 30, 1997": printed "$ 1,458,000)"
    ("1997Q4", "1997-12-27", "-838000"),  # row "December 31, 1997": $(838,000)
    ("1998Q1", "1998-03-28", "-391000"),  # row "March 31, 1998": $(391,000)
    ("1998Q2", "1998-06-27", "5000000"),  # row "June 30, 1998 and thereafter": $5,000,000
    ("1999Q3", "1999-09-25", "5000000"),  # ... and thereafter
]


@pytest.mark.parametrize(("fq", "period_end", "minimum"), TABLE)
def test_6_18_net_income_equal_to_the_minimum_complies(facts_dir, fq, period_end, minimum):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [quarter(period_end, fiscal_quarter=fq, net_income=minimum)],
    )
    events = run(facts_dir)
    test = only(events, "test", "6.18")
    assert test.details["result"] == "compliant"
    assert Decimal(test.details["threshold"]) == Decimal(minimum)
    assert Decimal(test.details["headroom"]) == 0
    assert pick(events, "breach", "6.18") == []


@pytest.mark.parametrize(("fq", "period_end", "minimum"), TABLE)
def test_6_18_net_income_one_dollar_below_the_minimum_breaches(facts_dir, fq, period_end, minimum):
    below = Decimal(minimum) - 1
    write_table(
        facts_dir / "cerplex",
        "financials",
        [quarter(period_end, fiscal_quarter=fq, net_income=str(below))],
    )
    breach = only(run(facts_dir), "breach", "6.18")
    assert Decimal(breach.details["value"]) == below
    assert Decimal(breach.details["threshold"]) == Decimal(minimum)
    assert Decimal(breach.details["headroom"]) == -1
    assert "Section 6.18 table" in breach.details["clause"]


def test_6_18_september_1997_misprint_is_read_as_a_loss(facts_dir):
    # A loss of $1,400,000 is better than a $1,458,000 loss floor, so it complies; had the
    # misprint been read as $1,458,000 of income it would breach.
    write_table(
        facts_dir / "cerplex",
        "financials",
        [quarter("1997-09-27", fiscal_quarter="1997Q3", net_income="(1,400,000)")],
    )
    test = only(run(facts_dir), "test", "6.18")
    assert test.details["result"] == "compliant"
    assert test.details["threshold"] == "-1458000"
    assert test.details["headroom"] == "58000"  # -1,400,000 - (-1,458,000)


def test_6_18_gain_on_sale_of_pcs_is_excluded(facts_dir):
    # 1998Q3: net income $6,000,000 includes a $2,500,000 gain on the PCS sale:
    # 6,000,000 - 2,500,000 = 3,500,000 < 5,000,000, a breach by $1,500,000.
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                "1998-09-26",
                fiscal_quarter="1998Q3",
                net_income="6,000,000",
                gain_on_sale_pcs="2,500,000",
            )
        ],
    )
    breach = only(run(facts_dir), "breach", "6.18")
    assert breach.details["value"] == "3500000"
    assert breach.details["headroom"] == "-1500000"
    assert breach.details["inputs"] == {"gain_on_sale_pcs": "2500000", "net_income": "6000000"}


def test_6_18_income_net_of_the_pcs_gain_equal_to_the_floor_complies(facts_dir):
    # 7,500,000 - 2,500,000 = 5,000,000: equal to the floor.
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                "1998-09-26",
                fiscal_quarter="1998Q3",
                net_income="7500000",
                gain_on_sale_pcs="2500000",
            )
        ],
    )
    assert only(run(facts_dir), "test", "6.18").details["result"] == "compliant"


def test_6_18_52_53_week_quarter_uses_its_fiscal_quarter_not_the_raw_date(facts_dir):
    # A 53-week year: the quarter the table calls "December 31, 1997" ended 1998-01-03.
    # Tested against $(838,000) (1997Q4), not against 1998Q1's $(391,000): a loss of
    # $500,000 complies with the first and would breach the second.
    write_table(
        facts_dir / "cerplex",
        "financials",
        [quarter("1998-01-03", fiscal_quarter="1997Q4", net_income="(500,000)")],
    )
    test = only(run(facts_dir), "test", "6.18")
    assert test.details["period"] == "1997Q4"
    assert test.details["threshold"] == "-838000"
    assert test.details["result"] == "compliant"


def test_6_18_without_fiscal_quarter_column_the_calendar_quarter_of_period_end_is_used(facts_dir):
    row = quarter("1997-12-27", net_income="(900,000)")  # no fiscal_quarter: calendar 1997Q4
    write_table(facts_dir / "cerplex", "financials", [row])
    breach = only(run(facts_dir), "breach", "6.18")
    assert breach.details["period"] == "1997Q4"
    assert breach.details["threshold"] == "-838000"
    assert breach.details["headroom"] == "-62000"  # -900,000 - (-838,000)


def test_6_18_quarters_before_the_table_are_reported_not_tested(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [quarter("1997-03-29", fiscal_quarter="1997Q1", net_income="(99,000,000)")],
    )
    events = run(facts_dir)
    assert pick(events, "breach", "6.18") == []
    assert "1997Q1" in only(events, "not_tested", "6.18").details["reason"]
