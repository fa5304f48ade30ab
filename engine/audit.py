"""The audit log: an append-only, hash-chained SQLite file.

One transaction per run: either every new event of the run is recorded, or none is. An event
whose idempotency key is already in the log is not recorded again, so rerunning on the same
inputs records nothing. Triggers refuse UPDATE and DELETE; each row's hash covers the previous
row's hash, so an edit made behind the triggers' back shows in `verify`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .lifecycle import AuditEvent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    as_of TEXT NOT NULL,
    inputs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(run),
    key TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    agreement TEXT NOT NULL,
    covenant TEXT,
    date TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_no_update BEFORE UPDATE ON runs
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_no_delete BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
_GENESIS = "0" * 64


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    run: int
    recorded_at: str
    as_of: date  # the as-of date of the run that recorded it
    event: str
    agreement: str
    covenant: str | None
    date: date
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The flat form of `log --json`: the contract's fields first, then the details."""
        return {
            "seq": self.seq,
            "run": self.run,
            "recorded_at": self.recorded_at,
            "as_of": self.as_of.isoformat(),
            "event": self.event,
            "agreement": self.agreement,
            "covenant": self.covenant,
            "date": self.date.isoformat(),
            **self.details,
        }


class AuditLogMissing(Exception):
    pass


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _hash(prev: str, key: str, details: str) -> str:
    return hashlib.sha256(f"{prev}\n{key}\n{details}".encode()).hexdigest()


def record(
    path: Path, events: Iterable[AuditEvent], as_of: date, inputs: dict[str, Any]
) -> list[StoredEvent]:
    """Append the events not yet in the log, in one transaction; return those appended."""
    events = list(events)
    connection = _connect(path)
    try:
        connection.executescript(_SCHEMA)  # idempotent; executescript commits, so first
        connection.execute("BEGIN IMMEDIATE")
        known = {row[0] for row in connection.execute("SELECT key FROM events")}
        fresh, seen = [], set()
        for event in events:
            if event.key not in known and event.key not in seen:
                seen.add(event.key)
                fresh.append(event)
        if not fresh:
            connection.execute("ROLLBACK")
            return []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        run = connection.execute(
            "INSERT INTO runs (recorded_at, as_of, inputs) VALUES (?, ?, ?)",
            (now, as_of.isoformat(), json.dumps(inputs, sort_keys=True)),
        ).lastrowid
        prev = connection.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        prev_hash = prev[0] if prev else _GENESIS
        stored = []
        for event in fresh:
            details = json.dumps(event.details, sort_keys=True)
            digest = _hash(prev_hash, event.key, details)
            seq = connection.execute(
                "INSERT INTO events (run, key, event, agreement, covenant, date, details,"
                " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run,
                    event.key,
                    event.event,
                    event.agreement,
                    event.covenant,
                    event.date.isoformat(),
                    details,
                    prev_hash,
                    digest,
                ),
            ).lastrowid
            prev_hash = digest
            stored.append(
                StoredEvent(
                    seq,
                    run,
                    now,
                    as_of,
                    event.event,
                    event.agreement,
                    event.covenant,
                    event.date,
                    event.details,
                )
            )
        connection.execute("COMMIT")
        return stored
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


def read(path: Path) -> list[StoredEvent]:
    if not path.exists():
        raise AuditLogMissing(f"no audit log at {path}; run `covenant-monitor run` first")
    connection = _connect(path)
    try:
        rows = connection.execute(
            "SELECT e.seq, e.run, r.recorded_at, r.as_of, e.event, e.agreement, e.covenant, e.date,"
            " e.details FROM events e JOIN runs r USING (run) ORDER BY e.seq"
        ).fetchall()
    except sqlite3.OperationalError as error:
        raise AuditLogMissing(f"{path} is not a covenant-monitor audit log: {error}") from error
    finally:
        connection.close()
    return [
        StoredEvent(
            seq,
            run,
            at,
            date.fromisoformat(as_of),
            event,
            agreement,
            covenant,
            date.fromisoformat(day),
            json.loads(details),
        )
        for seq, run, at, as_of, event, agreement, covenant, day, details in rows
    ]


def verify(path: Path) -> list[str]:
    """Problems with the hash chain; empty when every row is as it was written."""
    connection = _connect(path)
    try:
        rows = connection.execute(
            "SELECT seq, key, details, prev_hash, hash FROM events ORDER BY seq"
        ).fetchall()
    finally:
        connection.close()
    problems, prev_hash = [], _GENESIS
    for seq, key, details, stored_prev, digest in rows:
        if stored_prev != prev_hash or digest != _hash(prev_hash, key, details):
            problems.append(f"event {seq} does not match the chain")
        prev_hash = digest
    return problems
