"""The audit log: append-only, hash-chained, one transaction per run; `verify` names the first
row changed behind the monitor's back, and `run` refuses to add to a log whose tail does not
end where the last run left it (or to any such log, with --verify). Each test runs on
both stores (a SQLite file and a PostgreSQL schema) unless it is about one of them."""

from datetime import date

import pytest

from conftest import EXAMPLE_FACTS, LATE, RULES, Store, run
from engine import audit
from engine.cli import main
from engine.lifecycle import AuditEvent


@pytest.fixture
def db(store_log: Store) -> Store:
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    assert main([*args, "--as-of", "1997-12-31"]) == 1
    assert main(args) == 1  # a second run, so the chain crosses a run boundary
    return store_log


def verify(db: Store, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "--db", str(db)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_intact_log_verifies_and_prints_its_head(db, capsys):
    code, out = verify(db, capsys)
    assert code == 0
    assert f"intact: 2 runs, {len(audit.read(db.db, history=True))} events" in out
    assert audit.head(db.db) in out


def test_rows_cannot_be_updated_or_deleted(db, capsys):
    for statement in (
        "UPDATE events SET details = '{}' WHERE seq = 1",
        "DELETE FROM events",
        "UPDATE runs SET as_of = '2000-01-01'",
        "DELETE FROM files",
    ):
        with pytest.raises(db.append_only_error(), match="append-only"):
            db.query(statement)
    assert verify(db, capsys)[0] == 0


def test_an_edited_event_is_named(db, capsys):
    db.intrude("""UPDATE events SET details = '{"value": "0"}' WHERE seq = 40""")
    code, out = verify(db, capsys)
    assert code == 5
    assert "event 40 was altered" in out


def test_reformatting_an_event_without_changing_its_meaning_is_still_an_edit(db, capsys):
    ((details,),) = db.query("SELECT details FROM events WHERE seq = 3")
    spaced = details.replace('","', '", "')
    assert spaced != details
    db.intrude("UPDATE events SET details = " + "'" + spaced.replace("'", "''") + "' WHERE seq = 3")
    assert "event 3 was altered" in verify(db, capsys)[1]


def test_a_deleted_event_is_named(db, capsys):
    db.intrude("DELETE FROM events WHERE seq = 12")
    code, out = verify(db, capsys)
    assert code == 5 and "event 12 is missing" in out


def test_the_last_event_of_a_run_deleted_is_named(db, capsys):
    last = audit.read(db.db, history=True)[-1].seq
    db.intrude(f"DELETE FROM events WHERE seq = {last}")
    assert f"event {last} is missing" in verify(db, capsys)[1]


def test_swapped_events_are_named(db, capsys):
    db.intrude(
        "UPDATE events SET seq = -1 WHERE seq = 20",
        "UPDATE events SET seq = 20 WHERE seq = 21",
        "UPDATE events SET seq = 21 WHERE seq = -1",
    )
    code, out = verify(db, capsys)
    assert code == 5 and "event 20 was altered or moved" in out


def test_an_event_added_outside_a_run_is_named(db, capsys):
    last = audit.read(db.db, history=True)[-1].seq
    db.intrude(
        f"INSERT INTO events SELECT {last + 1}, run, key || 'x', version, event, agreement,"
        f" covenant, date, details, supersedes, hash, hash FROM events WHERE seq = {last}",
    )
    assert f"event {last + 1} was added outside any run" in verify(db, capsys)[1]


def test_an_edited_run_record_is_named_by_its_first_event(db, capsys):
    first_of_run_2 = min(e.seq for e in audit.read(db.db, history=True) if e.run == 2)
    db.intrude("UPDATE runs SET as_of = '2030-01-01' WHERE run = 2")
    code, out = verify(db, capsys)
    assert code == 5 and f"run 2 (from event {first_of_run_2}) was altered" in out


def test_an_edited_stored_input_file_is_found(db, capsys):
    zero = "x'00'" if db.kind == "sqlite" else "decode('00', 'hex')"
    db.intrude(f"UPDATE files SET content = {zero}")
    code, out = verify(db, capsys)
    assert code == 5 and "run 1: stored input" in out


def _run_on(db: Store, *extra: str) -> int:
    return main(
        ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db), *extra]
    )


def test_run_with_verify_refuses_a_tampered_log_and_writes_nothing(db, capsys):
    db.intrude("""UPDATE events SET details = '{}' WHERE seq = 2""")
    before = db.contents()
    assert _run_on(db, "--verify") == 5
    assert "fails verification: event 2 was altered" in capsys.readouterr().err
    assert db.contents() == before


def _newest_run(db: Store) -> tuple[int, int, int]:
    ((run, first, count),) = db.query(
        "SELECT run, first_seq, events FROM runs ORDER BY run DESC LIMIT 1"
    )
    return run, first, first + count - 1


@pytest.mark.parametrize("which", ["first", "last"])
def test_run_refuses_a_log_whose_newest_run_was_edited(db, capsys, which):
    """Without --verify a run checks the tail only (constant time): the newest run row and the
    first and last of its events."""
    _, first, last = _newest_run(db)
    seq = first if which == "first" else last
    db.intrude(f"UPDATE events SET details = '{{}}' WHERE seq = {seq}")
    before = db.contents()
    assert _run_on(db) == 5
    assert f"fails verification: event {seq} was altered" in capsys.readouterr().err
    assert db.contents() == before


def test_run_refuses_a_log_whose_newest_run_row_was_edited(db, capsys):
    run, _, _ = _newest_run(db)
    db.intrude(f"UPDATE runs SET as_of = '2001-01-01' WHERE run = {run}")
    assert _run_on(db) == 5
    assert f"run {run} (from event" in capsys.readouterr().err


def test_run_refuses_a_log_with_its_newest_event_deleted(db, capsys):
    _, _, last = _newest_run(db)
    db.intrude(f"DELETE FROM events WHERE seq = {last}")
    assert _run_on(db) == 5
    assert f"event {last} is missing" in capsys.readouterr().err


def test_an_edit_deeper_in_the_log_is_left_to_verify(db, capsys):
    """The cost of a run does not grow with the log: an older row's edit is verify's to find
    (the deploy recipes verify before each scheduled run)."""
    db.intrude("""UPDATE events SET details = '{}' WHERE seq = 2""")
    assert _run_on(db) in (0, 1)
    code, out = verify(db, capsys)
    assert code == 5 and "event 2 was altered" in out


def test_a_run_that_fails_midway_writes_nothing(store_log):
    db = store_log.db
    good = AuditEvent("test", "cerplex", "6.18", date(1997, 9, 27), {"value": "1"}, "a")
    bad = AuditEvent("test", "cerplex", "6.18", date(1997, 9, 28), {"value": object()}, "b")
    with pytest.raises(TypeError):
        audit.record(db, [good, bad], LATE, {})
    assert audit.read(db) == []
    assert audit.verify(db).ok


def test_each_run_is_recorded_with_its_as_of_date(store_log):
    db = store_log.db
    stored = audit.record(
        db, run(EXAMPLE_FACTS, as_of=date(1996, 12, 31)), date(1996, 12, 31), {"facts": "x"}
    )
    assert {e.run for e in stored} == {1}
    assert {e.as_of for e in audit.read(db)} == {date(1996, 12, 31)}


def test_a_log_of_another_version_is_refused_not_changed(store_log, capsys):
    if store_log.kind == "sqlite":
        store_log.query("CREATE TABLE events (seq INTEGER PRIMARY KEY, key TEXT)")
        says = "not an audit log of this version (schema 0, expected 2)"
    else:
        store_log.query("CREATE TABLE covenant_monitor (schema_version INTEGER)")
        store_log.query("INSERT INTO covenant_monitor VALUES (1)")
        says = "another version (schema 1, expected 2)"
    before = store_log.contents()
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    assert main(args) == 2
    assert says in capsys.readouterr().err
    assert store_log.contents() == before
