"""Bad input across files and rule sets: every problem at once, nothing written. One broken
thing at a time is the catalogue's job (test_bad_input_catalogue.py)."""

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE_FACTS, RULES
from engine.cli import main
from engine.errors import InputError
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


def test_a_duplicate_period_is_refused(capsys, tmp_path, example):
    path = example / "cerplex" / "financials.csv"
    path.write_text(path.read_text() + '1997-11-29,,,,,,,,,"(1)",,\n')
    err = refused(capsys, tmp_path, example)
    assert "row 22, column period_end: duplicate period_end 1997-11-29 (also row 12)" in err


def test_a_date_that_is_not_a_date_is_refused(capsys, tmp_path, example):
    edit(example / "cerplex" / "revolver.csv", "1997-09-15", "1997-09-31")
    err = refused(capsys, tmp_path, example)
    assert "revolver.csv, row 8, column date: '1997-09-31' is not a date" in err


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


def test_a_second_waiver_of_the_same_covenant_is_refused(rules_copy):
    folder = rules_copy / "cerplex"
    text = (folder / "instrument-waiver-1996-10-31.toml").read_text()
    (folder / "instrument-waiver-copy.toml").write_text(
        text.replace('id = "waiver-1996-10-31"', 'id = "waiver-copy"')
    )
    with pytest.raises(InputError, match=r"covenant 6\.3 already has a waiver"):
        load_agreement(folder)
