"""Where the audit log lives: a SQLite file (the embedded default) or a PostgreSQL database
(`postgresql://...`, for teams and for several machines sharing one log).

Both hold the same tables, refuse UPDATE and DELETE with triggers, and are used through one
small interface (`execute`, `executemany`, `append`, `stream`, `begin_write`, `commit`,
`rollback`), with the SQL written once in SQLite's dialect and translated here for
PostgreSQL. A write transaction is exclusive on both: SQLite's BEGIN IMMEDIATE, PostgreSQL's
transaction-level advisory lock on the log's chain; so is a run (`run_lock`): flock on
`<db>.lock` beside a SQLite file, a session-level advisory lock in PostgreSQL (both released
if the holder dies).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 9
# Logs of these versions are read as they are, and upgraded by the next write. Version 3 stores
# a facility's tests of one run in one row (audit.TESTS), which the code of version 2 cannot
# read; version 4 stores them in shapes and figures, which that of version 3 cannot; version 5
# stores an input file that is an earlier one with lines added as that one's digest and the
# bytes added (`appended_files`), which that of version 4 would find missing; version 6 stores
# details that many events share (a package's terms) once, in `files`, each event's row holding
# their digest (lifecycle.SharedTexts), which that of version 5 would give as the details;
# version 7 stores the shapes of a tests row's tests once too, the row naming them by digest
# (audit.tests_text), which the code of version 6 cannot read; version 8 chains a tests row by
# the digest of its details (audit._tests_row), which the code of version 7 would find altered,
# and names the folder of its tests' source rows once, which that code would leave out of them;
# version 9 stores what a run read of each facility in a row of its own (`run_agreements`), not
# in the run row's inputs, where the code of version 8 would find none.
# An upgraded log tells older code so, where it would otherwise misread it.
UPGRADABLE = (2, 3, 4, 5, 6, 7, 8)
TABLES = ("runs", "events", "files", "channels", "deliveries", "appended_files", "run_agreements")
# PostgreSQL advisory locks are keyed (schema, lock), so logs in different schemas of one
# database do not wait for each other.
_CHAIN_LOCK, _RUN_LOCK = 1, 2
_LOCK_CHAIN = "SELECT pg_advisory_xact_lock(hashtext(current_schema()), %s)"  # till commit
# How long a write waits for another process's transaction before giving up (seconds). Runs
# normally queue on the run lock first, so this is a second line only.
BUSY_TIMEOUT = 60.0

_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    as_of TEXT NOT NULL,
    inputs TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    events INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    agreements INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(run),
    key TEXT NOT NULL,
    version TEXT NOT NULL,
    event TEXT NOT NULL,
    agreement TEXT NOT NULL,
    covenant TEXT,
    date TEXT NOT NULL,
    details TEXT NOT NULL,
    supersedes TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_agreement ON events (agreement);
CREATE TABLE IF NOT EXISTS files (sha256 TEXT PRIMARY KEY, content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    channel TEXT PRIMARY KEY,
    since_seq INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    channel TEXT NOT NULL REFERENCES channels(channel),
    seq INTEGER NOT NULL REFERENCES events(seq),
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (channel, seq)
);
"""
# An input file stored as the earlier one it extends (`base`, its digest, itself stored either
# way) and the bytes `added` after it: a quarter's row appended to each of ten thousand
# facilities' files added 43 MB to the log as whole files, 1.1 MB this way. Added in version 5.
_APPENDED_FILES_SQL = """
CREATE TABLE IF NOT EXISTS appended_files (
    sha256 TEXT PRIMARY KEY,
    base TEXT NOT NULL,
    added BLOB NOT NULL
);
"""
# What a run read of each facility (its manifest entry, `restate.Manifest`), in the order the
# run row's inputs name them (`position`), each a row of its own: held in the run row's inputs,
# a run of ten thousand facilities wrote a text of 4 MB, which it held whole, and SQLite copied,
# as it wrote it. The run row counts them (`agreements`; NULL where its inputs hold them, as
# they did before version 9), and the chain links the run row's inputs with them in it, as
# before. Added in version 9.
_RUN_AGREEMENTS_SQL = """
CREATE TABLE IF NOT EXISTS run_agreements (
    run INTEGER NOT NULL REFERENCES runs(run),
    position INTEGER NOT NULL,
    agreement TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (run, position)
);
"""


def _sqlite_append_only(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table}\n"
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        for verb in ("update", "delete")
    ]


def _postgres_append_only(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}\n"
        "FOR EACH STATEMENT EXECUTE FUNCTION append_only();\n"
    )


def _postgres_types(sql: str) -> str:
    """DDL in SQLite's types as PostgreSQL names them."""
    return sql.replace("INTEGER", "BIGINT").replace("BLOB", "BYTEA")


SQLITE_SCHEMA = (
    _TABLE_SQL
    + _APPENDED_FILES_SQL
    + _RUN_AGREEMENTS_SQL
    + "".join(f"{trigger};\n" for table in TABLES for trigger in _sqlite_append_only(table))
    + f"PRAGMA user_version = {SCHEMA_VERSION};\n"
)
POSTGRES_SCHEMA = (
    _postgres_types(_TABLE_SQL + _APPENDED_FILES_SQL + _RUN_AGREEMENTS_SQL)
    + "CREATE TABLE covenant_monitor (schema_version INTEGER NOT NULL);\n"
    + f"INSERT INTO covenant_monitor VALUES ({SCHEMA_VERSION});\n"
    + "CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;\n"
    + "".join(map(_postgres_append_only, (*TABLES, "covenant_monitor")))
)
# What upgrading a log adds to it, statement by statement, in the transaction of the write that
# upgrades it: the table of version 5 and its triggers to a log of a version before 5, and the
# table and column of version 9 to one before 9 (every version it upgrades); versions 6 to 8
# add none.
_ADD_RUN_AGREEMENTS = "ALTER TABLE runs ADD COLUMN agreements INTEGER"
_SQLITE_UPGRADE = [  # each IF NOT EXISTS but the column, which a log before 9 lacks
    _APPENDED_FILES_SQL,
    *_sqlite_append_only("appended_files"),
    _RUN_AGREEMENTS_SQL,
    *_sqlite_append_only("run_agreements"),
    _ADD_RUN_AGREEMENTS,
]
_POSTGRES_UPGRADE = [_postgres_types(_APPENDED_FILES_SQL), _postgres_append_only("appended_files")]
_POSTGRES_UPGRADE_9 = [
    _postgres_types(_RUN_AGREEMENTS_SQL),
    _postgres_append_only("run_agreements"),
    _postgres_types(_ADD_RUN_AGREEMENTS),
]


class AuditLogMissing(Exception):
    """No log at the place given, or one this version cannot use."""


class StoreError(Exception):
    """The database failed (SQLite's or PostgreSQL's own error, named)."""


Location = Path | str  # a SQLite file, or a postgresql:// URL


def is_postgres(db: Location) -> bool:
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def location(text: str) -> Location:
    """The --db argument: a URL stays text; anything else is a file path."""
    return text if is_postgres(text) else Path(text)


def shown(db: Location) -> str:
    """The log's location for messages, without a password."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", str(db))


class Connection:
    """One connection to a log, in either store."""

    postgres = False

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[tuple]) -> None:
        raise NotImplementedError

    def append(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        """Rows added to a table, each with a value for each of `columns`."""
        marks = ", ".join("?" * len(columns))
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def stream(self, sql: str) -> Iterator[tuple]:
        """Rows one at a time, not all in memory."""
        raise NotImplementedError

    def has_table(self, name: str) -> bool:
        """Whether the log has this table (one added by a later version may be missing from a
        log that no write has upgraded yet)."""
        raise NotImplementedError

    def reading(self) -> AbstractContextManager[None]:
        """One read transaction, which sees the log as of one moment in every statement and
        stream read in it: a reader that takes no lock (`verify`) must not see a run that
        commits between two of its reads as half there."""
        raise NotImplementedError

    def begin_write(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")


class _SQLite(Connection):
    def __init__(self, raw: sqlite3.Connection):
        self.raw = raw

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self.raw.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[tuple]) -> None:
        self.raw.executemany(sql, rows)

    def stream(self, sql: str) -> Iterator[tuple]:
        return iter(self.raw.execute(sql))

    @contextmanager
    def reading(self) -> Iterator[None]:
        # A deferred transaction's shared lock, taken at its first read, holds off a writer's
        # commit until it ends (a rollback journal): what it reads is as of that read.
        self.raw.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            self.raw.execute("COMMIT")

    def begin_write(self) -> None:
        # A run writes millions of rows in one transaction. A page cache (in KiB) larger than
        # the default 2 MiB spills to the file less often; past 32 MiB it only adds memory
        # (the rows go in seq and facility order), and a spill is harmless: what the run reads
        # back meanwhile it reads in this transaction.
        self.raw.execute("PRAGMA cache_size = -32768")
        self.raw.execute("BEGIN IMMEDIATE")
        if self.raw.execute("PRAGMA user_version").fetchone()[0] in UPGRADABLE:
            for statement in _SQLITE_UPGRADE:  # transactional DDL
                self.raw.execute(statement)
            self.raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # undone by a rollback

    def has_table(self, name: str) -> bool:
        found = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(self.raw.execute(found, (name,)).fetchone()[0])


class _Postgres(Connection):
    postgres = True

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self.raw.execute(_postgres_sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[tuple]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(_postgres_sql(sql), rows)

    def append(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        """With COPY: the 35,713 rows of a 2,000-facility run took 0.36 s of this process's CPU
        time, against 0.92 to 1.16 s as INSERTs. Each row is sent as it is made, so the
        server stores rows while the next are made; a new COPY every `_COPY_ROWS` keeps each
        statement to a second or so of the server's time (a `statement_timeout` counts it)
        and costs only the wait for what the server has not yet stored."""
        sql, rows = f"COPY {table} ({', '.join(columns)}) FROM STDIN", iter(rows)
        with self.raw.cursor() as cursor:
            for first in rows:
                with cursor.copy(sql) as copy:
                    copy.write_row(first)
                    for row in itertools.islice(rows, _COPY_ROWS - 1):
                        copy.write_row(row)

    def stream(self, sql: str) -> Iterator[tuple]:
        # A server-side cursor lives in a transaction: its own, or the one `reading` holds
        # (cursors read at once each need a name of their own).
        name = f"stream_{next(_CURSORS)}"
        status = self.raw.info.transaction_status
        own = self.raw.transaction() if status == type(status).IDLE else nullcontext()
        with own, self.raw.cursor(name=name) as cursor:
            cursor.itersize = 2000
            cursor.execute(_postgres_sql(sql))
            yield from cursor

    @contextmanager
    def reading(self) -> Iterator[None]:
        # Read committed, the default, takes a snapshot for each statement (and each cursor);
        # repeatable read takes one for the whole transaction.
        with self.raw.transaction():
            self.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def has_table(self, name: str) -> bool:
        found = _TABLES_CREATED + " AND tablename = %s"
        return bool(self.raw.execute(found, (name,)).fetchone()[0])

    def begin_write(self) -> None:
        if self.execute("SELECT schema_version FROM covenant_monitor").fetchone()[0] in UPGRADABLE:
            self._upgrade()
        self.raw.execute("BEGIN")
        self.raw.execute(_LOCK_CHAIN, (_CHAIN_LOCK,))
        self.raw.execute(_LZ4_WHERE_BUILT_IN)

    def _upgrade(self) -> None:
        """In a transaction of its own: the table is append-only like the others, and turning
        that off locks it (every connection reads it) until the transaction ends."""
        with self.raw.transaction():
            self.raw.execute(_LOCK_CHAIN, (_CHAIN_LOCK,))
            version = self.execute("SELECT schema_version FROM covenant_monitor").fetchone()[0]
            if version not in UPGRADABLE:
                return  # another run upgraded it while this one waited for the lock
            for statement in (
                *(_POSTGRES_UPGRADE if version < 5 else ()),
                *_POSTGRES_UPGRADE_9,  # every version it upgrades is before 9
                "ALTER TABLE covenant_monitor DISABLE TRIGGER covenant_monitor_append_only",
                f"UPDATE covenant_monitor SET schema_version = {SCHEMA_VERSION}",
                "ALTER TABLE covenant_monitor ENABLE TRIGGER covenant_monitor_append_only",
            ):
                self.raw.execute(statement)


_CURSORS = itertools.count()
_COPY_ROWS = 10_000  # a first run's rows for 560 facilities: 0.6 to 0.8 s of the server's time
# The values a write stores out of line (a facility's tests row, tens of KB) compressed with
# LZ4 for its transaction (SET LOCAL), where the server has it (PostgreSQL 14 and later, built
# with it). Its default, pglz, took more than half of the time a run took to record: inserting
# a 2,000-facility run's 157 MB of details took 5.7 s with pglz, 2.2 s with LZ4, which stored
# them in 9% more space.
_LZ4_WHERE_BUILT_IN = (
    "SELECT set_config(name, 'lz4', true) FROM pg_settings"
    " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)


@cache
def _postgres_sql(sql: str) -> str:
    """SQLite's dialect, as this module writes it, in PostgreSQL's."""
    if sql.startswith("INSERT OR IGNORE"):
        sql = sql.replace("INSERT OR IGNORE", "INSERT", 1) + " ON CONFLICT DO NOTHING"
    return sql.replace("?", "%s")


def errors() -> tuple[type[Exception], ...]:
    """The exceptions either store raises for a database failure."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


@contextmanager
def connect(db: Location, create: bool = False) -> Iterator[Connection]:
    if is_postgres(db):
        with _connect_postgres(str(db), create) as connection:
            yield connection
        return
    path = Path(db)
    if not create and not path.exists():
        raise AuditLogMissing(f"no audit log at {path}; run `covenant-monitor run` first")
    raw = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
    try:
        try:
            raw.execute("PRAGMA foreign_keys = ON")
            _check_sqlite(raw, path, create)
        except sqlite3.DatabaseError as error:
            if "locked" in str(error):
                raise
            raise AuditLogMissing(f"{path} is not a covenant-monitor audit log: {error}") from error
        yield _SQLite(raw)
    finally:
        raw.close()


def _check_sqlite(raw: sqlite3.Connection, path: Path, create: bool) -> None:
    version = raw.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION or version in UPGRADABLE:
        return
    tables = raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if version == 0 and tables == 0:
        if not create:
            raise AuditLogMissing(f"{path} is an empty file, not an audit log")
        # 8 KiB pages, not SQLite's 4: a facility's tests row (tens of KB) spans fewer overflow
        # pages (with 4 KiB pages, inserting a 2,000-facility run's rows took half as long
        # again). Not 16 KiB: what a row does not fill its last overflow page with stays in its
        # leaf page, and with 16 KiB pages the log of a 10,000-facility run took 720 MB, not
        # 668 MB, and its writing was no faster (2.77 to 3.11 s, against 2.64 to 3.05 s).
        # Set before the first table, or it has no effect; a no-op if another run got there.
        raw.execute("PRAGMA page_size = 8192")
        # IF NOT EXISTS throughout: two first runs at once may both get here.
        raw.executescript(f"BEGIN IMMEDIATE;\n{SQLITE_SCHEMA}COMMIT;")
        return
    raise AuditLogMissing(
        f"{path} is not an audit log of this version (schema {version}, expected "
        f"{SCHEMA_VERSION}); keep it as it is and start a new log with --db"
    )


@contextmanager
def _connect_postgres(url: str, create: bool) -> Iterator[Connection]:
    try:
        import psycopg
    except ImportError as error:  # pragma: no cover - psycopg is a dependency
        raise AuditLogMissing("PostgreSQL needs the psycopg package") from error
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as error:
        raise AuditLogMissing(f"cannot connect to {shown(url)}: {error}") from error
    try:
        connection = _Postgres(raw)
        _check_postgres(connection, url, create)
        yield connection
    finally:
        raw.close()


# A plain query of the catalog, not to_regclass: its cache may not yet show a table another
# first run has just created while this one waited for the lock.
_TABLES_CREATED = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
_CREATED = _TABLES_CREATED + " AND tablename = 'covenant_monitor'"


def _check_postgres(connection: _Postgres, url: str, create: bool) -> None:
    if not connection.execute(_CREATED).fetchone()[0]:
        if not create:
            raise AuditLogMissing(f"no audit log in {shown(url)}; run `covenant-monitor run` first")
        with connection.raw.transaction():
            connection.raw.execute(_LOCK_CHAIN, (_CHAIN_LOCK,))
            if connection.execute(_CREATED).fetchone()[0]:
                return  # another first run created it while this one waited
            connection.raw.execute(POSTGRES_SCHEMA)
        return
    version = connection.execute("SELECT schema_version FROM covenant_monitor").fetchone()[0]
    if version != SCHEMA_VERSION and version not in UPGRADABLE:
        raise AuditLogMissing(
            f"{shown(url)} holds an audit log of another version (schema {version}, expected "
            f"{SCHEMA_VERSION}); keep it as it is and start a new log elsewhere"
        )


def exists(db: Location) -> bool:
    """Whether a log is already there (a run then verifies it before adding to it). An empty
    file is none yet: it is what a first run stopped between creating the file and committing
    its tables leaves, and the next run makes the log in it."""
    if not is_postgres(db):
        path = Path(db)
        return path.exists() and path.stat().st_size > 0
    try:
        with connect(db):
            return True
    except AuditLogMissing:
        return False


class LogBusy(Exception):
    """Another run held the lock for longer than this one would wait."""


@contextmanager
def run_lock(db: Location, wait: float) -> Iterator[None]:
    """Hold the log's run lock, waiting up to `wait` seconds for another run to finish."""
    if is_postgres(db):
        with _postgres_run_lock(str(db), wait):
            yield
        return
    path = Path(f"{db}.lock")
    try:
        handle = path.open("a+")
    except OSError as error:
        raise AuditLogMissing(f"cannot use the audit log {db}: {error}") from error
    with handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise LogBusy(
                        f"another run (pid {holder}) holds {path}; waited {wait:g} s. "
                        "Nothing was written; the next scheduled run will catch up."
                    ) from None
                time.sleep(0.05)
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _postgres_run_lock(url: str, wait: float) -> Iterator[None]:
    """A session-level advisory lock, held by a connection of its own for the whole run."""
    with connect(url, create=True) as connection:
        deadline = time.monotonic() + wait
        take = "SELECT pg_try_advisory_lock(hashtext(current_schema()), ?)"
        while not connection.execute(take, (_RUN_LOCK,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                holder = connection.execute(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = ?"
                    " AND objsubid = 2 AND granted",
                    (_RUN_LOCK,),
                ).fetchone()
                raise LogBusy(
                    f"another run (server pid {holder[0] if holder else 'unknown'}) holds the "
                    f"run lock of {shown(url)}; waited {wait:g} s. Nothing was written; the "
                    "next scheduled run will catch up."
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            connection.execute(
                "SELECT pg_advisory_unlock(hashtext(current_schema()), ?)", (_RUN_LOCK,)
            )
