"""A sum over fiscal quarters counted from a borrower's first quarter after its closing, and
annualized until enough quarters have passed (`annualized_from`): the common clause "for any
period ending before four full fiscal quarters have elapsed since the Closing Date, Consolidated
EBITDA shall be Consolidated EBITDA for the fiscal quarters then elapsed, multiplied by four
and divided by their number".

The package is test_figures_summed_over_quarters' "leverage" (Total Funded Debt to four
quarters' Consolidated EBITDA of not more than 3.00), the tests' own: the documents (Cerplex's)
measure no figure over several quarters. Here the notes closed in July 1998, its EBITDA is
counted from 1998Q3, and the ratio is tested from that quarter.
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
    figure,
    package,
)

from conftest import pick
from engine import audit, cli
from engine.pipeline import monitor

ANNUALIZED = AGREEMENT.replace("quarters = 4\n", 'quarters = 4\nannualized_from = "1998Q3"\n')
FROM_CLOSING = LEVERAGE.replace('from = "1998Q4"', 'from = "1998Q3"')
ROWS = [
    # the predecessor's quarter before the closing, which the definition does not count
    ["1998-06-30", "20,000,000", "1,000,000"],
    # 2,500,000 x 4 = 10,000,000; 30,000,000 / 10,000,000 = 3.00, not more than 3.00
    ["1998-09-30", "30,000,000", "2,500,000"],
    # (2,500,000 + 2,000,000) x 4 / 2 = 9,000,000; 27,000,000 / 9,000,000 = 3.00
    ["1998-12-31", "27,000,000", "2,000,000"],
    # (2,500,000 + 2,000,000 + 3,000,000) x 4 / 3 = 10,000,000; 31,000,000 / 10,000,000 = 3.1
    ["1999-03-31", "31,000,000", "3,000,000"],
    # four quarters have passed: 2,500,000 + 2,000,000 + 3,000,000 + 2,500,000 = 10,000,000,
    # not annualized; 30,000,000 / 10,000,000 = 3.00
    ["1999-06-30", "30,000,000", "2,500,000"],
]


def test_the_first_quarters_are_annualized_until_four_have_passed(tmp_path):
    rules = package(tmp_path, ANNUALIZED, FROM_CLOSING)
    events = monitor(rules, acme(tmp_path, ROWS), date(1999, 6, 30)).events
    assert results_of(events, "6.1") == {
        date(1998, 9, 30): (Decimal("3"), Decimal("3.00"), "compliant"),
        date(1998, 12, 31): (Decimal("3"), Decimal("3.00"), "compliant"),
        date(1999, 3, 31): (Decimal("3.1"), Decimal("3.00"), "breach"),
        date(1999, 6, 30): (Decimal("3"), Decimal("3.00"), "compliant"),
    }
    tests = {e.date: e.details for e in pick(events, "test", "6.1")}
    assert [Decimal(tests[d]["inputs"]["ebitda_four_quarters"]) for d in sorted(tests)] == [
        10_000_000,
        9_000_000,
        10_000_000,
        10_000_000,
    ]
    # Each test says what it added up and how it annualized it.
    assert tests[date(1998, 9, 30)]["note"] == (
        "ebitda_four_quarters = consolidated_ebitda of 1998Q3 (2500000) x 4, annualized from "
        "1998Q3, the first fiscal quarter it counts"
    )
    assert tests[date(1999, 3, 31)]["note"] == (
        "ebitda_four_quarters = (consolidated_ebitda of 1998Q3 (2500000) + 1998Q4 (2000000) + "
        "1999Q1 (3000000)) x 4 / 3, annualized from 1998Q3, the first fiscal quarter it counts"
    )
    assert tests[date(1999, 6, 30)]["note"] == (
        "ebitda_four_quarters = consolidated_ebitda of 1998Q3 (2500000) + 1998Q4 (2000000) + "
        "1999Q1 (3000000) + 1999Q2 (2500000)"
    )


def test_a_quarter_before_the_first_is_not_measured(tmp_path):
    """A covenant tested from 1998Q2, before the figure's first quarter: that quarter's test is
    not made, and says why, though the controller reported its EBITDA."""
    leverage = LEVERAGE.replace('from = "1998Q4"', 'from = "1998Q2"')
    events = monitor(
        package(tmp_path, ANNUALIZED, leverage), acme(tmp_path, ROWS[:2]), date(1998, 9, 30)
    ).events
    (not_tested,) = pick(events, "not_tested", "6.1")
    assert not_tested.date == date(1998, 6, 30)
    assert not_tested.details["reason"] == (
        "ebitda_four_quarters: not measured before 1998Q3, the first fiscal quarter it counts "
        "(financials.csv row 2)"
    )
    assert results_of(events, "6.1") == {
        date(1998, 9, 30): (Decimal("3"), Decimal("3.00"), "compliant")
    }


def test_a_quarter_missing_is_never_annualized_away(tmp_path):
    """1998Q4 not reported: 1999Q1's sum is not made over the two quarters there are."""
    rows = [r for r in ROWS if r[0] != "1998-12-31"]
    events = monitor(
        package(tmp_path, ANNUALIZED, FROM_CLOSING), acme(tmp_path, rows), date(1999, 6, 30)
    ).events
    reasons = {e.date: e.details["reason"] for e in pick(events, "not_tested", "6.1")}
    assert reasons[date(1999, 3, 31)] == (
        "ebitda_four_quarters, consolidated_ebitda over the 3 fiscal quarters 1998Q3 to "
        "1999Q1: not reported for 1998Q4 (financials.csv row 4)"
    )
    assert reasons[date(1999, 6, 30)].endswith("not reported for 1998Q4 (financials.csv row 5)")
    assert set(results_of(events, "6.1")) == {date(1998, 9, 30)}


def test_an_appended_quarter_is_annualized_from_the_quarters_a_run_recorded(tmp_path, loads):
    package(tmp_path, ANNUALIZED, FROM_CLOSING)
    # (2,500,000 + 2,000,000 + 3,000,000) x 4 / 3 = 10,000,000; 30,000,000 / 10,000,000 = 3.00
    appended = appended_alone(
        tmp_path, [*ROWS[:3], ["1999-03-31", "30,000,000", "3,000,000"]], loads
    )
    assert Decimal(appended.details["value"]) == 3


@pytest.mark.parametrize(
    ("agreement", "message"),
    [
        (figure(annualized_from='"1998Q5"'), "1998Q5"),
        (figure(annualized_from="1998"), 'a fiscal quarter such as "1997Q4"'),
        (
            AGREEMENT.replace(
                'reported = "quarter_end"\nsource = "Note Agreement (the tests\' own), Section '
                '1.1, definition of Consolidated EBITDA"',
                'reported = "quarter_end"\nannualized_from = "1998Q3"\nsource = "Note '
                "Agreement (the tests' own), Section 1.1, definition of Consolidated EBITDA\"",
            ),
            "goes with sum_of",
        ),
    ],
)
def test_a_bad_first_quarter_is_refused_naming_the_file_and_key(tmp_path, agreement, message):
    refused(package(tmp_path, agreement) / "leverage", "annualized_from", message)


def test_the_terms_and_the_report_say_from_which_quarter_it_counts(tmp_path, capsys):
    package(tmp_path, ANNUALIZED, FROM_CLOSING)
    acme(tmp_path, ROWS)
    assert run(tmp_path, "1999-06-30") == 1
    db = tmp_path / "audit.db"
    (terms,) = pick(audit.read(db), "agreement_terms")
    summed = terms.details["figures"][2]
    assert (summed["sum_of"], summed["quarters"], summed["annualized_from"]) == (
        "consolidated_ebitda",
        4,
        "1998Q3",
    )
    capsys.readouterr()
    assert cli.main(["report", "--db", str(db)]) == 0
    assert (
        "the sum of consolidated\\_ebitda over 4 fiscal quarters, the last the one tested; "
        "counted from 1998Q3, and annualized until 4 have passed (the sum of those since, "
        f"times 4 and divided by their number) ({CLAUSE}, definition of Consolidated EBITDA)"
    ) in capsys.readouterr().out


FACILITY_CLAUSE = "Acme Note Agreement (1998-07-15), Section 1.1, definition of Consolidated EBITDA"


def counted_from(root: Path, name: str, first: str | None, rows=ROWS) -> None:
    """facts/<name>, following the leverage package (whose sum is not annualized), its sum
    counted from its own first quarter `first` (None: as the package says)."""
    acme(root, rows)
    folder = root / "facts" / name
    if name != "acme":
        (root / "facts" / "acme").rename(folder)
    if first is not None:
        with (folder / "facility.toml").open("a") as toml:
            toml.write(
                f'\n[[facility.figure]]\nname = "ebitda_four_quarters"\n'
                f'annualized_from = "{first}"\nsource = "{FACILITY_CLAUSE}"\n'
            )


def test_a_facility_counts_a_packages_sum_from_its_own_closing(tmp_path, capsys):
    """Two facilities of one package, the same figures: Acme's notes closed in July 1998 and
    its facility.toml counts EBITDA from 1998Q3, annualized; Beta's sums are the package's,
    four quarters or none."""
    package(tmp_path, leverage=FROM_CLOSING)
    counted_from(tmp_path, "beta", None)
    counted_from(tmp_path, "acme", "1998Q3")
    events = monitor(tmp_path / "rules", tmp_path / "facts", date(1999, 6, 30)).events
    acme_tests = results_of([e for e in events if e.agreement == "acme"], "6.1")
    assert acme_tests == results_of(
        monitor(
            package(tmp_path / "alone", ANNUALIZED, FROM_CLOSING),
            acme(tmp_path / "alone", ROWS),
            date(1999, 6, 30),
        ).events,
        "6.1",
    )
    assert len(acme_tests) == 4  # 1998Q3 to 1999Q2, as worked out above
    # Beta's sums are of four quarters, its file beginning with 1998Q2: none for 1998Q3 or
    # 1998Q4; 1999Q1's counts the predecessor's quarter: 1,000,000 + 2,500,000 + 2,000,000 +
    # 3,000,000 = 8,500,000, and 31,000,000 / 8,500,000 = 3.647..., more than 3.00.
    beta = [e for e in events if e.agreement == "beta"]
    beta_tests = results_of(beta, "6.1")
    assert sorted(beta_tests) == [date(1999, 3, 31), date(1999, 6, 30)]
    assert str(beta_tests[date(1999, 3, 31)][0])[:6] == "3.6470"
    reasons = {e.date: e.details["reason"] for e in pick(beta, "not_tested", "6.1")}
    assert reasons[date(1998, 9, 30)] == (
        "ebitda_four_quarters, consolidated_ebitda over the 4 fiscal quarters 1997Q4 to "
        "1998Q3: not reported for 1997Q4, 1998Q1 (financials.csv row 3)"
    )
    # The facility's terms record the quarter and the clause; the report says both.
    (terms,) = [e for e in pick(events, "agreement_terms") if e.agreement == "acme"]
    summed = terms.details["figures"][2]
    assert (summed["annualized_from"], summed["annualized_source"]) == (
        "1998Q3",
        f"{FACILITY_CLAUSE} (facility override)",
    )
    assert run(tmp_path, "1999-06-30") == 1
    capsys.readouterr()
    assert cli.main(["report", "--db", str(tmp_path / "audit.db"), "--facility", "acme"]) == 0
    assert f"counted from 1998Q3 ({FACILITY_CLAUSE} (facility override)), and annualized" in (
        capsys.readouterr().out.replace("\\_", "_")
    )


@pytest.mark.parametrize(
    ("figure_table", "key", "message"),
    [
        (
            'name = "total_funded_debt"\nannualized_from = "1998Q3"\nsource = "x"',
            "name",
            "'total_funded_debt' is not a sum over fiscal quarters of the agreement (its sums: "
            "ebitda_four_quarters)",
        ),
        ('name = "ebitda"\nannualized_from = "1998Q3"\nsource = "x"', "name", "'ebitda' is not"),
        ('name = "ebitda_four_quarters"\nsource = "x"', "annualized_from", "required key"),
        ('name = "ebitda_four_quarters"\nannualized_from = "1998Q3"', "source", "required key"),
        (
            'name = "ebitda_four_quarters"\nannualized_from = "1998Q3"\nsource = "x"\nquarters = 2',
            "quarters",
            "unknown key",
        ),
        (
            'name = "ebitda_four_quarters"\nannualized_from = "1998Q3"\nsource = "x"\n\n'
            '[[facility.figure]]\nname = "ebitda_four_quarters"\nannualized_from = "1998Q4"\n'
            'source = "x"',
            "name",
            "counted from its own first quarter twice",
        ),
    ],
)
def test_a_bad_facility_figure_is_refused_naming_the_file_and_key(
    tmp_path, capsys, figure_table, key, message
):
    package(tmp_path, leverage=FROM_CLOSING)
    counted_from(tmp_path, "acme", None)
    with (tmp_path / "facts" / "acme" / "facility.toml").open("a") as toml:
        toml.write(f"\n[[facility.figure]]\n{figure_table}\n")
    assert run(tmp_path, "1999-06-30") == 2
    err = capsys.readouterr().err
    assert "acme/facility.toml" in err and f".{key}: " in err and message in err, err
    assert not (tmp_path / "audit.db").exists()
