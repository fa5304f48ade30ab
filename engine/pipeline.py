"""One monitoring run: rules and facts in, audit events out, nothing written.

`evaluate_portfolio` is what a run uses: it evaluates a few dozen facilities at a time (in
worker processes if asked), each process writing the events to a temporary file of its own, so
memory holds those few (and, in a run without workers, small ones up to a fixed budget: `Keep`),
and raises every problem of every facility before the audit log is touched. `assess` gives
one facility's events in memory (replays, restatement checks), and `monitor` a whole facts
folder's (restatement checks of changed rules, tests).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeVar

from . import __version__, audit, instruments, processes, terms
from .errors import InputError, Problem
from .evaluate import Evaluation, evaluate
from .facts import Facts, Tail, load_appended, load_facts
from .ledger import keep_ledger
from .lifecycle import AuditEvent, appended_tests, run_lifecycle
from .portfolio import Facility, Listing, Partition, list_portfolio, load_portfolio
from .rules import Agreement, TestKind
from .values import later


@dataclass(frozen=True)
class RunOutcome:
    events: list[AuditEvent]
    agreements: list[str]  # the facilities evaluated (for one borrower, its agreement's id)
    without_facts: list[str]  # agreements no facility follows: nothing to test
    without_rules: list[str]  # facts folders that follow no agreement: not read
    inputs: dict[str, str]  # where the run read, for the audit log's run record
    facts: dict[str, Facts]  # as loaded, by facility
    facilities: list[Facility]


def monitor(
    rules_dir: Path, facts_dir: Path, as_of: date, only: Iterable[str] | None = None
) -> RunOutcome:
    """Every facility under `facts_dir` (or those named in `only`), each against the agreement
    it follows."""
    portfolio = load_portfolio(rules_dir, facts_dir, only)
    loaded: list[tuple[Facility, Facts]] = []
    problems = []
    for facility in portfolio.facilities:
        try:
            loaded.append((facility, load_facts(facility.folder, facility.agreement)))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise InputError(problems)
    events: list[AuditEvent] = []
    for facility, facts in loaded:
        events.extend(assess(facility.agreement, facts, as_of))
    return RunOutcome(
        events,
        [f.id for f, _ in loaded],
        portfolio.without_facts,
        portfolio.without_rules,
        {"rules": str(rules_dir), "facts": str(facts_dir)},
        {f.id: facts for f, facts in loaded},
        [f for f, _ in loaded],
    )


def assess(agreement: Agreement, facts: Facts, as_of: date) -> list[AuditEvent]:
    """Every event one facility's facts give at `as_of`: its terms, the tests and their
    lifecycle, and the ledger of its Notes."""
    return assessment(agreement, facts, as_of).events


@dataclass(frozen=True)
class Assessment:
    events: list[AuditEvent]
    until: date | None  # the first later as-of date that could give other events (None: none)
    # the tails of the tables tested row by row (facts.Tail), as a run records them; None:
    # not known (built on a run recorded before tails were)
    tails: dict[str, str] | None


def assessment(agreement: Agreement, facts: Facts, as_of: date) -> Assessment:
    """`assess`, and how long its answer holds as the as-of date moves on. A facility whose
    monitoring has ended is evaluated as of the day it ended."""
    as_of = agreement.evaluated_as_of(as_of)
    current = facts.as_of(as_of)
    states = instruments.resolve(agreement, current, as_of)
    evaluation = evaluate(agreement, current, as_of)
    lifecycle = run_lifecycle(
        agreement, current, as_of, evaluation, states, instruments.windows(states, as_of)
    )
    events = [
        *terms.declared(agreement),
        *lifecycle,
        *keep_ledger(agreement, current, as_of, lifecycle),
        *terms.ended(agreement, as_of),
    ]
    until = _until(agreement, facts, as_of, states, evaluation, lifecycle)
    return Assessment(events, until, _recorded(facts.tails))


def _recorded(tails: dict[str, Tail]) -> dict[str, str]:
    return {table: tail.recorded() for table, tail in tails.items()}


def _until(
    agreement: Agreement,
    facts: Facts,
    as_of: date,
    states: list[instruments.InstrumentState],
    evaluation: Evaluation,
    lifecycle: list[AuditEvent],
) -> date | None:
    """The first as-of date after `as_of` from which these facts could give other events: a
    fact dated later comes in, an instrument takes effect or reaches its outer date, a
    reserve falls due, a deadline passes, a grace period ends, monitoring ends. A ledger of
    Notes moves with every day (its position is dated the as-of date); after the last date
    there is none."""
    if agreement.interest is not None and facts.notes:
        return later(as_of, timedelta(days=1))
    days = [facts.next_date_after(as_of), agreement.ended and agreement.ended.day]
    for state in states:
        instrument = state.instrument
        days.append(instrument.effective)
        if instrument.suspension is not None:
            days.append(instrument.suspension.until_latest)
    for covenant in agreement.covenants.values():
        if covenant.test is TestKind.MAINTAINED_BALANCE:
            days.append(covenant.schedule[0].start)
    days.extend(item.until for item in evaluation.not_tested)
    days.extend(
        date.fromisoformat(e.details["event_of_default_on"])
        for e in lifecycle
        if e.event == "grace_period"
    )
    return min((d for d in days if isinstance(d, date) and d > as_of), default=None)


@dataclass(frozen=True)
class View:
    """What a run left of a facility's view: every event its inputs give (`events`, how many)
    is current in the version they give; `others` are current events they no longer give but
    nothing withdrew (history, such as a default recorded before a waiver of it took effect);
    `until` is the first later as-of date at which the same inputs could give other events
    (None: none)."""

    events: int
    others: tuple[str, ...] = ()
    until: date | None = None

    def recorded(self) -> dict[str, Any]:
        """As a run's manifest entry holds it."""
        found: dict[str, Any] = {"events": self.events}
        if self.others:
            found["others"] = list(self.others)
        if self.until is not None:
            found["until"] = self.until.isoformat()
        return found

    @classmethod
    def read(cls, recorded: dict[str, Any]) -> View:
        until = recorded.get("until")
        return cls(
            recorded["events"],
            tuple(recorded.get("others", ())),
            date.fromisoformat(until) if until else None,
        )

    @classmethod
    def of(cls, entry: dict[str, Any]) -> View | None:
        """The view a manifest entry records (None in runs recorded before views were)."""
        recorded = entry.get("view")
        return cls.read(recorded) if isinstance(recorded, dict) else None


def with_rules(
    facility: str, entry: dict[str, Any], packages: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """A facility's manifest entry with the rule files of the package it follows, which a run
    row records once for each package (the package is named only where it is not the
    facility's id); entries recorded before that hold them already."""
    if "rules" in entry:
        return entry
    return {**entry, "rules": packages[entry.get("package", facility)]}


@dataclass(frozen=True)
class Basis:
    """The latest recorded run that evaluated a facility: what it read (its manifest entry),
    at what as-of date, with which engine, and the last seq it wrote. What a run that finds
    the same inputs, or rows appended since, builds on. A run holds one for every facility,
    so the entry is kept as the text the log stores (0.4 KB), not as the dicts JSON reads it
    into (1.1 KB), and read where it is used (`entry`), once a facility."""

    facility: str
    text: str  # its entry as the run recorded it
    packages: dict[str, dict[str, str]]  # the rule files of each package, as that run read them
    as_of: date
    engine: str | None
    last_seq: int

    @property
    def entry(self) -> dict[str, Any]:
        """Its entry, read from its text (each time), with its package's rule files."""
        return with_rules(self.facility, json.loads(self.text), self.packages)

    def holds_at(self, view: View | None, as_of: date, agreement: Agreement) -> bool:
        """Whether these inputs, which left `view` (`View.of`), give at `as_of` exactly the
        events they gave then, for a facility with `agreement`'s terms read from the same
        facility.toml (the caller checks that): both dates as that facility is evaluated, at
        most the day its monitoring ended."""
        at = agreement.evaluated_as_of
        return (
            view is not None
            and self.engine == __version__
            and at(self.as_of) <= at(as_of)
            and (view.until is None or at(as_of) < view.until)
        )


@dataclass
class Assessed:
    """One facility evaluated: what it read, the key and version of each event it gives, and
    the events. What a run's second stage needs; it waits in the file of the process that
    evaluated it (`_spool`), and so does what is large, each part loaded when used: the
    (key, version) pairs to be compared with the log, the events to be written, and the rows
    that store them all (made here, in parallel, for the one writing process to write as they
    are when all its events are new: a first run, an appended quarter). Evaluated by the
    writing process itself, a small facility's waits in memory (`Keep`).

    `extends` is set when the facility's view at its basis holds and only rows appended since
    were evaluated (`appended`), or none: the events are then theirs alone, new, and the rest
    of the view stands. It is the basis's `last_seq`, which names the run that recorded it (the
    writing process has read the same bases, and spooling each one again would cost as much as
    the rest of a facility's appended quarter). `until` is the first later as-of date that
    could give other events."""

    facility: str
    entry: dict[str, Any]  # the digests of the files it read (restate.Manifest's entry)
    # those the log does not hold yet, by digest: not in `grown`, nor read by its basis (a
    # facility's unchanged facility.toml, stored by the run that first read it)
    files: dict[str, bytes]
    # its list of (key, version), one per event, in order, and the events, for the writing
    # process to compare with the log: neither for an extension (`extends`), whose events it
    # adds as `whole` stores them
    keyed: audit.Waiting | None
    rows: audit.RowSource | audit.Restored | None
    events: int  # how many
    distinct: int  # how many distinct keys they have
    extends: int | None  # the last seq of the run whose view it builds on (Basis.last_seq)
    extended: View | None  # for an extension, the view its basis left, which its events add to
    until: date | None
    whole: audit.Waiting  # the rows that store all its events (stored_all)
    # the files that extend the one of the same name its basis read (`grown`), as they are
    # stored and handed on: by digest, that one's digest (the log holds it) and the bytes added
    grown: dict[str, tuple[str, bytes]]
    # the files of shared details its events refer to (`AuditEvent.details_file`) that the
    # process that evaluated it had not handed on with an earlier facility, by digest
    details_files: dict[str, bytes]

    @property
    def versions(self) -> audit.SpooledPairs:
        assert self.keyed is not None
        return audit.SpooledPairs(self.keyed, self.events)

    def facts_read(self, log: audit.Appender) -> dict[str, bytes]:
        """Its facts files as read, by name: those not in `files` read from the log, those in
        `grown` put together again from the files they extend (a facility evaluated again by
        the writing process, rarely, needs them whole; the others never do)."""
        held = self.files.keys() | self.grown.keys()
        stored = [sha for sha in self.entry["facts"].values() if sha not in held]
        if not stored and not self.grown:
            return facts_read(self.entry, self.files)
        earlier = log.files([*stored, *(base for base, _ in self.grown.values())])
        files = self.files | {sha: earlier[sha] for sha in stored}
        files |= {sha: earlier[base] + added for sha, (base, added) in self.grown.items()}
        return facts_read(self.entry, files)


def facts_read(entry: dict[str, Any], files: dict[str, bytes]) -> dict[str, bytes]:
    """A facility's facts files as its run read them (`Facility.snapshot`), by name, to be
    loaded as they were recorded (`load_facts`)."""
    return {name: files[sha] for name, sha in entry["facts"].items()}


class _Outcome(NamedTuple):
    """What a process hands back for a facility: where its `Assessed` waits (None: not
    evaluated), its problems, and the package it follows. The `Assessed` stays in the evaluating
    process's file, so the one process that waits for them all neither receives nor spools again
    each facility's files and the rest. Neither evaluated nor with problems: its folder follows
    no agreement (`portfolio.Read`)."""

    waiting: audit.Waiting | None
    problems: list[Problem]
    package: str | None = None


class Keep:
    """How much more the process that evaluates facilities and then writes their events may
    keep of them in memory, in bytes as `_held` counts them, rather than pickle into its
    file, write, read back and unpickle: about 20 us a facility, a fifteenth of one whose
    appended quarter is evaluated alone. At most `_KEPT_IN_ALL`, and `_KEPT_EACH` for one
    facility, so only what is small is kept (an appended quarter's, a few KB: not a first
    run's, tens of KB)."""

    def __init__(self) -> None:
        self.left = _KEPT_IN_ALL

    def take(self, size: int) -> bool:
        if size > min(self.left, _KEPT_EACH):
            return False
        self.left -= size
        return True


_KEPT_IN_ALL = 128 << 20
_KEPT_EACH = 32 << 10


_T = TypeVar("_T")
# Work done in steps: it yields between them, and returns what it found.
Steps = Generator[None, None, _T]


def _all_steps(steps: Steps[_T]) -> _T:
    """What work done in steps returns, taken through all of them at once."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def assess_facility(
    facility: Facility,
    as_of: date,
    spool: Path,
    basis: Basis | None = None,
    keep: Keep | None = None,
) -> Steps[_Outcome]:
    """The `Assessed` and its events wait in this process's file in the `spool` folder (one
    write), with the facility's own files that the log lacks (its package's are stored once
    for the run), or in memory if `keep` takes them. Given the facility's `basis`, rows
    appended since (or none) are evaluated alone where that gives what a whole evaluation
    would add.

    In steps, which a process takes a chunk of facilities through together (`_assess_chunk`):
    the files read, the new rows' tails, the rows read, tested, and the rest. A whole
    evaluation is one step: what it has in hand (a facility's hundreds of tests), held for
    a chunk, made a first run a fifth slower. A facility whose files are larger than
    `_STEPPED_FILES` is taken through its steps at once, so that a chunk of 32 holds at most
    8 MiB of the files of facilities that wait for the others."""
    entry, files = facility.snapshot(rule_files=False)
    steps = _assess_read(facility, entry, files, as_of, spool, basis, keep)
    if sum(map(len, files.values())) > _STEPPED_FILES:
        return _all_steps(steps)
    yield
    return (yield from steps)


_STEPPED_FILES = 256 << 10  # a 40-quarter facility's CSV files are about 6 KB


def _assess_read(
    facility: Facility,
    entry: dict[str, Any],
    files: dict[str, bytes],
    as_of: date,
    spool: Path,
    basis: Basis | None,
    keep: Keep | None,
) -> Steps[_Outcome]:
    """`assess_facility` of a facility whose files it has read (`Facility.snapshot`)."""
    old = None if basis is None else basis.entry
    extending = {} if old is None else grown(old.get("facts", {}), entry["facts"], files)
    view = None if old is None else View.of(old)
    found = yield from appended(facility, as_of, entry, files, basis, old, view, extending)
    extends = None if found is None or basis is None else basis.last_seq
    if found is None:
        try:
            facts = load_facts(facility.folder, facility.agreement, facts_read(entry, files))
        except InputError as error:
            return _Outcome(None, error.problems)
        found = assessment(facility.agreement, facts, as_of)
    if found.tails is not None:
        entry["tails"] = found.tails
    rows = [audit.lean(event) for event in found.events]
    stored = audit.stored_all(rows)
    # What waits: the rows that store its events, then, unless it is an extension, their
    # (key, version) pairs and, where those rows cannot give them back, the events.
    parts: list[list[Any]] = [stored]
    if extends is None:
        parts.append([(row[0], row[1]) for row in rows])
        if not audit.restores(stored):
            parts.append(rows)
    # handed on whole: not those its basis read (the log holds them), nor those grown since
    other = {*old.get("facts", {}).values(), *extending} if old is not None else set()
    own = {sha: content for sha, content in files.items() if sha not in other}
    added = {sha: (base, files[sha][start:]) for sha, (base, start) in extending.items()}
    shared = _details_files(found.events)

    def assessed(spooled: list[audit.Waiting]) -> Assessed:
        whole, keyed, lean = [*spooled, None, None][:3]
        events = lean if lean is not None or keyed is None else audit.Restored(whole, keyed)
        return Assessed(
            facility.id,
            entry,
            own,
            keyed,
            events,
            len(rows),
            len({row[0] for row in rows}),
            extends,
            None if extends is None else view,
            found.until,
            whole,
            added,
            shared,
        )

    if keep is not None:
        content = [*own.values(), *(b for _, b in added.values()), *shared.values()]
        if keep.take(_held(parts, content)):
            kept = audit.Kept(assessed([audit.Kept(part) for part in parts]))
            return _Outcome(kept, [], facility.package)
    return _Outcome(_spool(_spool_file(spool), parts, assessed), [], facility.package)


# The digests of the files of shared details this process has handed on in the run under way
# (emptied as a run begins, before its workers are forked): each is handed on once, not with
# every facility whose events refer to it (a package's terms, 24 KB a facility).
_HANDED_ON: set[str] = set()


def _details_files(events: list[AuditEvent]) -> dict[str, bytes]:
    """The files of shared details these events refer to that this process has not handed on
    in this run, which it hands on now."""
    found = {}
    for event in events:
        file = event.details_file
        if file is not None and file[0] not in _HANDED_ON:
            _HANDED_ON.add(file[0])
            found[file[0]] = file[1]
    return found


def _held(parts: list[Any], content: list[bytes]) -> int:
    """About how many bytes of memory a facility's `Assessed` holds: its files' `content`,
    the texts of its events (twice over where the events are kept beside the rows that store
    them), a couple of hundred bytes for each event's key and version, and `_HELD_EACH`."""
    stored, *compared = parts
    texts = sum(len(row[6] or "") + len(row[7] or b"") for row, _, _ in stored)
    pairs = 200 * len(compared[0]) if compared else 0
    return _HELD_EACH + sum(map(len, content)) + (texts + pairs) * (1 + (len(compared) > 1))


# What a kept facility holds beside those texts and files: its manifest entry as dicts (its
# files' digests, its tables' tails), the tuples and lists of its rows, the `Assessed`. With a
# quarter appended to 2,000 facilities, tracemalloc found each kept facility holding 4.5 KB,
# of which the rest of the count took in 1.6 KB: the budget held nearly three times its size.
_HELD_EACH = 3 << 10


_APPENDED_LINES = 16  # the most lines looked back for where a file read before ends


def appended(
    facility: Facility,
    as_of: date,
    entry: dict[str, Any],
    files: dict[str, bytes],
    basis: Basis | None,
    old: dict[str, Any] | None,
    view: View | None,
    extending: dict[str, tuple[str, int]],
) -> Steps[Assessment | None]:
    """What a whole evaluation would add to the facility's view, worked out from what changed
    since `basis` alone (which read `old` and left `view`): nothing if its inputs are the
    same; the events of rows appended to tables tested row by row, if that is all that changed
    and each gives a compliant test.
    The basis must hold at this as-of date (`Basis.holds_at`), the rules and other files be
    the same, each changed file the one read then with whole lines added (checked against the
    tails of its tables that the basis recorded), and no new event one of the view's others.
    None otherwise, and the facility is evaluated whole.

    Why that is what a whole evaluation adds: the inputs read then give the same events now
    (the basis holds), and they are current; new rows each tested alone, compliant, give
    their test and nothing else; and the view's others are events those inputs did not give,
    so a whole run's restatement would not withdraw them either."""
    if basis is None or old is None or not basis.holds_at(view, as_of, facility.agreement):
        return None
    as_of = facility.agreement.evaluated_as_of(as_of)
    same = ("rules", "package")
    if (
        any(old.get(k) != entry.get(k) for k in same)
        or old["facts"].keys() != entry["facts"].keys()
    ):
        return None
    tables = {}
    for name, sha in entry["facts"].items():
        if sha == old["facts"][name]:
            continue
        if sha not in extending:
            return None
        tables[name.removesuffix(".csv")] = (files[sha], extending[sha][1])
    assert view is not None  # the basis holds
    tails = old.get("tails")
    if not tables:
        return Assessment([], view.until, tails)
    if tails is None:
        return None
    after = {table: Tail.read(tails[table]) for table in tables if table in tails}
    yield
    facts = load_appended(facility.folder, facility.agreement, tables, after)
    if facts is None:
        return None
    yield
    events = appended_tests(facility.agreement, facts, as_of)
    yield
    if events is None or any(e.key in view.others for e in events):
        return None
    later = [d for d in (view.until, facts.next_date_after(as_of)) if d is not None]
    return Assessment(events, min(later, default=None), tails | _recorded(facts.tails))


def grown(
    before: dict[str, str], now: dict[str, str], files: dict[str, bytes]
) -> dict[str, tuple[str, int]]:
    """The facts files read `now` (by name, their digests; `files` their content) that are the
    CSV file of the same name read `before` with whole lines added: by digest, the digest of
    that one and where its content ends."""
    found = {}
    for name, sha in now.items():
        earlier = before.get(name)
        if earlier is None or earlier == sha or not name.endswith(".csv"):
            continue
        start = _read_before(files[sha], earlier)
        if start is not None:
            found[sha] = (earlier, start)
    return found


def _read_before(data: bytes, sha: str) -> int | None:
    """Where the content with digest `sha` ends, if `data` is it with whole lines added."""
    end = len(data)
    for _ in range(_APPENDED_LINES):
        end = data.rfind(b"\n", 0, end - 1) + 1
        if end <= 0:
            return None
        if hashlib.sha256(data[:end]).hexdigest() == sha:
            return end
    return None


# This process's file in the spool folder of the run under way, opened once for the run, not
# for each facility: opening it cost about 30 us a facility, 0.3 s of a run that adds a quarter
# to ten thousand.
_SPOOL_FILE: BinaryIO | None = None


def _spool_file(folder: Path) -> BinaryIO:
    """This process's file in the run's spool folder (its name says which), opened for
    appending, unbuffered: a worker may be stopped without flushing. A forked worker opens
    its own."""
    global _SPOOL_FILE
    name = f"{folder}/rows-{os.getpid()}"
    if _SPOOL_FILE is None or _SPOOL_FILE.name != name:
        _close_spool_file()  # another run's, or in a forked worker the parent's descriptor
        _SPOOL_FILE = open(name, "ab", buffering=0)  # noqa: SIM115
    return _SPOOL_FILE


def _close_spool_file() -> None:
    global _SPOOL_FILE
    if _SPOOL_FILE is not None:
        _SPOOL_FILE.close()
        _SPOOL_FILE = None


def _spool(
    handle: BinaryIO, values: list[Any], last: Callable[[list[audit.Spooled]], Any]
) -> audit.Spooled:
    """Append each value to this process's file, where each can be loaded alone, and then
    what `last` makes of where they are, which is returned (one write)."""
    data = [pickle.dumps(value, pickle.HIGHEST_PROTOCOL) for value in values]
    offset, spooled = handle.tell(), []
    for part in data:
        spooled.append(audit.Spooled(handle.name, offset, len(part)))
        offset += len(part)
    data.append(pickle.dumps(last(spooled), pickle.HIGHEST_PROTOCOL))
    handle.write(b"".join(data))
    return audit.Spooled(handle.name, offset, len(data[-1]))


@dataclass
class Evaluated:
    """Every facility of a run evaluated, in facility order: where each one's `Assessed` waits
    (in its worker's file, listed as three integers each, or kept in memory: `Keep`)."""

    listing: Listing  # what was evaluated: the facilities' folders and the packages
    facilities: list[str]  # evaluated, in order
    waiting: audit.WaitingList  # each one's `Assessed`
    rule_files: dict[str, bytes]  # every package followed, its files read once
    without_facts: list[str]  # packages no facility follows: nothing to test
    without_rules: list[str]  # facts folders that follow no agreement: not read

    @property
    def count(self) -> int:
        return len(self.waiting)

    def __iter__(self) -> Iterator[Assessed]:
        for spooled in self.waiting:
            yield spooled.load()


Progress = Callable[[int, int], None]  # (facilities done, facilities in all)


@contextmanager
def evaluate_portfolio(
    rules_dir: Path,
    facts_dir: Path,
    as_of: date,
    only: Iterable[str] | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    partition: Partition | None = None,
    bases: Callable[[list[str]], dict[str, Basis]] | None = None,
) -> Iterator[Evaluated]:
    """Evaluate every facility, a chunk at a time (in `workers` processes), keeping only the
    facilities in hand in memory. Every problem in every facility is collected before
    InputError is raised, so a bad file anywhere stops the run before the log is touched.
    `bases(names)`: what the latest run read of each of these facilities, so rows appended
    since can be evaluated alone (`appended`)."""
    processes.sweep()  # what killed runs left
    _HANDED_ON.clear()
    with processes.scratch_folder() as tmp, _Collector() as collector:
        listing = list_portfolio(rules_dir, facts_dir, only, partition)
        known = bases(listing.names) if bases else {}
        collector.loaded()
        problems: list[Problem] = []
        facilities, waiting, without_rules, followed = [], audit.WaitingList(), [], set()
        assessments = _assessments(listing, as_of, workers, tmp, known)
        for done, (name, outcome) in enumerate(zip(listing.names, assessments, strict=True), 1):
            problems.extend(outcome.problems)
            if outcome.waiting is not None:
                facilities.append(name)
                waiting.append(outcome.waiting)
                followed.add(outcome.package)
            elif not outcome.problems:
                without_rules.append(name)
            if progress is not None:
                progress(done, len(listing.names))
        collector.evaluated()
        if problems:
            raise InputError(problems)
        rule_files, without_facts = listing.rule_files(followed), listing.without_facts(followed)
        yield Evaluated(listing, facilities, waiting, rule_files, without_facts, without_rules)


class _Collector:
    """How the garbage collector runs while a run evaluates its facilities.

    - What is alive once the packages and the bases are loaded (the modules too) is kept out
      of its generations until the run is done (`gc.freeze`): its full collections walked all
      of it each time, 4.6 s of a 70 s run at ten thousand facilities, and in forked workers
      each walk wrote to the pages they share with the parent.
    - Its automatic collections are paused while the facilities are evaluated, and a young
      collection every few facilities (`_between_facilities`) frees the cycles they left (a
      facility evaluated whole leaves about a hundred objects in cycles, an appended quarter
      about one). Left to run on their own, collections came in the middle of a facility and
      walked the objects it had in hand, and full ones walked again and again what the run
      keeps of the facilities evaluated so far: 0.85 s of a first run of ten thousand
      facilities in one process, against 0.13 s, and 0.15 to 0.25 s of a run adding a quarter
      to them (what it keeps in memory, `Keep`), against 0.02 s. Worker processes are forked
      with collections paused and collect as the run's own process does.
    - What the evaluation kept for the writing is kept out of the generations too, and the
      collector runs on its own again while the run writes (which may evaluate a facility
      again); when the run is done, what was kept out is given back."""

    def __enter__(self) -> _Collector:
        self.enabled = gc.isenabled()
        gc.disable()
        return self

    def loaded(self) -> None:
        gc.freeze()

    def evaluated(self) -> None:
        gc.freeze()  # what waits for the writing, kept in memory, and so has survived
        if self.enabled:
            gc.enable()

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            gc.enable()
        gc.unfreeze()


_COLLECT_EVERY = 16  # facilities between young collections while automatic ones are paused
_evaluated_since_collection = 0


def _between_facilities() -> None:
    """Where a run's process (or worker) is between facilities: every `_COLLECT_EVERY`, a
    collection of the young generations frees the cycles the facilities left."""
    global _evaluated_since_collection
    _evaluated_since_collection += 1
    if _evaluated_since_collection >= _COLLECT_EVERY:
        _evaluated_since_collection = 0
        gc.collect(1)


# Worker processes are forked with the listing in hand; each is sent a chunk of facilities'
# indices. The listing, the as-of date, the spool folder and the bases.
_Shared = tuple[Listing, date, Path, dict[str, Basis]]
_FORKED: _Shared | None = None


def _assess_forked(indices: range) -> list[_Outcome]:
    assert _FORKED is not None
    return _assess_chunk(_FORKED, indices)


def _assess_chunk(shared: _Shared, indices: range, keep: Keep | None = None) -> list[_Outcome]:
    """The facilities of the listing's folders at `indices`, evaluated and let go, in steps:
    all of them read, then each step of `assess_facility` taken for every one before the next.
    The code of one step, run for a few dozen facilities in a row, stays in the CPU's caches,
    which one facility taken through every step in turn evicts: a run that adds a quarter to
    ten thousand facilities took 2.30 to 2.39 s, against 2.68 to 2.79 s one facility at a
    time, in alternating runs; a first run, whose facilities are evaluated whole, as long.
    (Reading them one after another, as here, costs two thirds of reading each in turn.)"""
    listing, as_of, spool, bases = shared
    read = [listing.read(listing.names[index]) for index in indices]
    outcomes = [_Outcome(None, problems) for _, problems in read]
    running = [
        (position, assess_facility(facility, as_of, spool, bases.get(facility.id), keep))
        for position, (facility, _) in enumerate(read)
        if facility is not None
    ]
    while running:
        going = []
        for position, steps in running:
            try:
                next(steps)
                going.append((position, steps))
            except StopIteration as done:
                outcomes[position] = done.value
                _between_facilities()
        running = going
    return outcomes


_STEPPED = 32  # facilities the run's own process takes through the steps together


def _assessments(
    listing: Listing,
    as_of: date,
    workers: int,
    spool: Path,
    bases: dict[str, Basis],
) -> Iterator[_Outcome]:
    count = len(listing.names)
    if workers <= 1 or count < 2:
        keep = Keep()  # this process writes their events too
        try:
            for indices in _chunks(count, _STEPPED):
                yield from _assess_chunk((listing, as_of, spool, bases), indices, keep)
        finally:
            _close_spool_file()
        return
    global _FORKED
    _FORKED = (listing, as_of, spool, bases)
    try:
        with processes.pool(workers) as pool:
            chunks = _chunks(count, processes.chunk_size(count, workers))
            for outcomes in pool.map(_assess_forked, chunks):
                yield from outcomes
    finally:
        _FORKED = None


def _chunks(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]
