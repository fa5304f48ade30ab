"""A figure an agreement measures over consecutive fiscal quarters ("Consolidated EBITDA for
the four fiscal quarters then ended") is declared as the sum of a quarter-end column
(`sum_of`, `quarters`), and the monitor adds the quarters up: the controller reports each
quarter once, as the books give it.

The package here, "leverage", is the tests' own, of the common private-placement form; the
documents (Cerplex's) measure no figure over several quarters. Its Section 6.1: the ratio of
Total Funded Debt to Consolidated EBITDA for the four consecutive fiscal quarters then ended
shall not be more than 3.00 to 1.00 at the end of each fiscal quarter from the one ending
December 31, 1998. "More than" breaches: equality complies.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from test_agreement_figures import facility, refused, results_of, run

from conftest import only, pick
from engine import audit, cli
from engine.errors import InputError
from engine.pipeline import monitor
from engine.rules import load_agreement

CLAUSE = "Note Agreement (the tests' own), Section 1.1"
AGREEMENT = f"""\
[agreement]
id = "leverage"
title = "Note Agreement (a leverage ratio over four quarters' EBITDA)"
dated = 1998-01-15
borrower = "Acme Holdings, Inc."
lenders = ["The Northwestern Mutual Life Insurance Company"]
text = "Total Funded Debt to Consolidated EBITDA for the four fiscal quarters then ended."

[[agreement.figure]]
name = "total_funded_debt"
title = "Total Funded Debt"
reported = "quarter_end"
non_negative = true
source = "{CLAUSE}, definition of Total Funded Debt"

[[agreement.figure]]
name = "consolidated_ebitda"
title = "Consolidated EBITDA for the fiscal quarter"
reported = "quarter_end"
source = "{CLAUSE}, definition of Consolidated EBITDA"

[[agreement.figure]]
name = "ebitda_four_quarters"
title = "Consolidated EBITDA for the four consecutive fiscal quarters then ended"
sum_of = "consolidated_ebitda"
quarters = 4
source = "{CLAUSE}, definition of Consolidated EBITDA"
"""
LEVERAGE = """\
[covenant]
section = "6.1"
title = "Maximum Leverage Ratio"
text = "Total Funded Debt to Consolidated EBITDA ... shall not be more than ..."
test = "fiscal_quarter_end"
metric = "total_funded_debt / ebitda_four_quarters"
breach_when = "above"
consequence = "default"
grace_days = 0

[[covenant.schedule]]
from = "1998Q4"
table_row = "December 31, 1998 and thereafter"
maximum = "3.00"
source = "Note Agreement (the tests' own), Section 6.1"
"""
HEADER = ["period_end", "total_funded_debt", "consolidated_ebitda"]
ROWS = [
    ["1998-03-31", "24,000,000", "2,500,000"],
    ["1998-06-30", "24,000,000", "2,500,000"],
    ["1998-09-30", "25,000,000", "2,000,000"],
    # 2,500,000 + 2,500,000 + 2,000,000 + 3,000,000 = 10,000,000; 30,000,000 / 10,000,000 =
    # 3.00, not more than 3.00
    ["1998-12-31", "30,000,000", "3,000,000"],
    # 2,500,000 + 2,000,000 + 3,000,000 + 2,000,000 = 9,500,000; 29,450,000 / 9,500,000 = 3.1
    ["1999-03-31", "29,450,000", "2,000,000"],
]


def package(root: Path, agreement: str = AGREEMENT, leverage: str = LEVERAGE) -> Path:
    folder = root / "rules" / "leverage"
    folder.mkdir(parents=True)
    (folder / "agreement.toml").write_text(agreement)
    (folder / "covenant-6.1.toml").write_text(leverage)
    (root / "facts").mkdir(exist_ok=True)
    return folder.parent


def acme(root: Path, rows=ROWS, header=HEADER) -> Path:
    facts = facility(root, rows, header)
    toml = facts / "acme" / "facility.toml"
    toml.write_text(toml.read_text().replace('"ratios"', '"leverage"'))
    return facts


def test_the_ratio_is_tested_on_the_sum_of_four_quarters(tmp_path):
    events = monitor(package(tmp_path), acme(tmp_path), date(1999, 3, 31)).events
    assert results_of(events, "6.1") == {
        date(1998, 12, 31): (Decimal("3"), Decimal("3.00"), "compliant"),
        date(1999, 3, 31): (Decimal("3.1"), Decimal("3.00"), "breach"),
    }
    (march,) = [e for e in pick(events, "test", "6.1") if e.date == date(1999, 3, 31)]
    assert march.details["inputs"] == {
        "ebitda_four_quarters": "9500000",
        "total_funded_debt": "29450000",
    }
    # The test says which quarters it added up, each with its amount.
    assert march.details["note"] == (
        "ebitda_four_quarters = consolidated_ebitda of 1998Q2 (2500000) + 1998Q3 (2000000) "
        "+ 1998Q4 (3000000) + 1999Q1 (2000000)"
    )
    assert {(e.event, e.date) for e in pick(events, "event_of_default", "6.1")} == {
        ("event_of_default", date(1999, 3, 31))
    }
    # The three quarters before the table's first row are not tested, and say so.
    assert len(pick(events, "not_tested", "6.1")) == 3


def test_a_quarter_missing_leaves_each_sum_reaching_it_not_tested(tmp_path):
    rows = [r for r in ROWS if r[0] != "1998-06-30"]
    events = monitor(package(tmp_path), acme(tmp_path, rows), date(1999, 3, 31)).events
    assert results_of(events, "6.1") == {}
    reasons = {e.date: e.details["reason"] for e in pick(events, "not_tested", "6.1")}
    assert reasons[date(1998, 12, 31)] == (
        "ebitda_four_quarters, consolidated_ebitda over the 4 fiscal quarters 1998Q1 to "
        "1998Q4: not reported for 1998Q2 (financials.csv row 4)"
    )
    assert reasons[date(1999, 3, 31)].endswith("not reported for 1998Q2 (financials.csv row 5)")


def test_a_blank_quarter_leaves_the_sums_reaching_it_not_tested(tmp_path):
    rows = [*ROWS[:2], ["1998-09-30", "25,000,000", ""], *ROWS[3:]]
    events = monitor(package(tmp_path), acme(tmp_path, rows), date(1999, 3, 31)).events
    reasons = [e.details["reason"] for e in pick(events, "not_tested", "6.1")]
    assert sum("not reported for 1998Q3 (financials.csv" in r for r in reasons) == 2
    assert results_of(events, "6.1") == {}


def test_an_appended_quarter_is_summed_from_the_quarters_a_run_recorded(tmp_path, loads):
    """The quarters before it come from the tail the earlier run recorded; the facility is not
    loaded whole, and the log holds what a whole evaluation records."""
    package(tmp_path)
    acme(tmp_path, ROWS[:4])
    assert run(tmp_path, "1998-12-31") == 0
    # 9,500,000 as above; 28,500,000 / 9,500,000 = 3.00: compliant, so tested alone
    loads.clear()
    acme(tmp_path, [*ROWS[:4], ["1999-03-31", "28,500,000", "2,000,000"]])
    assert run(tmp_path, "1999-03-31") == 0
    # and a second: 2,000,000 + 3,000,000 + 2,000,000 + 3,000,000 = 10,000,000; 30,000,000
    # / 10,000,000 = 3.00, from the quarters the first appended run recorded
    second = ["1999-06-30", "30,000,000", "3,000,000"]
    acme(tmp_path, [*ROWS[:4], ["1999-03-31", "28,500,000", "2,000,000"], second])
    assert run(tmp_path, "1999-06-30") == 0
    assert loads == Counter()
    log = audit.read(tmp_path / "audit.db")
    appended = {e.date: e for e in log if e.run in (2, 3) and e.event == "test"}
    assert {d: Decimal(e.details["value"]) for d, e in appended.items()} == {
        date(1999, 3, 31): Decimal(3),
        date(1999, 6, 30): Decimal(3),
    }
    assert appended[date(1999, 6, 30)].details["note"] == (
        "ebitda_four_quarters = consolidated_ebitda of 1998Q3 (2000000) + 1998Q4 (3000000) "
        "+ 1999Q1 (2000000) + 1999Q2 (3000000)"
    )
    as_whole(tmp_path, list(appended.values()))


def as_whole(root: Path, tests: list[audit.StoredEvent]) -> None:
    """A whole evaluation of the same files records the same `tests`, version for version."""
    latest = max(t.date for t in tests)
    whole = monitor(root / "rules", root / "facts", latest).events
    versions = {e.date: e.version for e in pick(whole, "test", "6.1")}
    assert {t.date: t.version for t in tests} == {t.date: versions[t.date] for t in tests}


def appended_alone(root: Path, rows: list[list[str]], loads: Counter) -> audit.StoredEvent:
    """The test of the last of `rows` appended to the others in a second run: tested alone,
    from the tail the first run recorded (the facility not loaded whole), and as a whole
    evaluation records it."""
    acme(root, rows[:-1])
    assert run(root, rows[-2][0]) == 0
    loads.clear()
    acme(root, rows)
    assert run(root, rows[-1][0]) == 0
    assert loads == Counter()
    (test,) = [e for e in audit.read(root / "audit.db") if e.run == 2 and e.event == "test"]
    as_whole(root, [test])
    return test


def test_an_appended_quarter_whose_sum_breaches_is_evaluated_whole(tmp_path, loads):
    package(tmp_path)
    acme(tmp_path, ROWS[:4])
    assert run(tmp_path, "1998-12-31") == 0
    loads.clear()
    acme(tmp_path, ROWS)  # 3.1, more than 3.00
    assert run(tmp_path, "1999-03-31") == 1
    assert loads == Counter({"acme": 1})
    log = audit.read(tmp_path / "audit.db")
    assert only([e for e in log if e.run == 2], "breach", "6.1").date == date(1999, 3, 31)


def test_the_controller_reports_the_quarters_not_the_sum(tmp_path, capsys):
    package(tmp_path)
    # the sum's column is not financials.csv's
    acme(tmp_path, [[*r, "10,000,000"] for r in ROWS], [*HEADER, "ebitda_four_quarters"])
    assert run(tmp_path, "1999-03-31") == 2
    assert "row 1, column ebitda_four_quarters: unknown column" in capsys.readouterr().err
    # the quarters' column is required, as the covenant reads their sum
    acme(tmp_path, [r[:2] for r in ROWS], HEADER[:2])
    assert run(tmp_path, "1999-03-31") == 2
    err = capsys.readouterr().err
    assert "row 1, column consolidated_ebitda: required column is missing" in err
    assert not (tmp_path / "audit.db").exists()


def figure(**keys: str) -> str:
    """The package's agreement.toml with its sum's keys changed by `keys` (None: left out)."""
    body = {
        "name": '"ebitda_four_quarters"',
        "title": '"Consolidated EBITDA for the four fiscal quarters then ended"',
        "sum_of": '"consolidated_ebitda"',
        "quarters": "4",
        "source": f'"{CLAUSE}"',
    } | keys
    head = AGREEMENT[: AGREEMENT.rindex("[[agreement.figure]]")]
    lines = "".join(f"{k} = {v}\n" for k, v in body.items() if v is not None)
    return head + "[[agreement.figure]]\n" + lines


@pytest.mark.parametrize(
    ("agreement", "key", "message"),
    [
        (figure(quarters="1"), "quarters", "1: a sum runs over two fiscal quarters or more"),
        (figure(quarters='"four"'), "quarters", "expected a whole number"),
        (figure(quarters=None), "quarters", "required key is missing"),
        (
            figure(sum_of='"total_debt"'),
            "sum_of",
            "'total_debt' is not a figure reported at a quarter's end",
        ),
        # a balance, not a flow over a quarter
        (
            figure(sum_of='"tangible_net_worth"'),
            "sum_of",
            "'tangible_net_worth' is not a figure reported at a quarter's end",
        ),
        (figure(reported='"quarter_end"'), "reported", "is of quarter-end figures: it takes no"),
        (figure(non_negative="true"), "non_negative", "is of quarter-end figures: it takes no"),
        (figure(sum_of=None), "quarters", "goes with sum_of"),
        (figure(name='"inventory"'), "name", "financials.csv already has a column 'inventory'"),
    ],
)
def test_a_bad_sum_is_refused_naming_the_file_and_key(tmp_path, agreement, key, message):
    refused(package(tmp_path, agreement) / "leverage", key, message)


def test_a_sum_of_a_sum_is_refused(tmp_path):
    agreement = figure() + (
        '\n[[agreement.figure]]\nname = "ebitda_eight_quarters"\ntitle = "Eight quarters"\n'
        'sum_of = "ebitda_four_quarters"\nquarters = 2\nsource = "x"\n'
    )
    with pytest.raises(InputError) as raised:
        load_agreement(package(tmp_path, agreement) / "leverage")
    (problem,) = raised.value.problems
    assert problem.key == "agreement.figure[3].sum_of"
    assert "'ebitda_four_quarters' is not a figure reported at a quarter's end" in problem.message


def test_a_built_in_quarter_end_column_may_be_summed(tmp_path):
    agreement = figure(sum_of='"net_income"', name='"net_income_four_quarters"')
    leverage = LEVERAGE.replace("ebitda_four_quarters", "net_income_four_quarters")
    loaded = load_agreement(package(tmp_path, agreement, leverage) / "leverage")
    assert [(f.name, f.sum_of, f.quarters) for f in loaded.sums] == [
        ("net_income_four_quarters", "net_income", 4)
    ]
    # what financials.csv must hold: the column summed, not the sum
    required = [c.name for c in loaded.financials.columns if c.required]
    assert required == ["period_end", "net_income", "total_funded_debt"]


def test_the_terms_and_the_report_say_what_the_sum_adds_up(tmp_path, capsys):
    package(tmp_path)
    acme(tmp_path)
    assert run(tmp_path, "1999-03-31") == 1
    db = tmp_path / "audit.db"
    (terms,) = pick(audit.read(db), "agreement_terms")
    summed = terms.details["figures"][2]
    assert (summed["sum_of"], summed["quarters"]) == ("consolidated_ebitda", 4)
    assert "reported" not in summed
    capsys.readouterr()
    assert cli.main(["report", "--db", str(db)]) == 0
    assert (
        "`ebitda_four_quarters`, Consolidated EBITDA for the four consecutive fiscal quarters "
        "then ended, the sum of consolidated\\_ebitda over 4 fiscal quarters, the last the one "
        f"tested ({CLAUSE}, definition of Consolidated EBITDA)"
    ) in capsys.readouterr().out


def test_a_restated_quarter_restates_each_sum_reaching_it(tmp_path, capsys):
    """1998Q3's EBITDA corrected from 2,000,000 to 1,900,000: 1998Q4's sum is 9,900,000 and
    30,000,000 / 9,900,000 = 3.0303 (more than 3.00); 1999Q1's 9,400,000 and 28,500,000 /
    9,400,000 = 3.0319. The restatement names the one cell the controller changed."""
    package(tmp_path)
    rows = [*ROWS[:4], ["1999-03-31", "28,500,000", "2,000,000"]]
    acme(tmp_path, rows)
    assert run(tmp_path, "1999-03-31") == 0
    acme(tmp_path, [*rows[:2], ["1998-09-30", "25,000,000", "1,900,000"], *rows[3:]])
    assert run(tmp_path, "1999-03-31") == 1
    current = audit.read(tmp_path / "audit.db")
    (notice,) = pick(current, "restatement")
    assert [(c["row"], c["column"], c["old"], c["new"]) for c in notice.details["changes"]] == [
        ("period_end 1998-09-30", "consolidated_ebitda", "2000000", "1900000")
    ]
    assert {e.date: e.details["value"][:6] for e in pick(current, "breach", "6.1")} == {
        date(1998, 12, 31): "3.0303",
        date(1999, 3, 31): "3.0319",
    }
