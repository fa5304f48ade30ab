"""`run --dry-run`: what a run would record, printed as the run prints it, then rolled back, so
a controller can check draft figures before delivering them and a reviewer can see what the
next run will say; nothing is written and nobody is alerted."""

import json

from conftest import EXAMPLE_FACTS, RULES, Store
from engine.cli import main


def run(db: object, *extra: str) -> int:
    return main(
        ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db), *extra]
    )


def events(out: str) -> list[str]:
    return [line for line in out.splitlines() if line[:2] == "19"]


def test_a_dry_run_prints_what_the_run_then_records_and_writes_nothing(store_log: Store, capsys):
    """On the example's log as of December 31, 1997, a dry run as of March 31, 1998 prints the
    events the run as of that date then records, line for line, among them 6.21's breach of
    January 31, 1998 (a Consolidated Tangible Net Worth of ($14,700,000) against the floor of
    ($14,642,000) in force from December 31, 1997: First Amendment, Exhibit A item 6) and the
    interest of February 19, 1998 in cash; the log is unchanged, and the webhook, which
    cannot be reached, is not tried (exit 1 as the run's, not 3)."""
    assert run(store_log.db, "--as-of", "1997-12-31") == 1
    before = store_log.contents()
    capsys.readouterr()
    webhook = ["--webhook", "http://127.0.0.1:9/unreachable"]
    assert run(store_log.db, "--as-of", "1998-03-31", "--dry-run", *webhook) == 1
    out = capsys.readouterr().out
    assert store_log.contents() == before
    rehearsed = events(out)
    assert any(
        line.startswith("1998-01-31  cerplex    6.21     breach ")
        and "($14,700,000) vs minimum ($14,642,000)" in line
        for line in rehearsed
    )
    assert any(line.startswith("1998-02-19  cerplex    4.1      amount_due ") for line in rehearsed)
    summary = out.strip().splitlines()[-1]
    assert " new event(s) would be recorded in " in summary
    assert summary.endswith("already in the log; nothing was written (--dry-run).")
    assert run(store_log.db, "--as-of", "1998-03-31") == 1
    recorded = capsys.readouterr().out
    assert events(recorded) == rehearsed
    counted = summary.split(" new event(s)")[0]
    assert recorded.strip().splitlines()[-1].startswith(f"{counted} new event(s) recorded in ")


def test_a_dry_run_without_a_log_makes_none(tmp_path, capsys):
    """With no log yet, a dry run rehearses on a temporary one: every event is new, and
    neither the log nor its lock file is made."""
    db = tmp_path / "covenant-monitor.db"
    assert run(db, "--as-of", "1997-12-31", "--dry-run") == 1
    rehearsed = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert run(db, "--as-of", "1997-12-31") == 1
    recorded = capsys.readouterr().out
    assert events(recorded) == events(rehearsed) != []


def test_a_dry_run_says_so_in_json_with_the_head_unchanged(tmp_path, capsys):
    db = tmp_path / "covenant-monitor.db"
    assert run(db, "--as-of", "1997-12-31", "--log-format", "json") == 1
    head = json.loads(capsys.readouterr().out.splitlines()[-1])["head"]
    assert run(db, "--as-of", "1998-03-31", "--dry-run", "--log-format", "json") == 1
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["dry_run"] is True and summary["head"] == head and summary["new"] > 0
    assert main(["verify", "--db", str(db)]) == 0


def test_a_dry_run_of_a_replay_is_refused(tmp_path, capsys):
    db = tmp_path / "covenant-monitor.db"
    assert run(db, "--as-of", "1997-12-31") == 1
    capsys.readouterr()
    assert main(["run", "--db", str(db), "--known-as-of", "2100-01-01", "--dry-run"]) == 2
    assert "--dry-run cannot be given with --known-as-of" in capsys.readouterr().err
