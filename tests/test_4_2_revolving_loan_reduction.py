"""Section 4.2, final paragraph (First Amendment, Exhibit A item 2): Revolving Loan Reduction.

Revolving loans outstanding + available below $4,886,984 on August 20-21, 1997, below $4,386,984
from August 22 through August 31, below $4,886,984 from September 1, 1997 on. Only the date it
first occurs counts: a notice is owed immediately, and each Note's Initial Capitalized Interest
Amount falls due with Default Rate interest, 30/360, from August 19, 1997 (included) to the
reduction date (excluded).
"""

from decimal import Decimal

import pytest

from conftest import only, pick, run, write_table

WINDOWS = [
    ("1997-08-20", 4886984),  # clause (i)
    ("1997-08-21", 4886984),
    ("1997-08-22", 4386984),  # clause (ii), inclusive
    ("1997-08-31", 4386984),
    ("1997-09-01", 4886984),  # clause (iii), on and after
    ("1998-06-30", 4886984),
]


def revolver(*rows: tuple[str, int | str, int | str]):
    return [
        {"date": d, "revolving_loans_outstanding": o, "revolving_loans_available": a}
        for d, o, a in rows
    ]


NOTES = [
    {
        "holder": "The Northwestern Mutual Life Insurance Company",
        "initial_capitalized_interest_amount": "409,687.50",
    },
    {
        "holder": "John Hancock Mutual Life Insurance Company",
        "initial_capitalized_interest_amount": "327,750.00",
    },
]


@pytest.mark.parametrize(("day", "floor"), WINDOWS)
def test_4_2_sum_equal_to_the_floor_is_no_reduction(facts_dir, day, floor):
    write_table(facts_dir / "cerplex", "revolver", revolver((day, floor - 1000, 1000)))
    events = run(facts_dir)
    assert only(events, "test", "4.2").details["result"] == "compliant"
    assert pick(events, "revolving_loan_reduction") == []


@pytest.mark.parametrize(("day", "floor"), WINDOWS)
def test_4_2_sum_a_dollar_below_the_floor_is_a_reduction(facts_dir, day, floor):
    write_table(facts_dir / "cerplex", "revolver", revolver((day, floor - 1, 0)))
    events = run(facts_dir)
    reduction = only(events, "revolving_loan_reduction", "4.2")
    assert reduction.details["threshold"] == str(floor)
    assert reduction.details["headroom"] == "-1"
    assert only(events, "notice_required", "4.2").details["deadline"] == day


def test_4_2_dates_before_august_20_1997_are_not_tested(facts_dir):
    write_table(facts_dir / "cerplex", "revolver", revolver(("1997-08-19", 0, 0)))
    events = run(facts_dir)
    assert pick(events, "revolving_loan_reduction") == []
    assert only(events, "not_tested", "4.2").date.isoformat() == "1997-08-19"


def test_4_2_only_the_first_occurrence_accelerates(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "revolver",
        revolver(
            ("1997-08-25", 4400000, 0),
            ("1997-09-02", 4800000, 50000),
            ("1997-09-15", 4880000, 0),
            ("1997-10-01", 4900000, 0),
            ("1997-11-03", 1, 0),
        ),
    )
    write_table(facts_dir / "cerplex", "notes", NOTES)
    events = run(facts_dir)
    assert [e.date.isoformat() for e in pick(events, "revolving_loan_reduction")] == ["1997-09-02"]
    assert len(pick(events, "notice_required")) == 1
    assert {e.date.isoformat() for e in pick(events, "amount_due")} == {"1997-09-02"}
    below = [
        t.date.isoformat()
        for t in pick(events, "test", "4.2")
        if t.details["result"] == "below_minimum"
    ]
    assert below == ["1997-09-02", "1997-09-15", "1997-11-03"]
    assert pick(events, "default", "4.2") == []  # a reduction is not itself a Default


def test_4_2_amounts_due_to_the_cent(facts_dir):
    # Reduction on September 2, 1997. 30/360 days from August 19: 30 x 1 + (2 - 19) = 13.
    # Default Rate: the greater of 17% and the prime of 8.50% = 17%.
    #   409,687.50 x 0.17 x 13 / 360 = 2,515.0260... -> 2,515.03; due 412,202.53
    #   327,750.00 x 0.17 x 13 / 360 = 2,012.0208... -> 2,012.02; due 329,762.02
    write_table(facts_dir / "cerplex", "revolver", revolver(("1997-09-02", 4800000, 50000)))
    write_table(facts_dir / "cerplex", "notes", NOTES)
    write_table(
        facts_dir / "cerplex", "prime_rate", [{"date": "1997-03-26", "rate_percent": "8.50"}]
    )
    due = {e.details["holder"]: e.details for e in pick(run(facts_dir), "amount_due", "4.2")}
    nml = due["The Northwestern Mutual Life Insurance Company"]
    assert (nml["principal"], nml["interest"], nml["amount"]) == (
        "409687.50",
        "2515.03",
        "412202.53",
    )
    jh = due["John Hancock Mutual Life Insurance Company"]
    assert (jh["interest"], jh["amount"]) == ("2012.02", "329762.02")
    assert nml["due_date"] == "1997-09-02"
    assert nml["days"] == 13
    assert nml["rates"][0]["rate_percent"] == "17"


def test_4_2_prime_above_seventeen_percent_sets_the_default_rate(facts_dir):
    # Reduction on August 25, 1997: 6 days (30/360). Prime 18% > 17%:
    # 100,000.00 x 0.18 x 6 / 360 = 300.00
    write_table(facts_dir / "cerplex", "revolver", revolver(("1997-08-25", 4000000, 0)))
    write_table(
        facts_dir / "cerplex",
        "notes",
        [{"holder": "A", "initial_capitalized_interest_amount": "100000"}],
    )
    write_table(facts_dir / "cerplex", "prime_rate", [{"date": "1997-08-01", "rate_percent": "18"}])
    due = only(run(facts_dir), "amount_due", "4.2").details
    assert (due["interest"], due["amount"]) == ("300.00", "100300.00")


def test_4_2_prime_changing_within_the_period_splits_the_rate(facts_dir):
    # Prime 16% until August 21, 18% from August 22; reduction on August 25, 1997.
    #   Aug 19 - Aug 22 (3 days) at max(17, 16) = 17%: 100,000 x 0.17 x 3/360 = 141.6666...
    #   Aug 22 - Aug 25 (3 days) at max(17, 18) = 18%: 100,000 x 0.18 x 3/360 = 150.00
    #   total 291.6666... -> 291.67
    write_table(facts_dir / "cerplex", "revolver", revolver(("1997-08-25", 4000000, 0)))
    write_table(
        facts_dir / "cerplex",
        "notes",
        [{"holder": "A", "initial_capitalized_interest_amount": "100000"}],
    )
    write_table(
        facts_dir / "cerplex",
        "prime_rate",
        [
            {"date": "1997-08-01", "rate_percent": "16"},
            {"date": "1997-08-22", "rate_percent": "18"},
        ],
    )
    due = only(run(facts_dir), "amount_due", "4.2").details
    assert due["interest"] == "291.67"
    assert [r["rate_percent"] for r in due["rates"]] == ["17", "18"]


def test_4_2_without_a_prime_series_the_floor_is_used_and_said(facts_dir):
    write_table(facts_dir / "cerplex", "revolver", revolver(("1997-09-02", 4800000, 0)))
    write_table(facts_dir / "cerplex", "notes", NOTES[:1])
    due = only(run(facts_dir), "amount_due", "4.2").details
    assert due["interest"] == "2515.03"
    assert "no prime rate" in due["rates"][0]["basis"]


def test_4_2_without_notes_the_missing_amounts_are_reported(facts_dir):
    write_table(facts_dir / "cerplex", "revolver", revolver(("1997-09-02", 4800000, 0)))
    events = run(facts_dir)
    assert pick(events, "amount_due") == []
    assert "notes.csv" in only(events, "data_missing", "4.2").details["message"]
    assert Decimal(only(events, "revolving_loan_reduction").details["value"]) == 4800000
