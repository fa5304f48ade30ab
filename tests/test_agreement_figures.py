"""An agreement declares the figures its covenants read beyond financials.csv's built-in
columns (`[[agreement.figure]]`): a package of other covenants than Cerplex's is written
without code, and its controller's file holds only the columns it reads.

The package here, "ratios", is the tests' own: Sections 6.20 and 6.21 of the First Amendment
Agreement (1997-08-20) written over figures named as the agreement names them. Its thresholds
are the documents': Section 6.20's current ratio of 1.00 to 1.00 for the quarter ending June
30, 1998 and thereafter (Exhibit A item 5), Section 6.21's $8,000,000 of tangible net worth
"at any time" from May 2, 1998 (Exhibit A item 6; the Net Securities Proceeds it adds are left
out here, being none).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conftest import EXAMPLE_FACTS, RULES, pick
from engine import audit, cli
from engine.errors import InputError
from engine.pipeline import monitor
from engine.rules import load_agreement

AGREEMENT = """\
[agreement]
id = "ratios"
title = "Note Agreement (Sections 6.20 and 6.21 over figures of its own)"
dated = 1997-08-20
borrower = "Acme Holdings, Inc."
lenders = ["The Northwestern Mutual Life Insurance Company"]
text = "The First Amendment's current ratio and net worth covenants, as the tests' package."

[[agreement.figure]]
name = "consolidated_current_assets"
title = "Consolidated Current Assets"
reported = "quarter_end"
non_negative = true
source = "First Amendment Agreement (1997-08-20), Exhibit A item 5, Section 6.20"

[[agreement.figure]]
name = "consolidated_current_liabilities"
title = "Consolidated Current Liabilities"
reported = "quarter_end"
non_negative = true
source = "First Amendment Agreement (1997-08-20), Exhibit A item 5, Section 6.20"

[[agreement.figure]]
name = "consolidated_tangible_net_worth"
title = "Consolidated Tangible Net Worth"
reported = "any_time"
source = "First Amendment Agreement (1997-08-20), Exhibit A item 6, Section 6.21"
note = "Negative for a company whose liabilities exceed its tangible assets."
"""
CURRENT_RATIO = """\
[covenant]
section = "6.20"
title = "Current Ratio"
text = "The ratio of Consolidated Current Assets to Consolidated Current Liabilities ..."
test = "fiscal_quarter_end"
metric = "consolidated_current_assets / consolidated_current_liabilities"
breach_when = "below"
consequence = "default"
grace_days = 0

[[covenant.schedule]]
from = "1998Q2"
table_row = "June 30, 1998 and thereafter"
minimum = "1.00"
source = "First Amendment Agreement (1997-08-20), Exhibit A item 5, Section 6.20 table"
"""
NET_WORTH = """\
[covenant]
section = "6.21"
title = "Minimum Consolidated Tangible Net Worth"
text = "Consolidated Tangible Net Worth at any time ... not less than ..."
test = "any_time"
metric = "consolidated_tangible_net_worth"
breach_when = "below"
consequence = "default"
grace_days = 0

[[covenant.schedule]]
from = 1998-05-02
table_row = "May 2, 1998 and thereafter"
minimum = "8,000,000"
source = "First Amendment Agreement (1997-08-20), Exhibit A item 6, Section 6.21 table"
"""
HEADER = [
    "period_end",
    "consolidated_current_assets",
    "consolidated_current_liabilities",
    "consolidated_tangible_net_worth",
]
ROWS = [
    # 20,000,000 / 20,000,000 = 1.00, not less than 1.00; net worth exactly 8,000,000
    ["1998-06-30", "20,000,000", "20,000,000", "8,000,000"],
    # an interim balance sheet, $1 short of 8,000,000: a breach of 6.21 alone
    ["1998-07-31", "", "", "7,999,999"],
    # 19,800,000 / 20,000,000 = 0.99, less than 1.00
    ["1998-09-30", "19,800,000", "20,000,000", "8,500,000"],
]


def package(root: Path, agreement: str = AGREEMENT, **covenants: str) -> Path:
    folder = root / "rules" / "ratios"
    folder.mkdir(parents=True)
    (folder / "agreement.toml").write_text(agreement)
    for name, text in (covenants or {"6.20": CURRENT_RATIO, "6.21": NET_WORTH}).items():
        (folder / f"covenant-{name}.toml").write_text(text)
    return folder.parent


def facility(root: Path, rows=ROWS, header=HEADER) -> Path:
    """facts/acme, following the package, with financials.csv of `header` only."""
    folder = root / "facts" / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "facility.toml").write_text(
        '[facility]\nagreement = "ratios"\nborrower = "Acme Holdings, Inc."\n'
    )
    with (folder / "financials.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return folder.parent


def results_of(events, section: str) -> dict[date, tuple[Decimal, Decimal, str]]:
    return {
        e.date: (Decimal(e.details["value"]), Decimal(e.details["threshold"]), e.details["result"])
        for e in pick(events, "test", section)
    }


def test_covenants_are_tested_on_the_figures_their_agreement_declares(tmp_path):
    events = monitor(package(tmp_path), facility(tmp_path), date(1998, 12, 31)).events
    # Section 6.20 on the quarter ends only: equality is compliance, 0.99 is less than 1.00.
    assert results_of(events, "6.20") == {
        date(1998, 6, 30): (Decimal("1.00"), Decimal("1.00"), "compliant"),
        date(1998, 9, 30): (Decimal("0.99"), Decimal("1.00"), "breach"),
    }
    # Section 6.21 "at any time": the interim balance sheet of July 31 is tested too.
    assert results_of(events, "6.21") == {
        date(1998, 6, 30): (Decimal(8000000), Decimal(8000000), "compliant"),
        date(1998, 7, 31): (Decimal(7999999), Decimal(8000000), "breach"),
        date(1998, 9, 30): (Decimal(8500000), Decimal(8000000), "compliant"),
    }
    (ratio,) = [e for e in pick(events, "test", "6.20") if e.date == date(1998, 9, 30)]
    assert ratio.details["inputs"] == {
        "consolidated_current_assets": "19800000",
        "consolidated_current_liabilities": "20000000",
    }
    breaches = {(e.covenant, e.date) for e in pick(events, "breach")}
    assert breaches == {("6.20", date(1998, 9, 30)), ("6.21", date(1998, 7, 31))}
    # Grace of 0 days: each breach is an Event of Default the day it occurs.
    assert {(e.covenant, e.date) for e in pick(events, "event_of_default")} == breaches


def test_the_agreement_terms_record_each_figure_with_the_clause_defining_it(tmp_path):
    events = monitor(package(tmp_path), facility(tmp_path), date(1998, 12, 31)).events
    (terms,) = pick(events, "agreement_terms")
    assert [(f["name"], f["reported"], f["non_negative"]) for f in terms.details["figures"]] == [
        ("consolidated_current_assets", "quarter_end", True),
        ("consolidated_current_liabilities", "quarter_end", True),
        ("consolidated_tangible_net_worth", "any_time", False),
    ]
    assert terms.details["figures"][2]["source"].endswith("Exhibit A item 6, Section 6.21")
    # Cerplex declares none, and its terms say nothing of figures.
    assert load_agreement(RULES / "cerplex").figures == ()


def test_a_package_asks_only_for_the_columns_its_covenants_read(tmp_path):
    """Without 6.21, the net worth column may be left out; Cerplex's columns never appear."""
    rules = package(tmp_path, **{"6.20": CURRENT_RATIO})
    rows = [r[:3] for r in ROWS if r[1]]
    events = monitor(rules, facility(tmp_path, rows, HEADER[:3]), date(1998, 12, 31)).events
    assert set(results_of(events, "6.20")) == {date(1998, 6, 30), date(1998, 9, 30)}


def run(root: Path, as_of: str) -> int:
    db = root / "audit.db"
    args = ["run", "--rules", str(root / "rules"), "--facts", str(root / "facts")]
    return cli.main([*args, "--db", str(db), "--as-of", as_of])


def test_a_quarter_appended_is_read_alone_with_the_declared_columns(tmp_path, loads):
    package(tmp_path)
    facility(tmp_path, ROWS[:1])
    assert run(tmp_path, "1998-06-30") == 0
    # 21,000,000 / 20,000,000 = 1.05 and 8,200,000 of net worth: compliant, tested alone.
    loads.clear()
    facility(tmp_path, [ROWS[0], ["1998-09-30", "21,000,000", "20,000,000", "8,200,000"]])
    assert run(tmp_path, "1998-09-30") == 0
    assert loads == Counter()  # the facility was not loaded whole
    latest = [e for e in audit.read(tmp_path / "audit.db") if e.run == 2]
    assert results_of(latest, "6.20") == {
        date(1998, 9, 30): (Decimal("1.05"), Decimal("1.00"), "compliant")
    }


def figure(**keys: str) -> str:
    """The package's agreement.toml with a fourth figure, EBITDA, its keys changed by `keys`."""
    body = {
        "name": '"ebitda"',
        "title": '"Consolidated EBITDA"',
        "reported": '"quarter_end"',
        "source": '"Note Agreement, Section 1.1"',
    } | keys
    return AGREEMENT + "\n[[agreement.figure]]\n" + "".join(f"{k} = {v}\n" for k, v in body.items())


@pytest.mark.parametrize(
    ("agreement", "key", "message"),
    [
        (figure(name='"inventory"'), "name", "financials.csv already has a column 'inventory'"),
        (
            figure(name='"consolidated_current_assets"'),
            "name",
            "already has a column 'consolidated_current_assets'",
        ),
        (figure(name='"EBITDA"'), "name", "'EBITDA' is not a column name"),
        (figure(name='"net income"'), "name", "'net income' is not a column name"),
        (figure(name='"lambda"'), "name", "'lambda' is not a column name"),
        (figure(reported='"monthly"'), "reported", "'monthly' is not one of"),
        (figure(non_negative='"yes"'), "non_negative", "expected true or false"),
        (figure(definition='"x"'), "definition", "unknown key"),
    ],
)
def test_a_bad_figure_is_refused_naming_the_file_and_key(tmp_path, agreement, key, message):
    refused(package(tmp_path, agreement) / "ratios", key, message)


def refused(folder: Path, key: str, message: str) -> None:
    """Loading the agreement in `folder` is refused, naming its agreement.toml, `key` and a
    problem saying `message`."""
    with pytest.raises(InputError) as raised:
        load_agreement(folder)
    problems = [(p.file, p.key, p.message) for p in raised.value.problems]
    assert any(
        f.endswith(f"{folder.name}/agreement.toml") and k.endswith(key) and message in m
        for f, k, m in problems
    ), problems


def test_a_figure_without_its_clause_is_refused(tmp_path):
    agreement = AGREEMENT.replace(
        'source = "First Amendment Agreement (1997-08-20), Exhibit A item 6, Section 6.21"\n', ""
    )
    with pytest.raises(InputError) as raised:
        load_agreement(package(tmp_path, agreement) / "ratios")
    (problem,) = raised.value.problems
    assert (problem.key, problem.message) == (
        "agreement.figure[2].source",
        "required key is missing",
    )


def test_a_metric_reading_a_figure_no_one_declared_is_refused(tmp_path):
    covenant = CURRENT_RATIO.replace("consolidated_current_liabilities", "current_debt")
    with pytest.raises(InputError) as raised:
        load_agreement(package(tmp_path, **{"6.20": covenant}) / "ratios")
    (problem,) = raised.value.problems
    assert problem.file.endswith("covenant-6.20.toml") and problem.key == "covenant.metric"
    assert "unknown field 'current_debt'" in problem.message


@pytest.mark.parametrize(
    ("header", "rows", "where", "message"),
    [
        # 6.20 reads the liabilities: the header must hold them
        (
            [h for h in HEADER if h != "consolidated_current_liabilities"],
            [["1998-06-30", "20,000,000", "8,000,000"]],
            "row 1, column consolidated_current_liabilities",
            "required column is missing",
        ),
        # declared non_negative
        (
            HEADER,
            [["1998-06-30", "(20,000,000)", "20,000,000", "8,000,000"]],
            "row 2, column consolidated_current_assets",
            "-20000000 is negative",
        ),
        # an interim row must report the figure tested at any time
        (
            HEADER,
            [["1998-07-31", "", "", ""]],
            "row 2, column consolidated_tangible_net_worth",
            "blank on a row with no quarterly figures",
        ),
        # Cerplex's columns are not this package's
        (
            [*HEADER, "inventory", "ebitda"],
            [["1998-06-30", "20,000,000", "20,000,000", "8,000,000", "0", "0"]],
            "row 1, column ebitda",
            "unknown column 'ebitda'",
        ),
    ],
)
def test_bad_facts_are_refused_naming_file_row_and_column_and_nothing_is_written(
    tmp_path, capsys, header, rows, where, message
):
    package(tmp_path)
    facility(tmp_path, rows, header)
    assert run(tmp_path, "1998-12-31") == 2
    err = capsys.readouterr().err
    assert f"acme/financials.csv, {where}: {message}" in err, err
    assert not (tmp_path / "audit.db").exists()


def test_the_report_defines_each_figure_with_its_clause_in_every_format(tmp_path, capsys):
    package(tmp_path)
    facility(tmp_path)
    assert run(tmp_path, "1998-12-31") == 1  # the two breaches
    db = tmp_path / "audit.db"
    assert audit.verify(db).ok
    clause = "First Amendment Agreement (1997-08-20), Exhibit A item 6, Section 6.21"
    capsys.readouterr()
    assert cli.main(["report", "--db", str(db)]) == 0
    markdown = capsys.readouterr().out
    assert (
        "`consolidated_tangible_net_worth`, Consolidated Tangible Net Worth, at any time "
        f"({clause})." in markdown
    )
    assert cli.main(["report", "--db", str(db), "--format", "json"]) == 0
    (acme,) = json.loads(capsys.readouterr().out)["agreements"]
    assert [f["name"] for f in acme["figures"]] == HEADER[1:]
    html = tmp_path / "report.html"
    assert cli.main(["report", "--db", str(db), "--format", "html", "--out", str(html)]) == 0
    assert (
        "<code>consolidated_tangible_net_worth</code>, Consolidated Tangible Net Worth, "
        f"at any time ({clause})." in html.read_text()
    )
    book = tmp_path / "report.xlsx"
    assert cli.main(["report", "--db", str(db), "--format", "xlsx", "--out", str(book)]) == 0
    rows = list(load_workbook(book)["Summary"].iter_rows(values_only=True))
    assert (
        "acme",
        "consolidated_tangible_net_worth",
        "Consolidated Tangible Net Worth",
        "at any time",
        clause,
    ) in [r[:5] for r in rows]


def test_in_a_book_of_two_packages_each_facility_is_read_by_its_own(tmp_path):
    """Cerplex's bundled facility beside acme: each financials.csv is checked against its own
    agreement's columns (Cerplex's 6.19 reads inventory; the ratios package does not)."""
    rules = package(tmp_path)
    shutil.copytree(RULES / "cerplex", rules / "cerplex")
    facts = facility(tmp_path)
    shutil.copytree(EXAMPLE_FACTS / "cerplex", facts / "cerplex")
    events = monitor(rules, facts, date(1998, 12, 31)).events
    acme = [e for e in events if e.agreement == "acme"]
    assert results_of(acme, "6.20")[date(1998, 9, 30)][2] == "breach"  # 0.99 < 1.00, as above
    # Cerplex's 6.21 breach of January 31, 1998: ($14,700,000) against the ($14,642,000)
    # floor (Exhibit A item 6), as in the bundled example.
    cerplex = [e for e in pick(events, "breach", "6.21") if e.agreement == "cerplex"]
    assert date(1998, 1, 31) in {e.date for e in cerplex}
    # Without its inventory column, Cerplex's file is refused; acme's never had one.
    path = facts / "cerplex" / "financials.csv"
    with path.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [k for k in table[0] if k != "inventory"])
        writer.writeheader()
        writer.writerows({k: v for k, v in row.items() if k != "inventory"} for row in table)
    with pytest.raises(InputError) as raised:
        monitor(rules, facts, date(1998, 12, 31))
    assert [(Path(p.file).parent.name, p.column, p.message) for p in raised.value.problems] == [
        ("cerplex", "inventory", "required column is missing")
    ]
