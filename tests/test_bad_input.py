"""Bad input is refused with file, row and column (or rule key), every problem at once, and
nothing is written: the audit log is left exactly as it was."""

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE_FACTS, RULES, quarter, write_table
from engine.cli import main
from engine.errors import InputError
from engine.facts import load_facts
from engine.rules import load_agreement


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A writable copy of the example facts."""
    shutil.copytree(EXAMPLE_FACTS, tmp_path / "facts")
    return tmp_path / "facts"


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def refused(capsys, tmp_path: Path, facts: Path, rules: Path = RULES) -> str:
    """Run the CLI twice: once to build a log, then on the bad input; check nothing changed."""
    db = tmp_path / "log.db"
    assert (
        main(
            [
                "run",
                "--rules",
                str(RULES),
                "--facts",
                str(EXAMPLE_FACTS),
                "--db",
                str(db),
                "--as-of",
                "1997-01-01",
            ]
        )
        == 1
    )
    before = digest(db)
    capsys.readouterr()
    assert main(["run", "--rules", str(rules), "--facts", str(facts), "--db", str(db)]) == 2
    assert digest(db) == before
    return capsys.readouterr().err


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_non_number_is_refused_with_file_row_and_column(capsys, tmp_path, example):
    edit(example / "cerplex" / "financials.csv", '"9,000,000"', '"9,000,OOO"')
    err = refused(capsys, tmp_path, example)
    assert "financials.csv, row 10, column accounts_receivable: '9,000,OOO' is not a number" in err


def test_an_unbalanced_parenthesis_is_refused(capsys, tmp_path, example):
    edit(example / "cerplex" / "financials.csv", '"(1,600,000)"', '"1,600,000)"')
    assert "row 10, column net_income: unbalanced parenthesis" in refused(capsys, tmp_path, example)


def test_a_missing_required_column_is_refused(capsys, tmp_path, example):
    (example / "cerplex" / "revolver.csv").write_text(
        "date,revolving_loans_outstanding\n1997-09-02,4800000\n"
    )
    err = refused(capsys, tmp_path, example)
    assert (
        "revolver.csv, row 1, column revolving_loans_available: required column is missing" in err
    )


def test_a_duplicate_period_is_refused(capsys, tmp_path, example):
    path = example / "cerplex" / "financials.csv"
    path.write_text(path.read_text() + '1997-11-29,,,,,,,,,"(1)",,\n')
    err = refused(capsys, tmp_path, example)
    assert "row 22, column period_end: duplicate period_end 1997-11-29 (also row 12)" in err


def test_a_date_that_is_not_a_date_is_refused(capsys, tmp_path, example):
    edit(example / "cerplex" / "revolver.csv", "1997-09-15", "1997-09-31")
    err = refused(capsys, tmp_path, example)
    assert "revolver.csv, row 8, column date: '1997-09-31' is not a date" in err


def test_an_unknown_covenant_in_events_is_refused(capsys, tmp_path, example):
    edit(
        example / "cerplex" / "events.csv",
        "1996-12-28,reported_breach,6.3",
        "1996-12-28,reported_breach,6.33",
    )
    err = refused(capsys, tmp_path, example)
    assert "events.csv, row 7, column covenant: unknown covenant '6.33'" in err


def test_a_reported_breach_of_a_computed_covenant_is_refused(capsys, tmp_path, example):
    edit(
        example / "cerplex" / "events.csv",
        "1996-12-28,reported_breach,6.3",
        "1996-12-28,reported_breach,6.18",
    )
    assert "covenant 6.18 is computed from the facts" in refused(capsys, tmp_path, example)


def test_an_unknown_instrument_is_refused(capsys, tmp_path, example):
    edit(example / "cerplex" / "events.csv", ",waiver-1996-10-31,", ",waiver-1996-11-31,")
    assert "row 4, column instrument: unknown instrument 'waiver-1996-11-31'" in refused(
        capsys, tmp_path, example
    )


def test_every_problem_in_the_facts_is_reported_at_once(capsys, tmp_path, example):
    edit(example / "cerplex" / "financials.csv", '"9,000,000"', "nine million")
    edit(example / "cerplex" / "revolver.csv", "1997-09-15", "15/09/1997")
    edit(example / "cerplex" / "prime_rate.csv", "8.50", "eight")
    err = refused(capsys, tmp_path, example)
    assert "financials.csv, row 10" in err
    assert "revolver.csv, row 8" in err
    assert "prime_rate.csv, row 3, column rate_percent" in err


def test_a_broken_rule_file_is_refused_with_file_and_key(capsys, tmp_path, rules_copy):
    rule = rules_copy / "cerplex" / "covenant-6.20-current-ratio.toml"
    edit(rule, 'minimum = "0.44"', 'minimum = "0.44x"')
    edit(rule, "grace_days = 0", "grace_days = 0\ngrace_period = 5")
    err = refused(capsys, tmp_path, EXAMPLE_FACTS, rules_copy)
    assert (
        "covenant-6.20-current-ratio.toml, key covenant.schedule[2].minimum: '0.44x' is not" in err
    )
    assert "key covenant.grace_period: unknown key" in err


def test_overlapping_and_duplicate_schedule_rows_are_refused(rules_copy):
    rule = rules_copy / "cerplex" / "covenant-6.21-minimum-consolidated-tangible-net-worth.toml"
    edit(rule, "from = 1997-09-30", "from = 1997-09-15")  # overlaps the row before
    edit(rule, "from = 1998-03-31", "from = 1997-12-31")  # same start as the row before
    with pytest.raises(InputError) as error:
        load_agreement(rules_copy / "cerplex")
    text = str(error.value)
    assert "key covenant.schedule[1].from: row starting 1997-09-15 overlaps" in text
    assert "key covenant.schedule[3].from: duplicate row starting 1997-12-31" in text


def test_a_metric_can_only_be_arithmetic_on_known_fields(rules_copy):
    rule = rules_copy / "cerplex" / "covenant-6.20-current-ratio.toml"
    edit(
        rule,
        'metric = "current_assets / current_liabilities"',
        "metric = \"__import__('os').system('true')\"",
    )
    with pytest.raises(InputError, match=r"key covenant.metric: .*not allowed|unknown field"):
        load_agreement(rules_copy / "cerplex")


def test_invalid_toml_is_refused_with_its_file(rules_copy):
    (rules_copy / "cerplex" / "covenant-6.20-current-ratio.toml").write_text("[covenant\n")
    with pytest.raises(InputError, match=r"covenant-6.20-current-ratio.toml: not valid TOML"):
        load_agreement(rules_copy / "cerplex")


def test_a_row_with_no_figures_is_refused(facts_dir):
    write_table(facts_dir / "cerplex", "financials", [{"period_end": "1997-10-31"}])
    with pytest.raises(InputError, match="row 2, column tangible_net_worth: blank on a row"):
        load_facts(facts_dir / "cerplex", load_agreement(RULES / "cerplex"))


def test_a_fiscal_quarter_far_from_its_period_end_is_refused(facts_dir):
    write_table(
        facts_dir / "cerplex", "financials", [quarter("1997-06-28", fiscal_quarter="1997Q4")]
    )
    with pytest.raises(InputError, match="column fiscal_quarter: 1997Q4 ends near 1997-12-31"):
        load_facts(facts_dir / "cerplex", load_agreement(RULES / "cerplex"))


def test_an_unknown_facts_file_is_refused(facts_dir):
    (facts_dir / "cerplex" / "financial.csv").write_text("period_end\n")
    with pytest.raises(InputError, match=r"financial\.csv: unknown facts file"):
        load_facts(facts_dir / "cerplex", load_agreement(RULES / "cerplex"))


def test_a_second_waiver_of_the_same_covenant_is_refused(rules_copy):
    folder = rules_copy / "cerplex"
    text = (folder / "instrument-waiver-1996-10-31.toml").read_text()
    (folder / "instrument-waiver-copy.toml").write_text(
        text.replace('id = "waiver-1996-10-31"', 'id = "waiver-copy"')
    )
    with pytest.raises(InputError, match=r"covenant 6\.3 already has a waiver"):
        load_agreement(folder)
