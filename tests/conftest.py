"""Helpers shared by the tests: write a borrower's facts, run the pipeline, pick events."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import settings

from engine import pipeline, runner, store
from engine.lifecycle import AuditEvent
from engine.pipeline import monitor
from engine.schema import TABLES

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLE_FACTS = ROOT / "facts"
LATE = date(2026, 1, 1)  # an as-of date after every fact

# Property-based tests: in CI (CI=true) the examples are derived from each test's name, so a
# red build can be rerun and seen again; elsewhere each run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def write_table(folder: Path, name: str, rows: Iterable[dict[str, object]]) -> Path:
    """Write `rows` as facts/<borrower>/<name>.csv with every column of that table."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLES[name].column_names)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def quarter(period_end: str, **figures: object) -> dict[str, object]:
    """A quarter-end row of financials; figures not given are neutral placeholders."""
    row: dict[str, object] = {
        "period_end": period_end,
        "net_income": "0",
        "accounts_receivable": "1",
        "inventory": "0",
        "wells_fargo_debt": "1",
        "current_assets": "1",
        "current_liabilities": "1",
        "tangible_net_worth": "0",
    }
    row.update(figures)
    return row


def ratio_quarter(period_end: str, current_assets: int) -> dict[str, object]:
    """A quarter that meets Cerplex's 6.18, 6.19 and 6.21; 6.20 is current_assets / 20,000,000.
    Written as a controller's spreadsheet writes figures, with thousands separators."""
    figures = {
        "net_income": 6000000,
        "accounts_receivable": 8000000,
        "inventory": 2000000,
        "wells_fargo_debt": 10000000,
        "current_assets": current_assets,
        "current_liabilities": 20000000,
        "tangible_net_worth": 9000000,
        "net_securities_proceeds": 0,
    }
    return {"period_end": period_end} | {k: f"{v:,}" for k, v in figures.items()}


@pytest.fixture
def loads(monkeypatch) -> Counter[str]:
    """Whole loads of a facility's facts, by facility (in this process: one worker)."""
    counted: Counter[str] = Counter()
    for module in (pipeline, runner):
        whole = module.load_facts

        def counting(folder, *args, whole=whole):
            counted[folder.name] += 1
            return whole(folder, *args)

        monkeypatch.setattr(module, "load_facts", counting)
    return counted


def interim(period_end: str, tangible_net_worth: str, **more: object) -> dict[str, object]:
    return {"period_end": period_end, "tangible_net_worth": tangible_net_worth, **more}


@pytest.fixture
def facts_dir(tmp_path: Path) -> Path:
    """An empty facts folder for the cerplex borrower; tests write the tables they need."""
    folder = tmp_path / "facts" / "cerplex"
    folder.mkdir(parents=True)
    return tmp_path / "facts"


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the rules, for tests that change or break a rule file."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def run(facts: Path, as_of: date = LATE, rules: Path = RULES) -> list[AuditEvent]:
    return monitor(rules, facts, as_of).events


def pick(events: list[AuditEvent], event: str, covenant: str | None = None) -> list[AuditEvent]:
    return [e for e in events if e.event == event and (covenant is None or e.covenant == covenant)]


def only(events: list[AuditEvent], event: str, covenant: str | None = None) -> AuditEvent:
    found = pick(events, event, covenant)
    assert len(found) == 1, f"expected one {event} for {covenant}, found {found}"
    return found[0]


# The audit log's two stores. Tests that take `store` run once on a SQLite file and once on a
# PostgreSQL schema of their own, on the server named by COVENANT_MONITOR_TEST_POSTGRES (.ci/run
# starts one on 127.0.0.1); without it they skip on PostgreSQL, unless
# COVENANT_MONITOR_REQUIRE_POSTGRES=1 makes that a failure.
POSTGRES = os.environ.get("COVENANT_MONITOR_TEST_POSTGRES")


class Store:
    """An audit log under test, and what an intruder or a checker does to it directly."""

    def __init__(self, kind: str, db: Path | str, server: str | None = None):
        self.kind, self.db, self._server = kind, db, server

    def __str__(self) -> str:
        return str(self.db)

    def _postgres(self):
        import psycopg

        return psycopg.connect(str(self.db), autocommit=True)

    def exists(self) -> bool:
        return store.exists(self.db)

    def contents(self) -> object:
        """Everything the log holds, to compare before and after (a lock file aside)."""
        if self.kind == "sqlite":
            return Path(self.db).read_bytes() if Path(self.db).exists() else None
        if not self.exists():
            return None
        with self._postgres() as connection:
            present = connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()
            return {
                table: connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in (*store.TABLES, "covenant_monitor")
                if (table,) in present  # a table of a later version is missing from older logs
            }

    def intrude(self, *statements: str) -> None:
        """Change rows as an intruder would, with the append-only triggers out of the way."""
        if self.kind == "sqlite":
            connection = sqlite3.connect(self.db)
            for table in store.TABLES:
                for verb in ("update", "delete"):
                    connection.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
            for statement in statements:
                connection.execute(statement)
            connection.commit()
            connection.close()
            return
        with self._postgres() as connection:
            connection.execute("SET session_replication_role = replica")  # triggers off
            for statement in statements:
                connection.execute(statement)

    def query(self, statement: str) -> list[tuple]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.db) as connection:
                return connection.execute(statement).fetchall()
        with self._postgres() as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def append_only_error(self) -> type[Exception]:
        if self.kind == "sqlite":
            return sqlite3.DatabaseError
        import psycopg

        return psycopg.Error


@pytest.fixture(params=["sqlite", "postgresql"])
def store_log(request, tmp_path: Path) -> Iterator[Store]:
    """An empty place for an audit log, in each store."""
    if request.param == "sqlite":
        yield Store("sqlite", tmp_path / "log.db")
        return
    if not POSTGRES:
        if os.environ.get("COVENANT_MONITOR_REQUIRE_POSTGRES") == "1":
            pytest.fail("COVENANT_MONITOR_TEST_POSTGRES is not set")
        pytest.skip("no PostgreSQL server (set COVENANT_MONITOR_TEST_POSTGRES)")
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES else "?"
    try:
        yield Store("postgresql", f"{POSTGRES}{separator}options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
