"""Section 6.21 Minimum Consolidated Tangible Net Worth (First Amendment, Exhibit A item 6).

"at any time during any period" not less than the period's amount plus 100% of Net Securities
Proceeds: every balance-sheet date reported, quarter-end or interim, is tested against the
period (calendar dates) that contains it.
"""

from decimal import Decimal

import pytest

from conftest import interim, only, pick, run, write_table

# The first and last day of every period, with its amount.
BOUNDARIES = [
    ("1997-06-30", "-15714000"),  # June 30, 1997 through September 29, 1997
    ("1997-09-29", "-15714000"),
    ("1997-09-30", "-15365000"),  # September 30, 1997 through December 30, 1997
    ("1997-12-30", "-15365000"),
    ("1997-12-31", "-14642000"),  # December 31, 1997 through March 30, 1998
    ("1998-03-30", "-14642000"),
    ("1998-03-31", "-13842000"),  # March 31, 1998 through May 1, 1998
    ("1998-05-01", "-13842000"),
    ("1998-05-02", "5000000"),  # May 2, 1998 and thereafter
    ("2001-11-19", "5000000"),
]


@pytest.mark.parametrize(("day", "minimum"), BOUNDARIES)
def test_6_21_net_worth_equal_to_the_period_amount_complies(facts_dir, day, minimum):
    write_table(facts_dir / "cerplex", "financials", [interim(day, minimum)])
    test = only(run(facts_dir), "test", "6.21")
    assert Decimal(test.details["threshold"]) == Decimal(minimum)
    assert test.details["result"] == "compliant"


@pytest.mark.parametrize(("day", "minimum"), BOUNDARIES)
def test_6_21_net_worth_a_dollar_below_the_period_amount_breaches(facts_dir, day, minimum):
    write_table(facts_dir / "cerplex", "financials", [interim(day, str(Decimal(minimum) - 1))])
    breach = only(run(facts_dir), "breach", "6.21")
    assert breach.details["headroom"] == "-1"
    assert breach.date.isoformat() == day


def test_6_21_the_period_changes_overnight_on_september_30_1997(facts_dir):
    # $(15,500,000) clears the $(15,714,000) floor on September 29 (headroom $214,000) and
    # misses the $(15,365,000) floor on September 30 (by $135,000).
    write_table(
        facts_dir / "cerplex",
        "financials",
        [interim("1997-09-29", "(15,500,000)"), interim("1997-09-30", "(15,500,000)")],
    )
    events = run(facts_dir)
    tests = pick(events, "test", "6.21")
    assert [t.details["headroom"] for t in tests] == ["214000", "-135000"]
    assert only(events, "breach", "6.21").date.isoformat() == "1997-09-30"


def test_6_21_interim_month_end_dates_are_tested(facts_dir):
    # Example data: November 29, 1997, an interim date, TNW $(15,400,000) against
    # $(15,365,000): a breach by $35,000 between two compliant quarter ends.
    write_table(
        facts_dir / "cerplex",
        "financials",
        [interim("1997-10-25", "(15,300,000)"), interim("1997-11-29", "(15,400,000)")],
    )
    events = run(facts_dir)
    breach = only(events, "breach", "6.21")
    assert breach.date.isoformat() == "1997-11-29"
    assert breach.details["headroom"] == "-35000"
    assert breach.details["period"] == "1997-11-29"


def test_6_21_floor_adds_net_securities_proceeds(facts_dir):
    # From May 2, 1998: $5,000,000 + $2,000,000 of proceeds = $7,000,000.
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            interim("1998-06-30", "7,000,000", net_securities_proceeds="2,000,000"),
            interim("1998-07-31", "6,999,999", net_securities_proceeds="2,000,000"),
        ],
    )
    events = run(facts_dir)
    first, second = pick(events, "test", "6.21")
    assert first.details["threshold"] == "7000000" and first.details["result"] == "compliant"
    assert first.details["plus"]["value"] == "2000000"
    assert "100%" in first.details["plus"]["clause"]
    assert second.details["result"] == "breach"


def test_6_21_blank_net_securities_proceeds_carry_the_last_cumulative_amount(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            interim("1998-05-30", "(10,800,000)", net_securities_proceeds="3,000,000"),
            interim("1998-06-27", "7,999,999"),
        ],
    )
    later = pick(run(facts_dir), "test", "6.21")[1]
    assert later.details["threshold"] == "8000000"  # 5,000,000 + 3,000,000 carried
    assert later.details["note"] == "net_securities_proceeds carried from 1998-05-30"
    assert later.details["result"] == "breach"


def test_6_21_52_53_week_quarter_end_is_tested_by_its_own_date(facts_dir):
    # The 1997Q4 balance sheet is dated December 27, 1997: inside "September 30, 1997 through
    # December 30, 1997" ($(15,365,000)), not the December 31 period ($(14,642,000)).
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            interim(
                "1997-12-27",
                "(15,200,000)",
                fiscal_quarter="1997Q4",
                net_income="0",
                accounts_receivable="1",
                inventory="0",
                wells_fargo_debt="1",
                current_assets="1",
                current_liabilities="1",
            )
        ],
    )
    test = only(run(facts_dir), "test", "6.21")
    assert test.details["threshold"] == "-15365000"
    assert test.details["result"] == "compliant"


def test_6_21_a_date_before_the_first_period_is_not_tested(facts_dir):
    write_table(facts_dir / "cerplex", "financials", [interim("1997-06-28", "(99,000,000)")])
    events = run(facts_dir)
    assert pick(events, "breach", "6.21") == []
    assert (
        "June 30, 1997 through September 29, 1997"
        in only(events, "not_tested", "6.21").details["reason"]
    )
