"""Section 6.19 Minimum Ratio of Accounts Receivable to Loans (First Amendment, item 4).

(Consolidated Accounts Receivable + Consolidated Inventory) / Wells Fargo Credit Agreement Debt,
as of the last day of the fiscal quarter, not less than 0.425 (quarters ending September 30,
1997, December 31, 1997 and March 31, 1998) and 0.670 from June 30, 1998 on.
"""

from decimal import Decimal

import pytest

from conftest import only, pick, quarter, run, write_table

ROWS = [
    ("1997Q3", "1997-09-27", "0.425"),
    ("1997Q4", "1997-12-27", "0.425"),
    ("1998Q1", "1998-03-28", "0.425"),
    ("1998Q2", "1998-06-27", "0.670"),
    ("2000Q1", "2000-03-25", "0.670"),
]


@pytest.mark.parametrize(("fq", "period_end", "minimum"), ROWS)
def test_6_19_ratio_equal_to_the_minimum_complies(facts_dir, fq, period_end, minimum):
    # Debt of 20,000,000: AR + inventory of 20,000,000 x minimum gives the minimum exactly
    # (8,500,000 for 0.425; 13,400,000 for 0.670), split 75/25 between the two.
    total = Decimal(minimum) * 20_000_000
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                period_end,
                fiscal_quarter=fq,
                accounts_receivable=str(total * 3 / 4),
                inventory=str(total / 4),
                wells_fargo_debt="20,000,000",
            )
        ],
    )
    test = only(run(facts_dir), "test", "6.19")
    assert Decimal(test.details["value"]) == Decimal(minimum)
    assert test.details["result"] == "compliant"


@pytest.mark.parametrize(("fq", "period_end", "minimum"), ROWS)
def test_6_19_ratio_a_dollar_short_of_the_minimum_breaches(facts_dir, fq, period_end, minimum):
    total = Decimal(minimum) * 20_000_000 - 1  # e.g. 8,499,999 / 20,000,000 = 0.42499995
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                period_end,
                fiscal_quarter=fq,
                accounts_receivable=str(total),
                inventory="0",
                wells_fargo_debt="20000000",
            )
        ],
    )
    breach = only(run(facts_dir), "breach", "6.19")
    assert Decimal(breach.details["value"]) == total / 20_000_000
    assert Decimal(breach.details["threshold"]) == Decimal(minimum)


def test_6_19_example_1997q4_is_exactly_0_425(facts_dir):
    # (8,500,000 + 4,250,000) / 30,000,000 = 12,750,000 / 30,000,000 = 0.425: complies.
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                "1997-12-27",
                fiscal_quarter="1997Q4",
                accounts_receivable="8,500,000",
                inventory="4,250,000",
                wells_fargo_debt="30,000,000",
            )
        ],
    )
    test = only(run(facts_dir), "test", "6.19")
    assert Decimal(test.details["value"]) == Decimal("0.425")
    assert test.details["headroom"] == "0.000"


def test_6_19_has_no_test_for_june_30_1997(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                "1997-06-28",
                fiscal_quarter="1997Q2",
                accounts_receivable="0",
                wells_fargo_debt="30000000",
            )
        ],
    )
    events = run(facts_dir)
    assert pick(events, "test", "6.19") == []
    assert pick(events, "breach", "6.19") == []
    assert only(events, "not_tested", "6.19").details["period"] == "1997Q2"


def test_6_19_zero_wells_fargo_debt_complies(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [
            quarter(
                "1998-12-26",
                fiscal_quarter="1998Q4",
                accounts_receivable="0",
                inventory="0",
                wells_fargo_debt="0",
            )
        ],
    )
    test = only(run(facts_dir), "test", "6.19")
    assert test.details["result"] == "compliant"
    assert test.details["value"] is None
    assert "Wells Fargo" in test.details["note"]
