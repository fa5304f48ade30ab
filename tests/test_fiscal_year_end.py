"""A covenant tested at each fiscal year's end only (`fiscal_year_end = "Q4"`): an annual limit
such as "Capital Expenditures in any fiscal year shall not exceed $4,000,000", with the year's
expenditures the sum of its four quarters.

The package is the tests' own, of the common private-placement form (the documents, Cerplex's,
test every quarter). Its Section 6.2: Capital Expenditures for each fiscal year from the one
ending December 31, 1998 shall not be more than $4,000,000; equality complies.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from test_agreement_figures import results_of, run
from test_figures_summed_over_quarters import acme

from conftest import pick
from engine import cli
from engine.errors import InputError
from engine.pipeline import monitor
from engine.rules import load_agreement

AGREEMENT = """\
[agreement]
id = "leverage"
title = "Note Agreement (an annual limit on capital expenditures)"
dated = 1998-01-15
borrower = "Acme Holdings, Inc."
lenders = ["The Northwestern Mutual Life Insurance Company"]
text = "Capital Expenditures in any fiscal year."

[[agreement.figure]]
name = "capital_expenditures"
title = "Capital Expenditures for the fiscal quarter"
reported = "quarter_end"
non_negative = true
source = "Note Agreement (the tests' own), Section 1.1, definition of Capital Expenditures"

[[agreement.figure]]
name = "capital_expenditures_year"
title = "Capital Expenditures for the four fiscal quarters then ended"
sum_of = "capital_expenditures"
quarters = 4
source = "Note Agreement (the tests' own), Section 6.2"
"""
CAPEX = """\
[covenant]
section = "6.2"
title = "Capital Expenditures"
text = "Capital Expenditures in any fiscal year shall not exceed ..."
test = "fiscal_quarter_end"
fiscal_year_end = "Q4"
metric = "capital_expenditures_year"
breach_when = "above"
consequence = "default"
grace_days = 0

[[covenant.schedule]]
from = "1998Q4"
table_row = "Fiscal year 1998 and each fiscal year thereafter"
maximum = "4,000,000"
source = "Note Agreement (the tests' own), Section 6.2"
"""
HEADER = ["period_end", "capital_expenditures"]
ROWS = [
    # 1998: 1,000,000 a quarter, 4,000,000 in the year: not more than 4,000,000
    ["1998-03-31", "1,000,000"],
    ["1998-06-30", "1,000,000"],
    ["1998-09-30", "1,000,000"],
    ["1998-12-31", "1,000,000"],
    # 1999: 1,000,000 + 1,500,000 + 1,000,000 + 500,001 = 4,000,001: more than 4,000,000
    ["1999-03-31", "1,000,000"],
    ["1999-06-30", "1,500,000"],
    ["1999-09-30", "1,000,000"],
    ["1999-12-31", "500,001"],
]


def package(root: Path, agreement: str = AGREEMENT, capex: str = CAPEX) -> Path:
    folder = root / "rules" / "leverage"
    folder.mkdir(parents=True)
    (folder / "agreement.toml").write_text(agreement)
    (folder / "covenant-6.2.toml").write_text(capex)
    return folder.parent


def test_an_annual_limit_is_tested_at_each_fiscal_year_end_only(tmp_path):
    events = monitor(package(tmp_path), acme(tmp_path, ROWS, HEADER), date(1999, 12, 31)).events
    assert results_of(events, "6.2") == {
        date(1998, 12, 31): (Decimal(4000000), Decimal(4000000), "compliant"),
        date(1999, 12, 31): (Decimal(4000001), Decimal(4000000), "breach"),
    }
    # The other quarter ends are no test of it, and not "not tested" either.
    assert pick(events, "not_tested", "6.2") == []
    assert [e.date for e in pick(events, "event_of_default", "6.2")] == [date(1999, 12, 31)]


def test_a_fiscal_year_ending_in_june_is_tested_on_its_second_calendar_quarter(tmp_path):
    """A year ending June 30: fiscal 1999 is 1998Q3 to 1999Q2, 1,000,000 + 1,000,000 +
    1,000,000 + 1,500,000 = 4,500,000, more than 4,000,000."""
    capex = CAPEX.replace('"Q4"', '"Q2"').replace('"1998Q4"', '"1999Q2"')
    events = monitor(
        package(tmp_path, capex=capex), acme(tmp_path, ROWS, HEADER), date(1999, 12, 31)
    ).events
    assert results_of(events, "6.2") == {
        date(1999, 6, 30): (Decimal(4500000), Decimal(4000000), "breach"),
    }
    # June 30, 1998 ends a fiscal year before the table's first row: said, not passed
    (early,) = pick(events, "not_tested", "6.2")
    assert early.date == date(1998, 6, 30)


def test_the_report_says_when_it_is_tested(tmp_path, capsys):
    package(tmp_path)
    acme(tmp_path, ROWS, HEADER)
    assert run(tmp_path, "1999-12-31") == 1
    capsys.readouterr()
    assert cli.main(["report", "--db", str(tmp_path / "audit.db")]) == 0
    out = capsys.readouterr().out
    assert "Tested at each fiscal year's end only, the quarter named Q4." in out
    html = tmp_path / "report.html"
    args = ["report", "--db", str(tmp_path / "audit.db"), "--format", "html", "--out", str(html)]
    assert cli.main(args) == 0
    assert (
        "<dt>Tested</dt><dd>at each fiscal year&#39;s end only, the quarter named Q4</dd>"
        in html.read_text()
    )
    assert cli.main(["log", "--db", str(tmp_path / "audit.db"), "--event", "covenant_terms"]) == 0
    assert (
        "Capital Expenditures: fiscal_quarter_end (at each fiscal year's end only, the quarter "
        "named Q4), 1 schedule row(s)"
    ) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("capex", "message"),
    [
        (CAPEX.replace('"Q4"', '"December"'), "'December' is not one of: Q1, Q2, Q3, Q4"),
        (
            CAPEX.replace('"fiscal_quarter_end"', '"any_time"').replace('"1998Q4"', "1998-12-31"),
            "only a fiscal_quarter_end test has one",
        ),
    ],
)
def test_a_bad_fiscal_year_end_is_refused_naming_the_file_and_key(tmp_path, capex, message):
    with pytest.raises(InputError) as raised:
        load_agreement(package(tmp_path, capex=capex) / "leverage")
    (problem,) = raised.value.problems
    assert problem.file.endswith("covenant-6.2.toml")
    assert (problem.key, problem.message) == ("covenant.fiscal_year_end", message)
