"""The audit log: append-only, hash-chained, one transaction per run."""

import sqlite3
from datetime import date

import pytest

from conftest import EXAMPLE_FACTS, LATE, run
from engine import audit
from engine.lifecycle import AuditEvent


def test_rows_cannot_be_updated_or_deleted(tmp_path):
    db = tmp_path / "log.db"
    audit.record(db, run(EXAMPLE_FACTS), LATE, {})
    connection = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("UPDATE events SET details = '{}' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("DELETE FROM events")
    connection.close()
    assert audit.verify(db) == []


def test_the_hash_chain_shows_an_edit_made_behind_the_triggers(tmp_path):
    db = tmp_path / "log.db"
    audit.record(db, run(EXAMPLE_FACTS), LATE, {})
    connection = sqlite3.connect(db)
    connection.execute("DROP TRIGGER events_no_update")
    connection.execute("""UPDATE events SET details = '{"value": "0"}' WHERE seq = 5""")
    connection.commit()
    connection.close()
    assert audit.verify(db) == ["event 5 does not match the chain"]


def test_a_run_that_fails_midway_writes_nothing(tmp_path):
    db = tmp_path / "log.db"
    good = AuditEvent("test", "cerplex", "6.18", date(1997, 9, 27), {"value": "1"}, "a")
    bad = AuditEvent("test", "cerplex", "6.18", date(1997, 9, 28), {"value": object()}, "b")
    with pytest.raises(TypeError):
        audit.record(db, [good, bad], LATE, {})
    assert audit.read(db) == []


def test_each_run_is_recorded_with_its_as_of_date(tmp_path):
    db = tmp_path / "log.db"
    stored = audit.record(
        db, run(EXAMPLE_FACTS, as_of=date(1996, 12, 31)), date(1996, 12, 31), {"facts": "x"}
    )
    assert {e.run for e in stored} == {1}
    assert {e.as_of for e in audit.read(db)} == {date(1996, 12, 31)}
