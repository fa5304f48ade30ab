"""The audit log: an append-only, hash-chained SQLite ledger of runs and the events they found.

- One transaction per run: every new event of a run is recorded, or none is (a process killed
  mid-run leaves the log as it was; SQLite's journal rolls the half-written transaction back).
- An event has a stable identity (`key`: agreement, kind, covenant, date) and a `version` (a
  digest of what it says, the facts it was computed from included). A rerun on the same inputs
  records nothing; an event whose inputs were corrected is recorded again as a new version that
  supersedes the old one, and events that no longer hold are withdrawn by a `restatement` event.
  Nothing is updated or deleted: the current view is every row that no later row supersedes.
- Bitemporal: an event's `date` is the day it is about; its run's `recorded_at` is when the
  monitor learnt it. Reading with `known_as_of` gives the log as it stood at that moment.
- Each run stores the exact input files it read (deduplicated by digest), so what the monitor
  knew at any moment can be re-evaluated (`run --known-as-of`) and restatements compared. A
  file that extends the one its facility's last run read is stored as that one's digest and
  the bytes added (`Appender.appended_file`), read back along the chain (`_file`).
- Storage: a row per event, but a facility's new covenant tests of one run share one row (kind
  `tests`, see `_stored`) that takes their seqs; every reader gives the tests one by one.
- Tamper evidence: one hash chain runs through every run row and every event row in order, each
  hash covering the row's canonical content and the previous hash. `verify` names the first row
  that was edited, deleted, inserted or reordered behind the monitor's back. A rewrite of the
  whole chain from some row on can only be caught against a copy of the head hash kept elsewhere;
  `run --log-format json` and `verify` print it for that purpose.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import pickle
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from json.encoder import encode_basestring
from typing import IO, Any, NamedTuple, Protocol

from .lifecycle import (
    AuditEvent,
    EventRow,
    Row,
    canonical,
    chained_text,
    key_of_test,
    measured_fields,
    shape_digest,
)
from .store import AuditLogMissing, Connection, Location, connect

GENESIS = "0" * 64
# The kind of row that stores a facility's new covenant tests of one run (`_stored`): it takes
# their seqs, its own first, and every reader gives the tests, not it.
TESTS = "tests"


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
    key: str = ""
    version: str = ""
    supersedes: tuple[int, ...] = ()
    superseded_by: int | None = None  # in the view it was read in

    def as_json(self) -> dict[str, Any]:
        """The flat form of `log --json`: the contract's fields first, then the details."""
        head: dict[str, Any] = {
            "seq": self.seq,
            "run": self.run,
            "recorded_at": self.recorded_at,
            "as_of": self.as_of.isoformat(),
            "event": self.event,
            "agreement": self.agreement,
            "covenant": self.covenant,
            "date": self.date.isoformat(),
            "version": self.version,
        }
        if self.supersedes:
            head["supersedes"] = list(self.supersedes)
        if self.superseded_by is not None:
            head["superseded_by"] = self.superseded_by
        return {**head, **self.details}


@dataclass(frozen=True)
class Run:
    run: int
    recorded_at: str
    as_of: date
    inputs: dict[str, Any]
    last_seq: int = 0  # of its events


@dataclass(frozen=True)
class Restatement:
    """What changed in one agreement's inputs since the run the current view rests on.

    `prior_keys` are the keys the previous inputs give at this run's as-of date: a current event
    among them that the corrected inputs no longer give is withdrawn. `changes` say why."""

    changes: list[dict[str, Any]]
    prior_keys: frozenset[str] | None  # None when the previous inputs could not be re-read


class RowSource(Protocol):
    """Where one facility's events wait until they are written, as a worker spools them
    (`lean`); or they are `Restored` from the rows that store them, given their shapes."""

    def load(self) -> Sequence[Row]: ...


class Rows(list[Row]):
    """Events in memory, as a worker spools them (`lean`)."""

    def load(self) -> Sequence[Row]:
        return self


class Restored:
    """A facility's events (as `lean` spooled them) made again from the rows that store them
    all (`stored_all`) and their (key, version) pairs, in order: a worker spools those two
    and not the events themselves when they give the events back (`restores`), halving what
    waits on disk. Loaded only for a facility with earlier events of which some changed."""

    def __init__(self, stored: Waiting, keyed: Waiting):
        self.stored, self.keyed = stored, keyed

    def load(self, shapes: Mapping[str, bytes]) -> list[Row]:
        """`shapes`: the files of the shapes its tests row names, by digest (handed on by the
        process that made it: `AuditEvent.details_file`)."""
        made: dict[tuple[str, str], list[Row]] = {}
        for row, _, _ in self.stored.load():
            for event in _unstored(row, shapes):
                made.setdefault((event[0], event[1]), []).append(event)
        for same in made.values():
            same.reverse()  # popped in their order
        return [made[pair].pop() for pair in self.keyed.load()]


def restores(stored: list[tuple[Row, list[int], int]]) -> bool:
    """Whether the rows `stored_all` made give back every event they store (`Restored`): yes
    unless it stored tests in schema 3's form, tests the lifecycle did not make."""
    return all(row[2] != TESTS or row[6].startswith(_DIGESTED) for row, _, _ in stored)


def _unstored(row: Row, files: Mapping[str, bytes]) -> list[Row]:
    """The events a row from `stored_all` stores, as `lean` made them; `files`, its shapes'."""
    if row[2] != TESTS:
        return [row]
    agreement, stored = row[3], json.loads(row[6])
    folder = stored["folder"]
    texts = [files[sha].decode() for sha in stored["shapes"]]
    shapes = [(text, json.loads(text)["covenant"]) for text in texts]
    events = []
    for index, day, version, *figures in stored["tests"]:
        shape, covenant = shapes[index]
        key = key_of_test(agreement, covenant, day, figures[1])  # figures[1]: the period
        values = canonical([day, version, *figures])
        measured = (shape, values, folder)
        events.append((key, version, "test", agreement, covenant, day, None, measured))
    return events


class SpooledPairs(Sequence[tuple[str, str]]):
    """A facility's (key, version) pairs, `count` of them, waiting in a worker's file until
    first read: a facility new to the log needs only their counts."""

    def __init__(self, spooled: Waiting, count: int):
        self.spooled, self.count = spooled, count
        self._pairs: list[tuple[str, str]] | None = None

    def _loaded(self) -> list[tuple[str, str]]:
        if self._pairs is None:
            self._pairs = self.spooled.load()
        return self._pairs

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        return self._loaded()[index]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._loaded())


class Spooled(NamedTuple):
    """Something pickled into a file, at `offset`, `size` bytes: a worker's output, waiting."""

    path: str
    offset: int
    size: int

    def load(self) -> Any:
        """Read with one pread on a bare descriptor: the one writing process loads two of these
        for each facility, and a buffered file object took twice as long (10 against 5 us)."""
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            return pickle.loads(os.pread(descriptor, self.size, self.offset))
        finally:
            os.close(descriptor)


class Kept(NamedTuple):
    """Something kept in memory by the process that made it and will load it: what `Spooled`
    is for what waits in a file."""

    value: Any

    def load(self) -> Any:
        return self.value


Waiting = Spooled | Kept  # where a worker's output waits for the writing process


class WaitingList(Sequence["Waiting | None"]):
    """Where each of a run's facilities' outputs waits (or None), in order, held as three
    integers each: a run keeps one for every facility until it has written them all, and a
    `Spooled` apiece (its tuple, its two integers and, loaded from a worker's file, a copy of
    the file's path) took about 0.3 KB, and held on to the memory of what each facility let
    go around it. The files' paths are kept once; what is `Kept` stays as it is."""

    _NONE, _KEPT = -1, -2  # in place of a file's number

    def __init__(self) -> None:
        # each: a file's number, offset and size; or _KEPT, its place in _kept, 0; or _NONE
        self._entries = array("q")
        self._paths: list[str] = []
        self._numbers: dict[str, int] = {}
        self._kept: list[Kept] = []

    def append(self, waiting: Waiting | None) -> None:
        if waiting is None:
            self._entries.extend((self._NONE, 0, 0))
        elif isinstance(waiting, Kept):
            self._entries.extend((self._KEPT, len(self._kept), 0))
            self._kept.append(waiting)
        else:
            number = self._numbers.get(waiting.path)
            if number is None:
                number = self._numbers[waiting.path] = len(self._paths)
                self._paths.append(waiting.path)
            self._entries.extend((number, waiting.offset, waiting.size))

    def __len__(self) -> int:
        return len(self._entries) // 3

    def __getitem__(self, index: int) -> Waiting | None:  # type: ignore[override]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._made(*self._entries[3 * index : 3 * index + 3])

    def __iter__(self) -> Iterator[Waiting | None]:
        entries = iter(self._entries)
        return (self._made(*entry) for entry in zip(entries, entries, entries, strict=True))

    def _made(self, number: int, offset: int, size: int) -> Waiting | None:
        if number == self._NONE:
            return None
        if number == self._KEPT:
            return self._kept[offset]
        return Spooled(self._paths[number], offset, size)


@dataclass(frozen=True)
class Verification:
    ok: bool
    message: str
    first_bad_seq: int | None = None
    head: str = GENESIS
    events: int = 0
    runs: int = 0


_NONE_SUPERSEDED = b',"[]"]'  # how most events end their part of the chain's text
_sha256 = hashlib.sha256


@dataclass
class _Chain:
    head: str = GENESIS

    def link(self, *fields: Any) -> tuple[str, str]:
        """(prev_hash, hash) for the next row of the chain."""
        canonical = chained_text([self.head, *fields])
        return self._advance(canonical)

    def link_event(self, seq: int, run: int, event: Row, supersedes: str) -> tuple[str, str]:
        """`link(*_event_fields(row))`, with the event's part of that JSON text made where the
        event was (`EventRow.chained`, UTF-8): a JSON array's text is its items' texts joined by
        commas, so the digest is the same, and the costly escaping and encoding are done in the
        workers."""
        prev = self.head
        digest = _sha256(b'["%s","event",%d,%d,' % (prev.encode(), seq, run))
        digest.update(event[7])
        digest.update(
            _NONE_SUPERSEDED if supersedes == "[]" else f",{json.dumps(supersedes)}]".encode()
        )
        self.head = digest.hexdigest()
        return prev, self.head

    def link_run(
        self, run: int, recorded_at: str, as_of: str, inputs: Iterable[str], first: int, count: int
    ) -> tuple[str, str]:
        """`link` for a run row: its inputs' text (a few hundred bytes for each facility it
        read, `_inputs_text`) given in pieces, escaped and digested some 64K characters at a
        time, never whole. A JSON string's text escapes each character alone."""
        prev = self.head
        before = chained_text([prev, "run", run, recorded_at, as_of, ""])
        digest = _sha256(before[:-2].encode())  # up to the quote that opens the inputs
        pieces: list[str] = []
        size = 0
        for piece in itertools.chain(inputs, [None]):
            if piece is not None:
                pieces.append(piece)
                size += len(piece)
            if size >= _PIECE or piece is None:
                digest.update(encode_basestring("".join(pieces))[1:-1].encode())
                pieces, size = [], 0
        digest.update(f'",{first},{count}]'.encode())
        self.head = digest.hexdigest()
        return prev, self.head

    def link_stored(self, row: tuple) -> tuple[str, str]:
        """(prev_hash, hash) for an event row as stored (its first ten columns)."""
        if row[4] != TESTS:
            return self.link(*_event_fields(row[:10]))
        return self.link_event(row[0], row[1], _tests_row(row[2:8], row[8]), row[9])

    def _advance(self, canonical: str) -> tuple[str, str]:
        prev = self.head
        self.head = hashlib.sha256(canonical.encode()).hexdigest()
        return prev, self.head


_PIECE = 1 << 16  # characters of a run row's inputs escaped at a time (`_Chain.link_run`)


def _inputs_text(fields: str, agreements: Iterable[tuple[str, str]] | None) -> Iterator[str]:
    """A run row's inputs as the chain links them, in pieces: its `inputs` column (`fields`),
    with what it read of each facility (its name's canonical text and its entry's, in order)
    under `agreements`, the first key as canonical text sorts them; as a run row held them
    before version 9 (`agreements` None: `fields` is that text)."""
    if agreements is None:
        yield fields
        return
    yield '{"agreements":{'
    comma = ""
    for name, entry in agreements:
        yield f"{comma}{name}:{entry}"
        comma = ","
    yield "}}" if fields == "{}" else "}," + fields[1:]


class RunInputs:
    """What a run read, as its run row records it: `fields` in its `inputs` column, and each
    facility's entry in a row of `run_agreements`, spooled to a temporary file as it comes
    (`add`), so that a run holds none of them (a few hundred bytes a facility). Facilities
    come in the order canonical text sorts keys, which is the order a run evaluates them in
    (by name), so that the chain links the text a run row's inputs held before version 9."""

    def __init__(self, spool: IO[str]) -> None:
        self.fields: dict[str, Any] = {}
        self.count = 0
        self.last: str | None = None
        self.spool = spool

    def add(self, facility: str, entry: dict[str, Any]) -> None:
        if self.last is not None and facility <= self.last:
            raise ValueError(f"{facility!r} comes after {self.last!r}: not in canonical order")
        # Canonical text escapes every tab and line end within it.
        self.spool.write(f"{canonical(facility)}\t{canonical(entry)}\n")
        self.last, self.count = facility, self.count + 1

    def text(self) -> str:
        """The `inputs` column: `fields` without the agreements, which are rows of their own."""
        if "agreements" in self.fields:
            raise ValueError("a run's agreements are added one by one, not among its fields")
        return canonical(self.fields)

    def linked_text(self) -> Iterator[str]:
        """The inputs as the chain links them, in pieces: `fields` with the agreements."""
        return _inputs_text(self.text(), self.agreements())

    def agreements(self) -> Iterator[tuple[str, str]]:
        """Each facility's name and entry as canonical text, in order, read again from the
        spool."""
        self.spool.seek(0)
        for line in self.spool:
            name, _, entry = line[:-1].partition("\t")
            yield name, entry


def _event_fields(row: tuple) -> tuple:
    seq, run, key, version, event, agreement, covenant, day, details, supersedes = row
    return ("event", seq, run, key, version, event, agreement, covenant, day, details, supersedes)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def record(
    path: Location,
    events: Iterable[AuditEvent],
    as_of: date,
    inputs: dict[str, Any],
    *,
    files: dict[str, bytes] | None = None,
    restatements: dict[str, Restatement] | None = None,
) -> list[StoredEvent]:
    """Append what is new in one transaction and return it (all events at once; a portfolio
    run streams them through `appending` instead)."""
    by_agreement: dict[str, list[AuditEvent]] = {}
    for event in events:
        by_agreement.setdefault(event.agreement, []).append(event)
    restatements = restatements or {}
    with appending(path, as_of) as log:
        for sha, content in (files or {}).items():
            log.file(sha, content)
        for agreement in sorted(set(by_agreement) | set(restatements)):
            log.details_files(by_agreement.get(agreement, []))
            rows = Rows(lean(e) for e in by_agreement.get(agreement, []))
            versions = [(row[0], row[1]) for row in rows]
            log.facility(agreement, versions, rows, restatements.get(agreement))
        for agreement, entry in sorted(inputs.get("agreements", {}).items()):
            log.inputs.add(agreement, entry)
        log.inputs.fields = {k: v for k, v in inputs.items() if k != "agreements"}
        log.commit()
    return list(written(path, log.first_seq, log.count))


@contextmanager
def appending(path: Location, as_of: date) -> Iterator[Appender]:
    """One write transaction: what `Appender.commit` has not committed is rolled back."""
    with (
        connect(path, create=True) as connection,
        tempfile.TemporaryFile() as spool,
        tempfile.TemporaryFile("w+", encoding="utf-8") as inputs,
    ):
        connection.begin_write()
        # Logs begun before portfolios lack it; each facility's view is read through it.
        connection.execute("CREATE INDEX IF NOT EXISTS events_by_agreement ON events (agreement)")
        appender = Appender(connection, as_of, spool, RunInputs(inputs))
        try:
            yield appender
        finally:
            if not appender.committed:
                connection.rollback()


# A facility's new events, as the indices of their rows (a range when they are all of them),
# and the seqs that some of them supersede, by index: not a pair for each event, pickled and
# loaded again, when a first run's tens of thousands of facilities supersede nothing.
Fresh = tuple[Sequence[int], dict[int, list[int]]]


@dataclass
class _Live:
    seq: int
    version: str
    date: str


class Appender:
    """Collects a run's new events facility by facility, then chains and commits them.

    New means: a key the facility's current view lacks, or a key whose current version differs
    (the new version supersedes it). With a `Restatement`, current events that the facility's
    previous inputs gave and its corrected inputs no longer give are withdrawn by a
    `restatement` event, which also lists what changed and every version it replaced. New events
    wait in a temporary file, not in memory: the run row that heads them in the chain counts
    them, so it can only be written once the last facility is done. A facility whose events
    are all new and wait already where its worker put them (`whole`) is kept as where they
    wait."""

    def __init__(self, connection: Connection, as_of: date, spool: IO[bytes], inputs: RunInputs):
        self.connection, self.as_of, self.spool = connection, as_of, spool
        self.inputs = inputs  # what the run read, which its run row records
        self.count = 0  # new events
        # each facility with new events, in order: where its worker put all of them (all new),
        # or None for a batch in the spool file (only these are pickled and loaded again:
        # 40 us a facility, when a first run or an added quarter has all of them this way)
        self.batches = WaitingList()
        self.committed = False
        self.first_seq: int | None = None  # of the events written, once committed
        self.new: Counter[str] = Counter()  # the events written, by kind
        self._files: list[tuple[str, bytes]] = []  # input files not yet stored
        self._appended: list[tuple[str, str, bytes]] = []  # and those stored as added bytes
        # the files that hold details events share (`details_file`), stored once if written,
        # and the digests of those the events written refer to
        self._details: dict[str, bytes] = {}
        self._referred: set[str] = set()
        self._log_ends: int | None = None  # the seq of the log's last event, once asked
        self._read_files = _Details(connection)  # the stored files of shapes `_live` reads

    def files(self, digests: Iterable[str]) -> dict[str, bytes]:
        """Stored input files, read in this transaction: a second connection could wait on
        this one's write lock."""
        self._store_files()
        return _files(self.connection, digests, "the audit log")

    def file(self, sha: str, content: bytes) -> None:
        """Store an input file by its digest (once), with others in one statement."""
        self._files.append((sha, content))
        if len(self._files) >= self._BATCH:
            self._store_files()

    def appended_file(self, sha: str, base: str, added: bytes) -> None:
        """Store an input file (by its digest, once) that is the stored file `base` (its
        digest) with the bytes `added` after it, with others in one statement."""
        self._appended.append((sha, base, added))
        if len(self._appended) >= self._BATCH:
            self._store_files()

    def details_file(self, sha: str, content: bytes) -> None:
        """The file that holds details that events share (`lifecycle.SharedTexts`), by its
        digest: stored, once, if an event written refers to it."""
        self._details[sha] = content

    def details_files(self, events: Iterable[AuditEvent]) -> None:
        """`details_file` of each of these events that has one."""
        for event in events:
            if event.details_file is not None:
                self.details_file(*event.details_file)

    def _store_files(self) -> None:
        if self._files:
            self.connection.executemany(
                "INSERT OR IGNORE INTO files (sha256, content) VALUES (?, ?)", self._files
            )
            self._files = []
        if self._appended:
            self.connection.executemany(
                "INSERT OR IGNORE INTO appended_files (sha256, base, added) VALUES (?, ?, ?)",
                self._appended,
            )
            self._appended = []

    def facility(
        self,
        agreement: str,
        versions: Sequence[tuple[str, str]],
        rows: RowSource | Restored,
        restatement: Restatement | Callable[[], Restatement | None] | None = None,
        whole: Waiting | None = None,
        distinct: int | None = None,
    ) -> list[str]:
        """Compare one facility's events, by (key, version), with its current view; the keys of
        current events left beside them (given no more, not withdrawn). `rows` holds the
        events themselves, in the same order: they are loaded only to be written. `distinct`:
        how many distinct keys `versions` holds, if its worker counted them.

        `restatement` may be given as a function, called only when its answer can matter: when
        an event is replaced or a current one is not produced again. Working out what earlier
        inputs give means evaluating them again, and a quarter appended to unchanged figures
        needs neither. `whole`: where the worker spooled the rows that store all of them
        (`stored_all`), written as they are if all of them are new."""
        live = self._live(agreement)
        if distinct is None:
            distinct = len({key for key, _ in versions})
        if not live and distinct == len(versions):
            # A facility new to the log (its first run): every event new, superseding none.
            self._spool(None, rows, (range(len(versions)), {}), whole)
            return []
        fresh: list[int] = []  # indices in rows
        superseded: dict[int, list[int]] = {}  # the seqs a fresh event supersedes, by index
        seen: set[str] = set()
        for index, (key, version) in enumerate(versions):
            if key in seen:
                continue
            seen.add(key)
            current = live.get(key)
            if current is None:
                fresh.append(index)
            elif current.version != version:
                fresh.append(index)
                superseded[index] = [current.seq]
        replaced = [seq for old in superseded.values() for seq in old]
        if callable(restatement):
            undone = replaced or not seen.issuperset(live)
            restatement = restatement() if undone else None
        notice = _restatement(agreement, live, seen, replaced, restatement)
        withdrawn = set(notice[1]) if notice else set()
        others = [k for k, e in live.items() if k not in seen and e.seq not in withdrawn]
        self._spool(notice, rows, (fresh, superseded))
        return sorted(others)

    def additions(self, count: int, whole: Waiting) -> None:
        """Record `count` events of a facility that are known to be new and to leave every
        current one standing (an appended quarter's compliant tests, its view otherwise
        unchanged since the run it extends: see `untouched_since`), without reading its view
        or the events: as the rows that store them all (`whole`, made by `stored_all`)."""
        self._spool(None, [], (range(count), {}), whole)

    def untouched_since(self, agreement: str, seq: int) -> bool:
        """Whether no event of this facility was recorded after `seq`: none at all was when the
        log ends there (asked once, not once for each facility)."""
        if self._log_end() <= seq:
            return True
        later = self.connection.execute(
            "SELECT 1 FROM events WHERE agreement = ? AND seq > ? LIMIT 1", (agreement, seq)
        ).fetchone()
        return later is None

    def _spool(
        self,
        notice: tuple[AuditEvent, list[int]] | None,
        rows: RowSource | Restored,
        fresh: Fresh,
        whole: Waiting | None = None,
    ) -> None:
        count = len(fresh[0]) + (notice is not None)
        if count and whole is not None:  # all of them, new, superseding none
            assert notice is None and isinstance(fresh[0], range) and not fresh[1]
            self.batches.append(whole)
        elif count:
            notice_row = (notice[0].row, notice[1]) if notice else None
            pickle.dump((notice_row, rows, fresh), self.spool, pickle.HIGHEST_PROTOCOL)
            self.batches.append(None)
        self.count += count

    def _log_end(self) -> int:
        """The seq of the log's last event as this transaction began (0: none); what this
        run adds waits in the spool until it commits."""
        if self._log_ends is None:
            self._log_ends = _last_seq(self.connection)
        return self._log_ends

    def _live(self, agreement: str) -> dict[str, _Live]:
        if not self._log_end():  # an empty log: a first run, nothing to read
            return {}
        rows = self.connection.execute(
            "SELECT seq, key, version, date, supersedes, event,"
            f" CASE WHEN event = '{TESTS}' THEN details END FROM events WHERE agreement = ?"
            " ORDER BY seq",
            (agreement,),
        ).fetchall()
        # A facility's events are superseded only by its own (new versions, restatements).
        superseded = _superseded((row[0], row[4]) for row in rows)
        live = {}
        for seq, key, version, day, _, kind, tests in rows:
            stored = (
                _test_versions(seq, agreement, tests, self._read_files)
                if kind == TESTS
                else [(seq, key, version, day)]
            )
            for number, name, digest, on in stored:
                if number not in superseded:
                    live[name] = _Live(number, digest, on)
        return live

    def commit(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Chain and write the new events after one run row, which records what the run read
        (`inputs`), and commit; `new` counts them by kind, and `first_seq` is the first one's
        seq (read them back with `written`). With nothing new, nothing is written.
        `progress(done, total)` counts the facilities whose events are written."""
        self.rehearse(progress)
        self.connection.commit()
        self.committed = True

    def rehearse(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Write what `commit` would, without committing (a dry run): `pending` reads it back
        in this transaction, which `appending` then rolls back."""
        self._store_files()
        if self.count:
            self._write(progress)

    def pending(self, skip: Collection[str] = ()) -> Iterator[StoredEvent]:
        """The events written in this transaction, as `written` reads a committed run's."""
        return _written(self.connection, self.first_seq, self.count, skip)

    _BATCH = 1000  # files per statement

    def _write(self, progress: Callable[[int, int], None] | None) -> None:
        connection, inputs = self.connection, self.inputs
        chain = _Chain(_head(connection))
        last = _last_seq(connection)
        self.first_seq = last + 1
        run_id = (connection.execute("SELECT max(run) FROM runs").fetchone()[0] or 0) + 1
        recorded_at, day, fields = now(), self.as_of.isoformat(), inputs.text()
        linked = inputs.linked_text()
        prev, digest = chain.link_run(run_id, recorded_at, day, linked, last + 1, self.count)
        connection.execute(
            "INSERT INTO runs (run, recorded_at, as_of, inputs, first_seq, events, prev_hash,"
            " hash, agreements) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, recorded_at, day, fields, last + 1, self.count, prev, digest, inputs.count),
        )
        connection.append(
            "run_agreements",
            ("run", "position", "agreement", "entry"),
            (
                (run_id, position, json.loads(name), entry)
                for position, (name, entry) in enumerate(inputs.agreements())
            ),
        )
        rows = self._chained_rows(chain, run_id, last, progress)
        connection.append("events", _EVENT_COLUMNS, rows)
        self._store_details_files()

    def _store_details_files(self) -> None:
        """The files that hold the shared details of the events written, each stored once.
        Every process that evaluates hands on the file of each it made (`details_file`); an
        event referring to one that neither it nor the log holds would be a bug, which must
        not be committed."""
        for sha in sorted(self._referred):
            content = self._details.get(sha)
            if content is not None:
                self.file(sha, content)
        self._store_files()
        for sha in self._referred - self._details.keys():
            stored = "SELECT 1 FROM files WHERE sha256 = ?"
            if self.connection.execute(stored, (sha,)).fetchone() is None:
                raise RuntimeError(f"an event refers to details no file holds ({sha})")

    def _chained_rows(
        self,
        chain: _Chain,
        run_id: int,
        last: int,
        progress: Callable[[int, int], None] | None,
    ) -> Iterator[tuple]:
        """The spooled events as rows of the events table, chained after seq `last`, made as
        they are written (`Connection.append`), so that PostgreSQL stores each while the
        next are made. Sent as statements of a thousand rows, each made in full first, the
        server sat idle while this process made rows (6.6 s of CPU time at 10,000
        facilities), and this process waited at the end of each statement (12 s)."""
        self.spool.seek(0)
        new, link, seq, referred = self.new, chain.link_event, last, self._referred
        for done, whole in enumerate(self.batches, 1):
            if whole is None:
                stored = _stored(_batch(*pickle.load(self.spool), self._details))
            else:
                stored = whole.load()
            for event, supersedes, span in stored:
                referred.update(_named_files(event[2], event[6]))
                old = canonical(supersedes) if supersedes else "[]"
                prev, digest = link(seq + 1, run_id, event, old)
                yield (seq + 1, run_id, *event[:7], old, prev, digest)
                new["test" if event[2] == TESTS else event[2]] += span  # a tests row: its tests
                seq += span
            if progress is not None:
                progress(done, len(self.batches))


_EVENT_COLUMNS = (
    "seq",
    "run",
    "key",
    "version",
    "event",
    "agreement",
    "covenant",
    "date",
    "details",
    "supersedes",
    "prev_hash",
    "hash",
)


def _batch(
    notice: tuple[EventRow, list[int]] | None,
    rows: RowSource | Restored,
    fresh: Fresh,
    shapes: Mapping[str, bytes],
) -> Iterator[tuple[Row, list[int]]]:
    """One facility's new events, as `Appender.facility` chose them, in the order written;
    `shapes` as `Restored.load` takes them."""
    if notice is not None:
        yield notice
    indices, superseded = fresh
    if indices:
        loaded = rows.load(shapes) if isinstance(rows, Restored) else rows.load()
        for index in indices:
            yield loaded[index], superseded.get(index, [])


def lean(event: AuditEvent) -> Row:
    """An event as a worker spools it: a plain tuple (it unpickles faster); a test the
    lifecycle made as a tests row stores it (`Measured`, made with the test), and another
    test without its details, which its chain text holds too."""
    spooled = event.spooled
    if spooled is not None:
        return spooled
    row = event.row
    return (*row[:6], None, row[7]) if row.event == "test" else tuple(row)


def _whole(row: Row) -> Row:
    """An event spooled `lean` as its own row stores it: with its details and chain text."""
    if row[6] is not None:
        return row
    chained = row[7]
    if isinstance(chained, tuple):  # Measured
        shape, values, folder = chained
        fields = measured_fields(row[3], json.loads(shape), json.loads(values), folder)
        details = canonical(fields[6])
        return (*row[:6], details, chained_text([*row[:6], details])[1:-1].encode())
    return (*row[:6], json.loads(b"[" + chained + b"]")[6], chained)


def _stored(items: Iterable[tuple[Row, list[int]]]) -> Iterator[tuple[Row, list[int], int]]:
    """One facility's new events as the rows that store them, each with how many seqs it
    takes: its new covenant tests (those superseding none), the bulk of a portfolio's log, in
    one row of kind `tests` where the first of them was; every other event in a row of its
    own. A row each for millions of tests was what the serial part of a run spent its time on:
    chaining and inserting."""
    items = list(items)
    tests = [row for row, old in items if row[2] == "test" and not old]
    for row, old in items:
        if row[2] != "test" or old:
            yield _whole(row), old, 1
        elif tests:
            yield _tests(tests), [], len(tests)
            tests = []


def stored_all(rows: Sequence[Row]) -> list[tuple[Row, list[int], int]]:
    """`_stored` of all of a facility's events (spooled `lean`), superseding none: made by its
    worker, in parallel, for the one writing process to write as they are when all of them are
    new (a first run, an appended quarter). Its tests are counted into one row, not handled one
    by one, when the lifecycle made them all (`tests_text`); the digest of that row's details,
    which the chain holds, is worked out here too, not in the one process that writes."""
    text = tests_text(rows)
    if text is None:
        return list(_stored((row, []) for row in rows))
    before, after, first, count = [], [], None, 0
    for row in rows:
        if row[2] == "test":
            first, count = first or row, count + 1
        else:
            (after if first else before).append((_whole(row), [], 1))
    assert first is not None
    tests = _tests_row(_tests_fields(first, count), text)
    return [*before, (tests, [], count), *after]


def tests_text(rows: Sequence[Row]) -> str | None:
    """The details of the row that stores the tests among these events (spooled `lean`) if
    the lifecycle made them all (None otherwise, or with no test)."""
    tests = [row for row in rows if row[2] == "test"]
    if not tests or not all(isinstance(row[7], tuple) for row in tests):  # each Measured
        return None
    folder = tests[0][7][2]
    shapes: dict[str, int] = {}
    entries = []
    for row in tests:
        shape, values, within = row[7]
        if within != folder:
            return None  # source rows in more than one folder: each test whole
        index = shapes.setdefault(shape, len(shapes))
        entries.append(f"[{index},{values[1:]}")
    named = '","'.join(map(shape_digest, shapes))
    where, tested = encode_basestring(folder), ",".join(entries)
    return f'{_DIGESTED}{_SHAPES_NAMED}{named}"],"folder":{where},"tests":[{tested}]}}'


def _tests(tests: list[Row]) -> Row:
    """The row holding these tests; `version` says how many. Its `details`, when the lifecycle
    made them all: the shapes they share (each `Measured`'s first part), each named once by
    the digest of the file that holds it, then each test as the index of its shape and the
    rest of it (its second), about a fifth of their whole texts (`tests_text`). Otherwise
    (schema 3's form): the JSON array of each one's fields as `EventRow` has them."""
    fields = _tests_fields(tests[0], len(tests))
    text = tests_text(tests)
    if text is not None:
        return _tests_row(fields, text)
    details = b"[[" + b"],[".join(_whole(row)[7] for row in tests) + b"]]"
    return _tests_row(fields, details.decode(), details)


def _tests_fields(first: Row, count: int) -> tuple[str, str, str, str, None, str]:
    """A `tests` row's first six columns: its key, its count of tests as its version, its kind,
    agreement, no covenant, and the first test's date."""
    return (f"{first[3]}|{TESTS}", str(count), TESTS, first[3], None, first[5])


def _tests_row(fields: Sequence[Any], details: str, encoded: bytes | None = None) -> Row:
    """A `tests` row from its first six columns and its details. Its part of the chain's text
    holds the SHA-256 digest of its details, as a JSON string, if they say so (`_DIGESTED`,
    schema 8): the worker that makes a facility's row works that out, not the one process
    that writes every row (0.4 s of its 2 to 3 s at 10,000 facilities). Otherwise (tests in
    schema 3's form, and every tests row of schemas 3 to 7), the details themselves, as the
    JSON they are (not as a JSON string, as an event's are: not escaped again)."""
    head = chained_text(list(fields))[1:-1].encode()
    encoded = encoded or details.encode()
    if details.startswith(_DIGESTED):
        return (*fields, details, b'%s,"%s"' % (head, _sha256(encoded).hexdigest().encode()))
    return (*fields, details, head + b"," + encoded)


# How a tests row's details begin when the chain holds their digest (schema 8), not them.
_DIGESTED = '{"chain":"sha256",'


def _unpacked(
    first: int, agreement: str, details: str, files: _Details
) -> Iterator[tuple[int, list[Any]]]:
    """Each test a `tests` row of this facility at seq `first` holds, with its seq: its fields
    as `EventRow` has them (details as text in schema 3's form, else as a dict). Its shapes
    are written in it before schema 7, named since (read from `files`)."""
    stored = json.loads(details)
    if isinstance(stored, list):
        return enumerate(stored, first)
    shapes = [json.loads(files[s]) if isinstance(s, str) else s for s in stored["shapes"]]
    folder = stored.get("folder", "")  # from schema 8
    tests = (measured_fields(agreement, shapes[t[0]], t[1:], folder) for t in stored["tests"])
    return enumerate(tests, first)


def _test_versions(
    first: int, agreement: str, details: str, files: _Details
) -> Iterator[tuple[int, str, str, str]]:
    """(seq, key, version, date) of each test a `tests` row holds: what comparing a facility
    with its view needs, without each test's details (`_unpacked` makes them: half the time a
    run took to compare a facility evaluated whole with the log, a rerun's after its package's
    rules changed)."""
    stored = json.loads(details)
    if isinstance(stored, list):  # schema 3: each test's fields whole
        return ((seq, test[0], test[1], test[5]) for seq, test in enumerate(stored, first))
    shapes = (json.loads(files[s]) if isinstance(s, str) else s for s in stored["shapes"])
    covenants = [shape["covenant"] for shape in shapes]
    # A test stored as [its shape, date, version, result, period, ...] (`_TestTexts.stored`).
    return (
        (seq, key_of_test(agreement, covenants[test[0]], test[1], test[4]), test[2], test[1])
        for seq, test in enumerate(stored["tests"], first)
    )


def _stored_event(
    seq: int,
    run: int,
    recorded_at: str,
    as_of: date,
    event: str,
    agreement: str,
    covenant: str | None,
    day: str,
    details: dict[str, Any],
    key: str,
    version: str,
    supersedes: str,
    superseded_by: int | None = None,
) -> StoredEvent:
    return StoredEvent(
        seq,
        run,
        recorded_at,
        as_of,
        event,
        agreement,
        covenant,
        date.fromisoformat(day),
        details,
        key,
        version,
        () if supersedes == "[]" else tuple(json.loads(supersedes)),  # most supersede none
        superseded_by,
    )


def _superseded(rows: Iterable[tuple[int, str]]) -> dict[int, int]:
    """{superseded seq: the seq that superseded it}"""
    found = {}
    for seq, supersedes in rows:
        if supersedes != "[]":  # most events supersede none: not parsed
            for old in json.loads(supersedes):
                found[old] = seq
    return found


def _restatement(
    agreement: str,
    live: dict[str, _Live],
    produced: set[str],
    replaced: list[int],
    restatement: Restatement | None,
) -> tuple[AuditEvent, list[int]] | None:
    """The event that withdraws what no longer holds and says why, or None if nothing does."""
    prior = restatement.prior_keys if restatement and restatement.prior_keys else frozenset()
    withdrawn = sorted(live[k].seq for k in prior if k in live and k not in produced)
    replaced = sorted(replaced)
    if not withdrawn and not replaced:
        return None
    undone = set(withdrawn) | set(replaced)
    affected = [e.date for e in live.values() if e.seq in undone]
    changes = restatement.changes if restatement else []
    details = {
        "rule": "restatement",
        "changes": changes,
        "withdrawn": withdrawn,
        "replaced": replaced,
        "reason": "the inputs changed since the events were recorded"
        if changes
        else "recomputed from unchanged inputs gives a different result (a new engine version?)",
    }
    digest = hashlib.sha256(canonical(details).encode()).hexdigest()[:16]
    when = date.fromisoformat(min(affected))
    return AuditEvent("restatement", agreement, None, when, details, digest), withdrawn


def _head(connection: Connection) -> str:
    last_run = connection.execute("SELECT hash FROM runs ORDER BY run DESC LIMIT 1").fetchone()
    last_event = connection.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    if last_run is None:
        return GENESIS
    # A run row is written before its events, and every run has at least one event.
    return last_event[0] if last_event else last_run[0]


def head(path: Location) -> str:
    """The latest hash of the chain: keep a copy elsewhere to catch a rewrite of the chain."""
    with connect(path) as connection:
        return _head(connection)


def last_seq(path: Location) -> int:
    """The seq of the log's last event (0: none). A reader that takes no lock and reads in
    several statements reads up to it (`through`), so that it sees the log as it stood then,
    not part of a run that commits meanwhile (a report: its facilities, then their views)."""
    with connect(path) as connection:
        return _last_seq(connection)


def _last_seq(connection: Connection) -> int:
    """The seq of the latest event: the last its run took (a `tests` row takes several)."""
    row = connection.execute(
        "SELECT first_seq + events - 1 FROM runs ORDER BY run DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else 0


def read(
    path: Location,
    *,
    history: bool = False,
    known_as_of: datetime | None = None,
    agreements: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
    after: int = 0,
) -> list[StoredEvent]:
    """The current view (each event as last restated, withdrawn events left out), or with
    `history` every row ever recorded; as the log stood at `known_as_of` if given. Only the
    facilities in `agreements`, the event kinds in `kinds` and events after seq `after`, if
    given (kinds only with history: a restatement of another kind may supersede an event)."""
    if kinds is not None and not history:
        raise ValueError("kinds filter the history only")
    with connect(path) as connection:
        details = _Details(connection)
        return _read(connection, details, history, known_as_of, agreements, kinds, after)


def stream(
    path: Location,
    *,
    history: bool = False,
    known_as_of: datetime | None = None,
    agreements: Collection[str] | None = None,
    since: datetime | None = None,
) -> Iterator[StoredEvent]:
    """What `read` gives, in seq order, a thousand rows at a time: a portfolio's log does not
    fit in memory; only what runs recorded at or after `since`, if given. The superseded seqs
    are found first (few: only restatements and new versions supersede); rows a run commits
    meanwhile are left out, so the view is the log as it stood when the stream began, though
    no lock is held."""
    with connect(path) as connection:
        where, values = ["e.seq <= ?"], [_last_seq(connection)]
        if known_as_of is not None:
            where.append("r.recorded_at <= ?")
            values.append(_cutoff(known_as_of))
        if since is not None:
            where.append("r.recorded_at >= ?")
            values.append(_cutoff(since))
        if agreements is not None:
            wanted = sorted(agreements)
            where.append(f"e.agreement IN ({', '.join('?' * len(wanted))})")
            values.extend(wanted)
        condition = " AND ".join(where)
        superseded = _superseded(
            connection.execute(
                "SELECT e.seq, e.supersedes FROM events e JOIN runs r USING (run)"
                f" WHERE e.supersedes != '[]' AND {condition}",
                values,
            ).fetchall()
        )
        after, details = 0, _Details(connection)
        while True:
            rows = connection.execute(
                f"{_SELECT_EVENTS} WHERE e.seq > ? AND {condition} ORDER BY e.seq LIMIT ?",
                (after, *values, _READ_BATCH),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield from _events(row, details, superseded, history)
            after = rows[-1][0]


def read_by_facility(
    path: Location,
    agreements: Iterable[str],
    known_as_of: datetime | None = None,
    through: int | None = None,
) -> Iterator[tuple[str, list[StoredEvent]]]:
    """Each facility's current view in turn, so that a portfolio's log is never in memory
    at once; the files of details they share read once for all of them. `through`: only the
    events up to that seq (`last_seq`), as the log stood when a reader began."""
    with connect(path) as connection:
        details = _Details(connection)
        for agreement in agreements:
            found = _read(connection, details, False, known_as_of, [agreement], None, 0, through)
            yield agreement, found


def facilities(
    path: Location, known_as_of: datetime | None = None, through: int | None = None
) -> list[tuple[str, date]]:
    """Every facility the log holds events of, with the as-of date of the latest run that
    recorded one (as the log stood at `known_as_of`, and up to seq `through`, if given)."""
    where, values = [], []
    if known_as_of is not None:
        where.append("r.recorded_at <= ?")
        values.append(_cutoff(known_as_of))
    if through is not None:
        where.append("e.seq <= ?")
        values.append(through)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    with connect(path) as connection:
        return _dated(connection, condition, values)


def facilities_where(path: Location, wanted: Callable[[str], bool]) -> list[tuple[str, date]]:
    """The facilities the log holds events of that are `wanted`, with the as-of date of the
    latest run that recorded one, by name. Chosen from the index of the events by facility
    (about 10 ms at ten thousand facilities), and only those wanted are dated (`facilities`
    joins every event to its run: 0.27 s), so a run can ask each time which are gone."""
    with connect(path) as connection:
        held = connection.execute("SELECT DISTINCT agreement FROM events").fetchall()
        names = [name for (name,) in held if wanted(name)]
        found = []
        for among, batch in _batches(names, "e.agreement"):
            found += _dated(connection, f" WHERE {among}", batch)
    return sorted(found)


def ended(path: Location, names: Sequence[str]) -> set[str]:
    """Those of the facilities `names` whose current view holds a `monitoring_ended` event: the
    latest evaluation of each stopped at the day its monitoring ended."""
    found = set()
    with connect(path) as connection:
        for among, batch in _batches(names, "agreement"):
            endings = connection.execute(
                f"SELECT seq, agreement FROM events WHERE event = ? AND {among}",
                ["monitoring_ended", *batch],
            ).fetchall()
            if not endings:
                continue
            superseded = _superseded(
                connection.execute(
                    f"SELECT seq, supersedes FROM events WHERE supersedes <> ? AND {among}",
                    ["[]", *batch],
                ).fetchall()
            )
            found.update(name for seq, name in endings if seq not in superseded)
    return found


def _batches(names: Sequence[str], column: str) -> Iterator[tuple[str, Sequence[str]]]:
    """Facility names a query's worth at a time, each batch with its condition `column IN
    (?, ...)`."""
    for start in range(0, len(names), _NAMES_A_QUERY):
        batch = names[start : start + _NAMES_A_QUERY]
        yield f"{column} IN ({', '.join('?' * len(batch))})", batch


_NAMES_A_QUERY = 500


def _dated(connection: Connection, condition: str, values: Sequence[Any]) -> list[tuple[str, date]]:
    """The facilities of the events that meet `condition`, by name, each with the as-of date
    of the latest run that recorded one of them."""
    rows = connection.execute(
        "SELECT e.agreement, max(r.as_of) FROM events e JOIN runs r USING (run)"
        f"{condition} GROUP BY e.agreement ORDER BY e.agreement",
        values,
    ).fetchall()
    return [(agreement, date.fromisoformat(day)) for agreement, day in rows]


def _cutoff(known_as_of: datetime) -> str:
    return known_as_of.astimezone(UTC).isoformat(timespec="microseconds")


def _read(
    connection: Connection,
    details: _Details,
    history: bool,
    known_as_of: datetime | None,
    agreements: Collection[str] | None,
    kinds: Collection[str] | None,
    after: int,
    through: int | None = None,
) -> list[StoredEvent]:
    where, values = ["e.seq > ?"], [after]
    if through is not None:
        where.append("e.seq <= ?")
        values.append(through)
    stored = _stored_kinds(kinds) if kinds is not None else None
    for column, wanted in (("agreement", agreements), ("event", stored)):
        if wanted is not None:
            wanted = sorted(wanted)
            where.append(f"e.{column} IN ({', '.join('?' * len(wanted))})")
            values.extend(wanted)
    rows = connection.execute(
        f"{_SELECT_EVENTS} WHERE {' AND '.join(where)} ORDER BY e.seq", values
    ).fetchall()
    if known_as_of is not None:
        cutoff = _cutoff(known_as_of)
        rows = [row for row in rows if row[2] <= cutoff]
    superseded = _superseded((row[0], row[11]) for row in rows)
    return [event for row in rows for event in _events(row, details, superseded, history)]


def written(
    path: Location, first_seq: int | None, count: int, skip: Collection[str] = ()
) -> Iterator[StoredEvent]:
    """The events one run wrote (`Appender.first_seq` and `count`), but the kinds in `skip`,
    read back a thousand at a time: a run of a large portfolio writes millions, and no read
    lock is held while the caller, say printing to a pipe, waits (it would hold up the next
    run's commit)."""
    if first_seq is None or not count:
        return
    with connect(path) as connection:
        yield from _written(connection, first_seq, count, skip)


def _written(
    connection: Connection, first_seq: int | None, count: int, skip: Collection[str]
) -> Iterator[StoredEvent]:
    if first_seq is None or not count:
        return
    skip = sorted(_stored_kinds(skip))
    sql = (
        f"{_SELECT_EVENTS} WHERE e.seq >= ? AND e.seq < ?"
        + (f" AND e.event NOT IN ({', '.join('?' * len(skip))})" if skip else "")
        + " ORDER BY e.seq"
    )
    end = first_seq + count
    details = _Details(connection)
    for start in range(first_seq, end, _READ_BATCH):
        batch = (start, min(start + _READ_BATCH, end), *skip)
        for row in connection.execute(sql, batch).fetchall():
            yield from _events(row, details)


_READ_BATCH = 1000
# What every reader of events selects, in the order `_event` takes it.
_SELECT_EVENTS = (
    "SELECT e.seq, e.run, r.recorded_at, r.as_of, e.event, e.agreement, e.covenant, e.date,"
    " e.details, e.key, e.version, e.supersedes FROM events e JOIN runs r USING (run)"
)


def _stored_kinds(kinds: Collection[str]) -> set[str]:
    """The kinds of rows that store events of these kinds."""
    return {*kinds, TESTS} if "test" in kinds else set(kinds)


class _Details:
    """An event row's details, as a dict: its `details` column is their JSON object, or the
    JSON string of the digest of the file that holds details that events share, stored once
    (`lifecycle.SharedTexts`). Each such file, and each file of a shape a tests row names, is
    read once by a reader (`[digest]`)."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.files: dict[str, bytes] = {}

    def __call__(self, text: str) -> dict[str, Any]:
        sha = _shared_digest(text)
        if sha is None:
            return json.loads(text)
        return json.loads(self[sha])  # a dict of its own for each event: readers may change it

    def __getitem__(self, sha: str) -> bytes:
        """The content of the file with this digest."""
        content = self.files.get(sha)
        if content is None:
            row = self.connection.execute(
                "SELECT content FROM files WHERE sha256 = ?", (sha,)
            ).fetchone()
            if row is None:
                raise AuditLogMissing(f"the audit log lacks the file {sha} of an event's details")
            content = self.files[sha] = bytes(row[0])
        return content


def _shared_digest(details: str) -> str | None:
    """The digest of the file that holds an event row's details, if they are stored once
    (`lifecycle.SharedTexts`: a JSON string, where other details are a JSON object)."""
    return details[1:-1] if details[0] == '"' else None


def _named_files(event: str, details: str) -> list[str]:
    """The digests of the files an event row's details name: the one that holds them, if
    stored once; a tests row's shapes, if named (from schema 7: `tests_text`), not written in
    it."""
    if event == TESTS:
        start = len(_DIGESTED) if details.startswith(_DIGESTED) else 1
        if not details.startswith(_SHAPES_NAMED, start):
            return []
        start += len(_SHAPES_NAMED)
        return details[start : details.index('"]', start)].split('","')
    shared = _shared_digest(details)
    return [] if shared is None else [shared]


_SHAPES_NAMED = '"shapes":["'


def _events(
    row: tuple,
    details: _Details,
    superseded: dict[int, int] | None = None,
    history: bool = True,
) -> Iterator[StoredEvent]:
    """The events one row read with `_SELECT_EVENTS` stores (a `tests` row, several), but
    those `superseded` unless `history`."""
    superseded = superseded or {}
    if row[4] != TESTS:
        if history or row[0] not in superseded:
            seq, run, at, as_of, event, agreement, covenant, day, text, *rest = row
            yield _stored_event(
                seq,
                run,
                at,
                date.fromisoformat(as_of),
                event,
                agreement,
                covenant,
                day,
                details(text),
                *rest,
                superseded.get(seq),
            )
        return
    first, run, at, as_of = row[:4]
    for seq, fields in _unpacked(first, row[5], row[8], details):
        if history or seq not in superseded:
            key, version, *rest, text = fields  # text: a dict, or JSON in schema 3's form
            yield _stored_event(
                seq,
                run,
                at,
                date.fromisoformat(as_of),
                *rest,
                text if isinstance(text, dict) else json.loads(text),
                key,
                version,
                "[]",
                superseded.get(seq),
            )


def runs(path: Location) -> list[Run]:
    return list(runs_newest_first(path))[::-1]


def runs_newest_first(path: Location) -> Iterator[Run]:
    """The runs, the latest first, read one at a time: a caller after the latest inputs of
    each facility, or the latest run by some time, stops early, not reading a year of runs
    (each of which can name thousands of facilities)."""
    for run, agreements in read_newest_first(path):
        _with_agreements(run.inputs, agreements)
        yield run


def read_newest_first(path: Location) -> Iterator[tuple[Run, list[tuple[str, str]]]]:
    """The runs as `runs_newest_first` reads them, each with what it read of each facility
    apart from its inputs: the facility's name and its entry's canonical text, in order. For a
    caller that holds the entries of thousands of facilities as text (`pipeline.Basis`)."""
    with connect(path) as connection:
        for run, at, as_of, inputs, first, count, counted, _, _ in connection.stream(
            _chained_runs(connection) + " ORDER BY run DESC"
        ):
            read = json.loads(inputs)
            if counted is None:  # before version 9, in its inputs
                entries = read.pop("agreements", {}).items()
                agreements = [(name, canonical(entry)) for name, entry in entries]
            else:
                agreements = _agreements(connection, run, counted)
            yield Run(run, at, date.fromisoformat(as_of), read, first + count - 1), agreements


def _agreements(connection: Connection, run: int, counted: int | None) -> list[tuple[str, str]]:
    """A run's rows of `run_agreements` (each facility's name and entry, as text), in order;
    none where its inputs hold them (`counted` None)."""
    if counted is None:
        return []
    query = "SELECT agreement, entry FROM run_agreements WHERE run = ? ORDER BY position"
    return connection.execute(query, (run,)).fetchall()


def _with_agreements(inputs: dict[str, Any], agreements: list[tuple[str, str]]) -> dict[str, Any]:
    """A run row's inputs with its agreements rows (as `read_newest_first` gives them) under
    `agreements`."""
    if agreements:  # one text, read at once: 10,000 entries read one by one took half again
        entries = ",".join(f"{encode_basestring(name)}:{entry}" for name, entry in agreements)
        inputs["agreements"] = json.loads(f"{{{entries}}}")
    return inputs


def _linked_inputs(
    inputs: str, counted: int | None, agreements: list[tuple[str, str]]
) -> Iterator[str]:
    """A stored run row's inputs as the chain links them (`_inputs_text`): a name's canonical
    text is its JSON string, which `encode_basestring` makes without the encoder's set-up."""
    if counted is None:
        return _inputs_text(inputs, None)
    return _inputs_text(inputs, ((encode_basestring(name), entry) for name, entry in agreements))


def files(path: Location, digests: Iterable[str]) -> dict[str, bytes]:
    """The stored input files with these digests."""
    with connect(path) as connection:
        return _files(connection, digests, path)


def _files(connection: Connection, digests: Iterable[str], path: Location) -> dict[str, bytes]:
    """Stored input files: each whole, or the earlier file it extends and the bytes added, read
    back along that chain (one version a quarter) to a file stored whole. Every chain is
    followed a step at a time, each step for a batch of files in one query: a query for each
    file and step took a replay of ten thousand facilities ten years on, their files forty
    steps long, minutes on PostgreSQL."""
    appended = connection.has_table("appended_files")
    reached = {sha: sha for sha in set(digests)}  # each file wanted: where its chain has got to
    added: dict[str, list[bytes]] = {sha: [] for sha in reached}  # the bytes added, latest first
    found: dict[str, bytes] = {}
    for _ in range(_LONGEST_CHAIN):
        whole = _by_digest(connection, "SELECT sha256, content FROM files", reached.values())
        for sha, at in list(reached.items()):
            if at in whole:
                found[sha] = b"".join([bytes(whole[at][0]), *reversed(added.pop(sha))])
                del reached[sha]
        if not reached or not appended:
            break
        steps = _by_digest(
            connection, "SELECT sha256, base, added FROM appended_files", reached.values()
        )
        if any(at not in steps for at in reached.values()):
            break  # a file neither stored whole nor extending one
        for sha, at in reached.items():
            base, more = steps[at]
            reached[sha] = base
            added[sha].append(bytes(more))
    if reached:
        raise AuditLogMissing(f"{path} lacks the stored input file {min(reached)}")
    return found


def _by_digest(connection: Connection, select: str, digests: Iterable[str]) -> dict[str, tuple]:
    """The rows `select` gives (its first column a file's digest, `sha256`) for these digests,
    by digest, read a batch of digests to a query."""
    found: dict[str, tuple] = {}
    wanted = sorted(set(digests))
    for start in range(0, len(wanted), _DIGESTS_A_QUERY):
        batch = wanted[start : start + _DIGESTS_A_QUERY]
        marks = ", ".join("?" * len(batch))
        for sha, *rest in connection.execute(f"{select} WHERE sha256 IN ({marks})", batch):
            found[sha] = tuple(rest)
    return found


_DIGESTS_A_QUERY = 500  # well within SQLite's older limit of 999 parameters a statement
_LONGEST_CHAIN = 100_000  # a loop of bases (only an intruder makes one) is a missing file


def _chained_runs(connection: Connection) -> str:
    """The columns of a run row as the chain links them, the count of its agreements rows
    (NULL where its inputs hold them, as in a log no write has upgraded to version 9), then its
    hashes."""
    counted = "agreements" if connection.has_table("run_agreements") else "NULL"
    return (
        f"SELECT run, recorded_at, as_of, inputs, first_seq, events, {counted}, prev_hash, hash"
        " FROM runs"
    )


# The columns of an event row as the chain links them, then its hashes.
_CHAINED_EVENTS = (
    "SELECT seq, run, key, version, event, agreement, covenant, date, details, supersedes,"
    " prev_hash, hash FROM events"
)


def verify(path: Location) -> Verification:
    """Walk the chain from the first run; report the first row that does not fit it. Events
    and files are read in order through cursors, so a log of millions of events is verified
    in constant memory; all of it as of one moment, since a run may record meanwhile."""
    events_sql = _CHAINED_EVENTS + " ORDER BY seq"
    with connect(path) as connection, connection.reading():
        stored_files = _stored_digests(connection)
        runs_sql = _chained_runs(connection) + " ORDER BY run"
        # Both read through cursors, closed in turn; a run's agreements rows, a run at a time.
        with (
            closing(connection.stream(runs_sql)) as run_rows,
            closing(connection.stream(events_sql)) as rows,
        ):
            return _walk(run_rows, functools.partial(_agreements, connection), stored_files, rows)


def _stored_digests(connection: Connection) -> dict[str, str | None]:
    """Each stored input file's digest as its content gives it (None: the file it extends is
    not stored), by the digest it is stored under. A file stored as added bytes is digested
    from the digest state of the file it extends, kept only until the last file that extends
    that one is digested: a chain of forty quarters is neither rebuilt nor held whole."""
    digests: dict[str, str | None] = {}
    appended = connection.has_table("appended_files")
    extended: Counter[str] = Counter()  # how many files extend each stored file
    if appended:
        query = "SELECT base, count(*) FROM appended_files GROUP BY base"
        extended.update(dict(connection.execute(query).fetchall()))
    states: dict[str, Any] = {}  # the digest states of files that others still extend

    def digested(sha: str, state: Any) -> None:
        digests[sha] = state.hexdigest()
        if extended[sha]:
            states[sha] = state

    for sha, content in connection.stream("SELECT sha256, content FROM files"):
        digested(sha, hashlib.sha256(bytes(content)))
    if not appended:
        return digests
    rows: Iterable[tuple] = connection.stream("SELECT sha256, base, added FROM appended_files")
    while True:  # in the order stored, each after the file it extends, unless tampered with
        waiting, progressed = [], False
        for sha, base, added in rows:
            state = states.get(base)
            if state is None:
                waiting.append((sha, base, added))
                continue
            progressed, extended[base] = True, extended[base] - 1
            if not extended[base]:
                del states[base]
            state = state.copy()
            state.update(bytes(added))
            digested(sha, state)
        if not waiting or not progressed:  # what waits on a file not stored waits for ever
            digests.update((sha, None) for sha, _, _ in waiting)
            return digests
        rows = waiting


def check_tail(path: Location) -> Verification:
    """Whether the log ends where the last run left it: the newest run row and the first and
    last rows of its events recompute their links, and nothing follows them. What a run checks
    before adding to the log, in constant time; `verify` walks the whole chain."""
    with connect(path) as connection, connection.reading():
        newest = connection.execute(_chained_runs(connection) + " ORDER BY run DESC LIMIT 1")
        newest = newest.fetchone()
        tail = connection.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        if newest is None:
            if tail:
                return Verification(False, f"event {tail} was added outside any run", tail)
            return Verification(True, "empty")
        run, _, _, _, first, count, counted, prev, digest = newest
        if not _run_fits(_Chain(prev), newest, _agreements(connection, run, counted)):
            return Verification(False, f"run {run} (from event {first}) was altered", first)
        end = first + count - 1
        if tail > end:
            return Verification(False, f"event {end + 1} was added outside any run", end + 1)
        rows = {
            row[0]: row
            for row in connection.execute(_CHAINED_EVENTS + " WHERE seq IN (?, ?)", (first, tail))
        }
    if first not in rows:
        return Verification(False, f"event {first} is missing (deleted)", first)
    for seq in sorted({first, tail}):
        row = rows[seq]
        prev_hash = digest if seq == first else row[10]  # the first links onto its run row
        linked = _Chain(prev_hash).link_stored(row)
        if row[1] != run or (row[10], row[11]) != linked:
            return Verification(False, f"event {seq} was altered or moved", seq)
    reached = tail + _span(rows[tail]) - 1
    if reached != end:
        return Verification(False, f"event {reached + 1} is missing (deleted)", reached + 1)
    return Verification(True, f"the log ends where run {run} left it", None, rows[tail][11])


def _span(row: tuple) -> int:
    """How many seqs a row read with `_CHAINED_EVENTS` takes (see `_stored`)."""
    return int(row[3]) if row[4] == TESTS and row[3].isdigit() else 1


def _run_fits(chain: _Chain, run_row: tuple, agreements: list[tuple[str, str]]) -> bool:
    """Whether a run row read with `_chained_runs`, with its agreements rows, links onto the
    chain (which it then heads) and has the agreements rows it counts."""
    run, at, as_of, inputs, first, count, counted, prev, digest = run_row
    if counted is not None and len(agreements) != counted:
        return False
    linked = _linked_inputs(inputs, counted, agreements)
    return (prev, digest) == chain.link_run(run, at, as_of, linked, first, count)


def _walk(
    run_rows: Iterable[tuple],
    agreements_of: Callable[[int, int | None], list[tuple[str, str]]],
    stored_files: dict[str, str | None],
    rows: Iterator[tuple],
) -> Verification:
    chain, expected_seq, row, walked = _Chain(), 1, next(rows, None), 0
    for run_row in run_rows:
        run, _, _, inputs, first, count, counted, _, _ = run_row
        walked += 1
        agreements = agreements_of(run, counted)
        if first != expected_seq or not _run_fits(chain, run_row, agreements):
            return Verification(
                False, f"run {run} (from event {expected_seq}) was altered", expected_seq
            )
        bad_file = _bad_file(_with_agreements(json.loads(inputs), agreements), stored_files)
        if bad_file:
            return Verification(False, f"run {run}: stored input {bad_file}", first)
        seq, end = first, first + count
        while seq < end:
            if row is not None and row[0] < seq:
                return Verification(False, f"event {row[0]} was added outside any run", row[0])
            if row is None or row[0] != seq:
                return Verification(False, f"event {seq} is missing (deleted)", seq)
            linked, span = chain.link_stored(row), _span(row)
            if row[1] != run or (row[10], row[11]) != linked or seq + span > end:
                return Verification(False, f"event {seq} was altered or moved", seq)
            for named in _named_files(row[4], row[8]):
                if stored_files.get(named) != named:
                    message = f"event {seq}: the file of its details {named} is missing or altered"
                    return Verification(False, message, seq)
            seq += span
            row = next(rows, None)
        expected_seq = end
    if row is not None:
        return Verification(False, f"event {row[0]} was added outside any run", row[0])
    events = expected_seq - 1
    return Verification(
        True,
        f"intact: {walked} runs, {events} events, head {chain.head}",
        None,
        chain.head,
        events,
        walked,
    )


def _bad_file(recorded: dict[str, Any], stored: dict[str, str | None]) -> str | None:
    entries = recorded.get("agreements", {}).values()
    groups = [
        *(entry.get(group, {}) for entry in entries for group in ("rules", "facts")),
        *recorded.get("packages", {}).values(),
    ]
    for group in groups:
        for name, sha in group.items():
            if stored.get(sha) != sha:
                return f"{name} is missing or altered"
    return None


# Notification bookkeeping: which channel has been sent which event. Recorded after the run's
# own transaction, so a failed or interrupted delivery is simply still pending next time.


def pending(
    path: Location, channel: str, kinds: frozenset[str], new_channel_after: int
) -> list[StoredEvent]:
    """Events of `kinds` recorded since the channel was first configured, not yet delivered.
    A channel seen for the first time starts after event `new_channel_after`: a newly added
    webhook is sent what is new from now on, not the whole history."""
    with connect(path, create=True) as connection:
        row = connection.execute(
            "SELECT since_seq FROM channels WHERE channel = ?", (channel,)
        ).fetchone()
        if row is None:
            since = new_channel_after
            connection.execute(
                "INSERT OR IGNORE INTO channels (channel, since_seq, added_at) VALUES (?, ?, ?)",
                (channel, since, now()),
            )
        else:
            since = row[0]
        done = {
            seq
            for (seq,) in connection.execute(
                "SELECT seq FROM deliveries WHERE channel = ?", (channel,)
            )
        }
    return [e for e in read(path, history=True, kinds=kinds, after=since) if e.seq not in done]


def delivered(path: Location, channel: str, seqs: Iterable[int]) -> None:
    with connect(path) as connection:
        connection.begin_write()
        at = now()
        connection.executemany(
            "INSERT OR IGNORE INTO deliveries (channel, seq, delivered_at) VALUES (?, ?, ?)",
            [(channel, seq, at) for seq in seqs],
        )
        connection.commit()
