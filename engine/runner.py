"""A scheduled run from start to finish: lock, check the log, monitor, record, notify.

Runs against one audit log queue on its run lock (`store.run_lock`: flock on `<db>.lock` beside
a SQLite file, an advisory lock in PostgreSQL; either is released when the holder dies, kill -9
included). Evaluating the covenants needs no lock, so machines that each run a partition of the
facilities evaluate at once; comparing with the log, recording (one transaction) and notifying
hold the lock, so a second run waits and then finds the first one's events already there.
Notifications go out after the events are committed; what a channel has not acknowledged stays
pending for the next run.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import __version__, audit, processes, restate, store
from .errors import InputError, Problem
from .facts import Facts, load_facts
from .notify import Delivery, Notifier
from .pipeline import Assessed, Basis, Evaluated, View, assess, assessment, evaluate_portfolio
from .portfolio import FACILITY_FILE, Facility, Listing, Partition, facility_read, in_partition
from .rules import load_agreements
from .store import Location

Progress = Callable[..., None]  # progress(message, **fields): the run's milestones
Tick = Callable[[str, int, int], None]  # tick(stage, facilities done, facilities in all)


def _quiet(message: str, **fields: Any) -> None:
    pass


class LogTampered(Exception):
    def __init__(self, verification: audit.Verification):
        self.verification = verification
        super().__init__(verification.message)


@dataclass
class RunResult:
    facilities: list[str]  # evaluated
    without_facts: list[str]  # agreements no facility follows
    without_rules: list[str]  # facts folders that follow no agreement
    produced: int  # distinct events the inputs give
    first_seq: int | None  # of the new events (read them with audit.written), if any
    new: Counter[str]  # every new event, counted by kind
    head: str
    deliveries: list[Delivery] = field(default_factory=list)
    # facilities the log holds whose facts folders this run did not find (of its partition),
    # with the as-of date of the latest run that recorded their events: not evaluated
    not_found: list[tuple[str, date]] = field(default_factory=list)


def execute(
    rules_dir: Path,
    facts_dir: Path,
    db: Location,
    as_of: date,
    *,
    wait: float = 0,
    only: list[str] | None = None,
    workers: int = 1,
    partition: Partition | None = None,
    verify_chain: bool = False,
    notifier: Notifier | None = None,
    progress: Progress = _quiet,
    tick: Tick | None = None,
    rehearsal: Callable[[audit.Appender], None] | None = None,
) -> RunResult:
    """One run. Every facility is read and evaluated first (in `workers` processes), so bad
    input raises InputError before the log (or its lock) is touched; comparing with the log and
    recording hold the lock. Memory holds a chunk of facilities at a time: the evaluated ones wait
    in temporary files (one for each evaluating process; without workers, small ones wait in
    memory up to a fixed budget, `pipeline.Keep`), and so do the new events until they are
    written.

    Before adding, the run checks that the log ends where the last run left it
    (`audit.check_tail`), which costs the same at any size; `verify_chain` walks the whole
    chain first, as `verify` does, which costs about 9 microseconds an event.

    With `rehearsal`, a dry run: the new events are written as a run would write them, handed
    to `rehearsal` (read them with `Appender.pending`), and rolled back; nobody is notified.
    Without a log there yet, the rehearsal writes a temporary one, not the first of `db`."""
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(_log_written(db, rehearsal is not None))
        latest = _Latest(db) if store.exists(db) else None
        evaluated = stack.enter_context(
            evaluate_portfolio(
                rules_dir,
                facts_dir,
                as_of,
                only,
                workers,
                (lambda done, total: tick("evaluating", done, total)) if tick else None,
                partition,
                latest.before if latest else None,
            )
        )
        progress("evaluated", facilities=evaluated.count)
        with store.run_lock(db, wait):
            progress("lock acquired", db=str(db))
            previous, not_found = None, []
            if store.exists(db):
                verification = audit.verify(db) if verify_chain else audit.check_tail(db)
                if not verification.ok:
                    raise LogTampered(verification)
                names = evaluated.facilities
                previous = latest.under_lock(names) if latest else _latest_inputs(db, names)
                if only is None:
                    not_found = _not_found(db, evaluated, partition)
            packages: dict[str, dict[str, str]] = {}  # the rule files of each, as read
            produced = 0
            with audit.appending(db, as_of) as log:
                for sha, content in evaluated.rule_files.items():
                    log.file(sha, content)
                for done, assessed in enumerate(evaluated, 1):
                    for sha, content in assessed.files.items():
                        log.file(sha, content)
                    for sha, (earlier, added) in assessed.grown.items():
                        log.appended_file(sha, earlier, added)  # earlier: stored by the basis
                    for sha, content in assessed.details_files.items():
                        log.details_file(sha, content)
                    view = _compare(log, previous, assessed, evaluated.listing, as_of)
                    entry = restate.recorded_entry(
                        assessed.facility, assessed.entry, view.recorded(), packages
                    )
                    log.inputs.add(assessed.facility, entry)
                    produced += view.events
                    if tick:
                        tick("comparing with the log", done, evaluated.count)
                log.inputs.fields = {
                    "rules": str(rules_dir),
                    "facts": str(facts_dir),
                    "engine": __version__,
                    "packages": packages,
                }
                progress("recording", new=log.count)
                recording = functools.partial(tick, "recording") if tick else None
                if rehearsal is None:
                    log.commit(recording)
                else:
                    log.rehearse(recording)
                    rehearsal(log)
                first, new = log.first_seq, log.new
            head = audit.head(db)
            if rehearsal is None:
                progress("recorded", new=sum(new.values()), head=head)
                deliveries = notifier.send(db, first) if notifier is not None else []
            else:
                progress("rolled back", new=sum(new.values()), head=head)
                deliveries = []
    return RunResult(
        evaluated.facilities,
        evaluated.without_facts,
        evaluated.without_rules,
        produced,
        first,
        new,
        head,
        deliveries,
        not_found,
    )


@contextlib.contextmanager
def _log_written(db: Location, dry_run: bool) -> Iterator[Location]:
    """The log a run writes: `db`, or for a dry run with no log there yet, a temporary one
    (with nothing to compare with, every event is new), so that it does not make the first."""
    if not dry_run or store.exists(db):
        yield db
        return
    with tempfile.TemporaryDirectory(prefix="covenant-monitor-dry-run-") as scratch:
        yield Path(scratch) / "covenant-monitor.db"


def _not_found(
    db: Location, evaluated: Evaluated, partition: Partition | None
) -> list[tuple[str, date]]:
    """The facilities of the log (of this partition) that have no folder under the facts
    folder any more: moved, renamed, removed. Their events stand as the latest run that
    recorded them left them, and a report shows them so, so the run says it did not evaluate
    them. A folder that follows no agreement, and an agreement's own facts folder that is
    missing, are noted as such already; a facility whose monitoring ended (as the log
    records) may go."""
    seen = {*evaluated.facilities, *evaluated.without_rules, *evaluated.without_facts}
    gone = audit.facilities_where(
        db, lambda name: name not in seen and (partition is None or in_partition(name, partition))
    )
    ended = audit.ended(db, [name for name, _ in gone]) if gone else set()
    return [(name, day) for name, day in gone if name not in ended]


def _compare(
    log: audit.Appender,
    previous: dict[str, Basis] | None,
    assessed: Assessed,
    listing: Listing,
    as_of: date,
) -> View:
    """Hand one facility's events to the log; what that leaves of its view. What was worked
    out from a basis alone (`pipeline.appended`) is added as it is if the log is still as that
    run left it; if another run recorded the facility since, it is evaluated whole, here."""
    name, extends, until = assessed.facility, assessed.extends, assessed.until
    whole, basis = assessed.whole, (previous or {}).get(name)
    if extends is None:
        rows, versions, distinct = assessed.rows, assessed.versions, assessed.distinct
        assert rows is not None  # not an extension: its events wait with it
    elif basis is not None and basis.last_seq == extends and log.untouched_since(name, extends):
        view = assessed.extended  # left by that basis: the last seq names the run
        assert view is not None
        log.additions(assessed.events, whole)
        return View(view.events + assessed.events, view.others, until)
    else:
        facility, facts = _as_read(listing, assessed, log)
        again = assessment(facility.agreement, facts, as_of)
        log.details_files(again.events)
        rows, until = audit.Rows(map(audit.lean, again.events)), again.until
        versions, whole = [(row[0], row[1]) for row in rows], None
        distinct = len({key for key, _ in versions})
    restatement = functools.partial(_restatement, log, previous, assessed, listing, as_of)
    others = log.facility(name, versions, rows, restatement, whole, distinct)
    return View(distinct, tuple(others), until)


def _as_read(listing: Listing, assessed: Assessed, log: audit.Appender) -> tuple[Facility, Facts]:
    """The facility and its facts as the run read them, for the writing process, which holds
    no facility's description but needs one rarely: read again from its files as read (its
    facility.toml, which the evaluation found sound, included)."""
    files, problems = assessed.facts_read(log), []
    folder = listing.facts_dir / assessed.facility
    facility = facility_read(folder, files.get(FACILITY_FILE), listing.packages, problems)
    assert facility is not None, problems
    return facility, load_facts(folder, facility.agreement, files)


class _Latest:
    """What the latest runs recorded of each facility (`_latest_inputs`): read before the
    lock, so that rows appended since can be evaluated alone, and read again under it only if
    the log's head has moved since, that is if a run recorded events in between (a run that
    records none leaves no run row). At ten thousand facilities a read takes 0.1 s."""

    def __init__(self, db: Location):
        self.db = db
        self.head: str | None = None
        self.found: dict[str, Basis] = {}
        self.facilities: set[str] = set()

    def before(self, facilities: list[str]) -> dict[str, Basis]:
        self.head = audit.head(self.db)  # first: a run recorded after this moves it
        self.found = _latest_inputs(self.db, facilities)
        self.facilities = set(facilities)
        return self.found

    def under_lock(self, facilities: Iterable[str]) -> dict[str, Basis]:
        wanted = set(facilities)
        if self.head is not None and wanted == self.facilities and audit.head(self.db) == self.head:
            return self.found
        return _latest_inputs(self.db, wanted)


def _latest_inputs(db: Location, facilities: Iterable[str]) -> dict[str, Basis]:
    """Each of these facilities' inputs as the latest run that read it recorded them (a run
    may have read only some facilities), with that run's as-of date and engine."""
    wanted, latest = set(facilities), {}
    with contextlib.closing(audit.read_newest_first(db)) as runs:
        for run, agreements in runs:
            engine, packages = run.inputs.get("engine"), run.inputs.get("packages", {})
            for facility, text in agreements:
                if facility in wanted and facility not in latest:
                    basis = Basis(facility, text, packages, run.as_of, engine, run.last_seq)
                    latest[facility] = basis
            if len(latest) == len(wanted):
                break
    return latest


def _restatement(
    log: audit.Appender,
    previous: dict[str, Basis] | None,
    assessed: Assessed,
    listing: Listing,
    as_of: date,
) -> audit.Restatement | None:
    """When a facility's inputs differ from those of the latest run that read it: what
    changed, and what its earlier inputs give today."""
    name = assessed.facility
    basis = (previous or {}).get(name)
    if basis is None or restate.same_inputs(basis.entry, assessed.entry):
        return None
    old = basis.entry
    old_files = log.files(restate.digests({name: old}))
    # again, as read: the run kept only what they give
    facility, new_facts = _as_read(listing, assessed, log)
    new = {name: assessed.entry}
    return restate.compare(name, {name: old}, new, old_files, new_facts, as_of, facility.agreement)


@dataclass(frozen=True)
class Replay:
    runs: list[audit.Run]  # whose inputs were replayed, in order
    events: int  # the events their inputs give
    missing: list[str]  # replayed event keys the log did not hold (current version) at the time


def replay(
    db: Location,
    known_as_of: datetime,
    only: Iterable[str] | None = None,
    partition: Partition | None = None,
    workers: int = 1,
    tick: Tick | None = None,
) -> Replay:
    """Evaluate again what the monitor knew at `known_as_of`: each facility's inputs as the
    latest run recorded by then that read it recorded them (a run may have read only some: those
    named, or one machine's slice), at that run's as-of date; and check that the log as it stood
    then holds every event they give (in the same version). Only the facilities in `only`, or
    of one `partition`, if given; in `workers` processes. Writes nothing."""
    cutoff = known_as_of.astimezone().isoformat()
    if only is not None:
        wanted = set(only)
    else:  # every facility the log held events of by then
        wanted = {name for name, _ in audit.facilities(db, known_as_of)}
    if partition is not None:
        wanted = {name for name in wanted if in_partition(name, partition)}
    groups: list[tuple[audit.Run, restate.Manifest]] = []  # each run, what it is replayed for
    found: set[str] = set()
    latest = None
    with contextlib.closing(audit.runs_newest_first(db)) as runs:
        for run in runs:
            if datetime.fromisoformat(run.recorded_at) > known_as_of:
                continue
            latest = latest or run
            manifest = restate.expand(run.inputs)
            read = {n: e for n, e in manifest.items() if n in wanted and n not in found}
            if read:
                groups.append((run, read))
                found.update(read)
            if found >= wanted:
                break
    if latest is None:
        raise audit.AuditLogMissing(f"{db} holds no run recorded by {cutoff}")
    unknown = sorted(wanted - found) if only is not None else []
    if unknown:
        said = f"no run recorded by {cutoff} read facility"
        raise InputError([Problem("--facility", f"{said} {name!r}") for name in unknown])
    groups.reverse()
    facilities, reads, dates, problems = [], [], [], []
    for run, manifest in groups:
        files = audit.files(db, restate.digests(manifest))
        # Only the packages' rule files are written out, to be loaded: the facilities' own are
        # read as they are, from memory (writing ten thousand facilities' took 20 s and more).
        with restate.laid_out(manifest, files, ("rules",)) as (rules_dir, facts_dir):
            packages = {a.id: a for a in load_agreements(rules_dir)}
        for name, entry in manifest.items():
            read = {file: files[sha] for file, sha in entry["facts"].items()}
            facility = facility_read(facts_dir / name, read.get(FACILITY_FILE), packages, problems)
            if facility is not None:
                facilities.append(facility)
                reads.append(read)
                dates.append(run.as_of)
    if problems:
        raise InputError(problems)
    done, events, missing = 0, 0, []
    for replayed in _replayed(facilities, reads, dates, db, known_as_of, workers):
        done += replayed.facilities
        events += replayed.events
        missing.extend(replayed.missing)
        problems.extend(replayed.problems)
        if tick is not None:
            tick("replaying", done, len(facilities))
    if problems:
        raise InputError(problems)
    return Replay([run for run, _ in groups] or [latest], events, sorted(missing))


@dataclass
class _Replayed:
    """Facilities evaluated again and compared with the log: how many, the events they give,
    the keys of those the log did not hold (in that version), and their problems."""

    facilities: int
    events: int = 0
    missing: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# What the forked workers replay: the facilities, their facts files as read (by name) and their
# runs' as-of dates, the log and the moment it is known as of.
_Replaying = tuple[list[Facility], list[dict[str, bytes]], list[date], Location, datetime]
_REPLAYING: _Replaying | None = None


def _replayed(
    facilities: list[Facility],
    reads: list[dict[str, bytes]],
    dates: list[date],
    db: Location,
    known_as_of: datetime,
    workers: int,
) -> Iterator[_Replayed]:
    """The facilities replayed a chunk at a time, in order, in `workers` processes forked with
    them in hand (as a run's are). Each chunk is compared with the log where it was evaluated,
    so the comparison is shared out too, and only counts and keys are handed back."""
    global _REPLAYING
    _REPLAYING = (facilities, reads, dates, db, known_as_of)
    size = processes.chunk_size(len(facilities), workers)
    chunks = [range(i, min(i + size, len(facilities))) for i in range(0, len(facilities), size)]
    try:
        if workers <= 1 or len(chunks) < 2:
            yield from map(_replay_chunk, chunks)
            return
        with processes.pool(workers) as pool:
            yield from pool.map(_replay_chunk, chunks)
    finally:
        _REPLAYING = None


def _replay_chunk(indices: range) -> _Replayed:
    """These facilities evaluated again and each compared with its events in the log as it
    stood then, read through one connection."""
    assert _REPLAYING is not None
    facilities, reads, dates, db, known_as_of = _REPLAYING
    chosen = [(facilities[i], reads[i], dates[i]) for i in indices]
    found = _Replayed(len(chosen))
    views = audit.read_by_facility(db, [f.id for f, _, _ in chosen], known_as_of)
    with contextlib.closing(views):
        for (facility, read, as_of), (_, stored) in zip(chosen, views, strict=True):
            try:
                facts = load_facts(facility.folder, facility.agreement, read)
            except InputError as error:
                found.problems.extend(error.problems)
                continue
            produced = assess(facility.agreement, facts, as_of)
            known = {(e.key, e.version) for e in stored}
            found.events += len(produced)
            found.missing.extend({e.key for e in produced if (e.key, e.version) not in known})
    return found
