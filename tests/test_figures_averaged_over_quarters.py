"""A figure an agreement measures as an average over fiscal quarters ("Average Total Funded
Debt: the average of Total Funded Debt on the last day of each of the four fiscal quarters then
ended") is declared with `average_of` and `quarters`, and the monitor works it out from the
quarters' amounts, as it adds up a sum.

The package is test_figures_summed_over_quarters' "leverage", the tests' own (the documents,
Cerplex's, average no figure), its Section 6.1 reading the average debt: Average Total Funded
Debt to Consolidated EBITDA for the four fiscal quarters then ended of not more than 3.00 to
1.00 from the quarter ending December 31, 1998. "More than" breaches: equality complies.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from test_agreement_figures import refused, results_of, run
from test_figures_summed_over_quarters import (
    AGREEMENT,
    CLAUSE,
    LEVERAGE,
    acme,
    appended_alone,
    package,
)

from conftest import pick
from engine import audit, cli
from engine.errors import InputError
from engine.pipeline import monitor
from engine.rules import load_agreement

AVERAGE = f"""
[[agreement.figure]]
name = "average_funded_debt"
title = "Average Total Funded Debt"
average_of = "total_funded_debt"
quarters = 4
source = "{CLAUSE}, definition of Average Total Funded Debt"
"""
AVERAGED = LEVERAGE.replace("total_funded_debt /", "average_funded_debt /")
ROWS = [
    ["1998-03-31", "26,000,000", "2,500,000"],
    ["1998-06-30", "28,000,000", "2,500,000"],
    ["1998-09-30", "30,000,000", "2,500,000"],
    # (26,000,000 + 28,000,000 + 30,000,000 + 36,000,000) / 4 = 30,000,000 against four
    # quarters' EBITDA of 10,000,000: 3.00, not more than 3.00 (the debt of the day alone,
    # 36,000,000, would be 3.6)
    ["1998-12-31", "36,000,000", "2,500,000"],
    # (28,000,000 + 30,000,000 + 36,000,000 + 34,000,000) / 4 = 32,000,000; / 10,000,000 = 3.2
    ["1999-03-31", "34,000,000", "2,500,000"],
]


def averaged(root: Path, agreement: str = AGREEMENT + AVERAGE) -> Path:
    return package(root, agreement, AVERAGED)


def test_the_ratio_reads_the_average_of_four_quarter_ends(tmp_path):
    events = monitor(averaged(tmp_path), acme(tmp_path, ROWS), date(1999, 3, 31)).events
    assert results_of(events, "6.1") == {
        date(1998, 12, 31): (Decimal("3"), Decimal("3.00"), "compliant"),
        date(1999, 3, 31): (Decimal("3.2"), Decimal("3.00"), "breach"),
    }
    (march,) = [e for e in pick(events, "test", "6.1") if e.date == date(1999, 3, 31)]
    assert Decimal(march.details["inputs"]["average_funded_debt"]) == 32_000_000
    assert march.details["note"] == (
        "average_funded_debt = (total_funded_debt of 1998Q2 (28000000) + 1998Q3 (30000000) + "
        "1998Q4 (36000000) + 1999Q1 (34000000)) / 4; ebitda_four_quarters = consolidated_ebitda "
        "of 1998Q2 (2500000) + 1998Q3 (2500000) + 1998Q4 (2500000) + 1999Q1 (2500000)"
    )


def test_a_quarter_missing_is_never_averaged_away(tmp_path):
    rows = [*ROWS[:2], ["1998-09-30", "", "2,500,000"], *ROWS[3:]]
    events = monitor(averaged(tmp_path), acme(tmp_path, rows), date(1999, 3, 31)).events
    assert results_of(events, "6.1") == {}
    reasons = {e.date: e.details["reason"] for e in pick(events, "not_tested", "6.1")}
    assert reasons[date(1998, 12, 31)] == (
        "average_funded_debt, total_funded_debt over the 4 fiscal quarters 1998Q1 to 1998Q4: "
        "not reported for 1998Q3 (financials.csv row 5)"
    )


@pytest.mark.parametrize(
    ("keys", "key", "message"),
    [
        ('sum_of = "total_funded_debt"', "sum_of", "a sum or an average (average_of), not both"),
        ('annualized_from = "1998Q3"', "annualized_from", "an average is not annualized"),
        ('reported = "quarter_end"', "reported", "is of quarter-end figures: it takes no"),
    ],
)
def test_a_bad_average_is_refused_naming_the_file_and_key(tmp_path, keys, key, message):
    agreement = AGREEMENT + AVERAGE.replace("quarters = 4\n", f"quarters = 4\n{keys}\n")
    refused(averaged(tmp_path, agreement) / "leverage", key, message)


def test_an_average_of_a_balance_not_reported_at_quarter_ends_is_refused(tmp_path):
    agreement = AGREEMENT + AVERAGE.replace('"total_funded_debt"', '"tangible_net_worth"')
    with pytest.raises(InputError) as raised:
        load_agreement(averaged(tmp_path, agreement) / "leverage")
    (problem,) = raised.value.problems
    assert problem.key.endswith("average_of")
    assert "'tangible_net_worth' is not a figure reported at a quarter's end" in problem.message


def test_a_facility_may_not_annualize_an_average(tmp_path, capsys):
    averaged(tmp_path)
    acme(tmp_path, ROWS)
    with (tmp_path / "facts" / "acme" / "facility.toml").open("a") as toml:
        toml.write(
            '\n[[facility.figure]]\nname = "average_funded_debt"\nannualized_from = "1998Q3"\n'
            'source = "x"\n'
        )
    assert run(tmp_path, "1999-03-31") == 2
    assert (
        "'average_funded_debt' is not a sum over fiscal quarters of the agreement (its sums: "
        "ebitda_four_quarters)"
    ) in capsys.readouterr().err


def test_the_terms_and_the_report_say_what_the_average_is_of(tmp_path, capsys):
    averaged(tmp_path)
    acme(tmp_path, ROWS)
    assert run(tmp_path, "1999-03-31") == 1
    db = tmp_path / "audit.db"
    (terms,) = pick(audit.read(db), "agreement_terms")
    average = terms.details["figures"][3]
    assert (average["average_of"], average["quarters"]) == ("total_funded_debt", 4)
    assert "sum_of" not in average
    capsys.readouterr()
    assert cli.main(["report", "--db", str(db)]) == 0
    assert (
        "`average_funded_debt`, Average Total Funded Debt, the average of total\\_funded\\_debt "
        "at the ends of 4 fiscal quarters, the last the one tested "
        f"({CLAUSE}, definition of Average Total Funded Debt)"
    ) in capsys.readouterr().out


def test_an_appended_quarter_is_averaged_from_the_quarters_a_run_recorded(tmp_path, loads):
    averaged(tmp_path)
    # (28,000,000 + 30,000,000 + 36,000,000 + 26,000,000) / 4 = 30,000,000; / 10,000,000 = 3.00
    appended = appended_alone(
        tmp_path, [*ROWS[:4], ["1999-03-31", "26,000,000", "2,500,000"]], loads
    )
    assert Decimal(appended.details["value"]) == 3
