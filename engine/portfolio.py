"""A portfolio: many facilities, each following a shared agreement (covenant package) with its
own overrides.

A facility is a folder under facts/. It follows the agreement named in its `facility.toml`; a
folder without one follows the agreement whose `facts` names it (the single-borrower layout).
Rules are never copied per facility: the package is loaded once and each facility gets a copy of
the Agreement object with its overrides spliced into the schedules, its own id (the folder's
name, which keys its events in the audit log) and the package it follows.

```toml
[facility]
agreement = "cerplex"                # the rules/<agreement>/ folder it follows
borrower = "Acme Holdings, Inc."
name = "Acme Holdings Senior Notes"  # optional
ended = 2026-06-30                   # optional: monitoring ends (repaid, refinanced, sold);
ended_reason = "Repaid in full"      # evaluated as of this day at the latest, and then the
                                     # folder may go

[[facility.override]]                # a threshold of its own, for some quarters or dates
covenant = "6.20"
from = "1998Q2"
through = "1999Q4"                   # optional: absent means "and thereafter"
minimum = "1.10"                     # `maximum` for covenants breached when above
source = "Acme Note Agreement (2024-03-01), Section 6.20"

[[facility.override]]                # a grace period of its own
covenant = "6.20"
grace_days = 30
source = "Acme Note Agreement (2024-03-01), Section 7.1(c)"

[[facility.figure]]                  # a sum of its package counted from its own first
name = "ebitda_four_quarters"        # quarter after its closing, annualized until enough
annualized_from = "2024Q2"           # quarters have passed
source = "Acme Note Agreement (2024-03-01), Section 1.1, definition of Consolidated EBITDA"

[[facility.instrument]]              # a waiver, suspension or amendment of its own, written
id = "acme-waiver-1998-08-14"        # as a rule file's [instrument]; its conditions precedent
title = "Acme Waiver Letter"         # are recorded in the facility's own events.csv
dated = 1998-08-14
document = "Acme waiver letter of August 14, 1998"
effective = 1998-08-14
text = "The holders waive the Event of Default under Section 6.20 for the June 1998 quarter."
waiver = { covenants = ["6.20"], breaches_before = "effective", source = "Acme waiver, para. 1" }
```
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from .cached import cached_property
from .errors import InputError, Problem
from .rules import (
    Agreement,
    Covenant,
    Ending,
    Figure,
    Instrument,
    Reader,
    Section,
    TestKind,
    Threshold,
    after,
    before,
    instrument_conflicts,
    load_agreements,
    parse_instrument,
    read_toml,
)
from .snapshot import Snapshot, folder_files, read_bytes

FACILITY_FILE = "facility.toml"


@dataclass(frozen=True)
class Facility:
    id: str  # the facts folder's name; keys the facility's events in the audit log
    folder: Path
    agreement: Agreement  # the package as this facility has it, overrides applied
    declared: bytes | None = None  # its facility.toml as read for `agreement` (None: none)

    @property
    def package(self) -> str:
        return self.agreement.package or self.agreement.id

    @property
    def rules(self) -> Snapshot:
        """Its package's folder as read for its agreement."""
        assert self.agreement.snapshot is not None  # load_agreement takes it
        return self.agreement.snapshot

    def snapshot(self, rule_files: bool = True) -> tuple[dict[str, Any], dict[str, bytes]]:
        """What this facility's run read: the digest of every file of its rules folder and of
        its facts folder (and the package, where it is not the facility's own), and the files
        by digest, so the audit log can store them; without `rule_files`, only the facility's
        own (a run stores its packages' once). Its facility.toml is the one its agreement was
        read from, even if saved again since."""
        facts, files = folder_files(self.folder, {FACILITY_FILE: self.declared})
        if rule_files:
            files = {**self.rules[1], **files}
        entry: dict[str, Any] = {"rules": self.rules[0], "facts": facts}
        if self.package != self.id:
            entry["package"] = self.package
        return entry, files


@dataclass(frozen=True)
class Portfolio:
    facilities: list[Facility]
    packages: dict[str, Agreement]
    without_facts: list[str]  # agreements no facility follows: nothing to test
    without_rules: list[str]  # facts folders that follow no agreement: not read


Partition = tuple[int, int]  # (i, n): the i-th of n slices, 1 <= i <= n


def in_partition(facility: str, partition: Partition) -> bool:
    """Whether a facility falls in slice i of n: by a digest of its name, so every machine
    given the same n agrees, whatever order it lists the folders in."""
    i, n = partition
    return int(hashlib.sha256(facility.encode()).hexdigest()[:12], 16) % n == i - 1


class Read(NamedTuple):
    """A facility folder as read: its facility, or None with the problems that stop it being
    read; with none, the folder follows no agreement (it has no facility.toml and is no
    agreement's own facts folder), which a run notes and does not read."""

    facility: Facility | None
    problems: list[Problem]


@dataclass(frozen=True)
class Listing:
    """The facilities of a run, by folder name, and the packages they may follow, before any
    facility's own file is read: a run reads each facility where it evaluates it and lets it
    go, so that what it holds does not grow with the facilities' descriptions."""

    facts_dir: Path
    names: list[str]
    packages: dict[str, Agreement]
    whole: bool  # every folder: none named, no partition

    def read(self, name: str) -> Read:
        """The facility of the folder `name` as its files say now."""
        folder = self.facts_dir / name
        declared = _declared(str(folder))  # its text kept: the facility's files are read by it
        if declared is None and name not in self.own_folders:
            return Read(None, [])
        problems: list[Problem] = []
        return Read(facility_read(folder, declared, self.packages, problems), problems)

    @cached_property
    def own_folders(self) -> frozenset[str]:
        """The facts folders the packages name as their own (the single-borrower layout)."""
        return frozenset(a.facts for a in self.packages.values())

    def rule_files(self, followed: set[str]) -> dict[str, bytes]:
        """The files of the packages `followed`, by digest: a run stores them once, not with
        each facility."""
        found: dict[str, bytes] = {}
        for package in sorted(followed):
            snapshot = self.packages[package].snapshot
            assert snapshot is not None  # load_agreement takes it
            found.update(snapshot[1])
        return found

    def without_facts(self, followed: set[str]) -> list[str]:
        """The packages no facility follows, given those `followed`: nothing to test (noted
        only when every folder was listed)."""
        return sorted(set(self.packages) - followed) if self.whole else []


def list_portfolio(
    rules_dir: Path,
    facts_dir: Path,
    only: Iterable[str] | None = None,
    partition: Partition | None = None,
) -> Listing:
    """Every facility folder under `facts_dir`, or those named in `only`, or those of one
    partition, with the packages under `rules_dir` loaded."""
    packages = {a.id: a for a in load_agreements(rules_dir)}
    if not facts_dir.is_dir():
        raise InputError([Problem(str(facts_dir), "facts folder not found")])
    names = _subfolders(facts_dir)
    if only is not None:
        wanted = set(only)
        unknown = sorted(wanted - set(names))
        if unknown:
            raise InputError(
                [Problem(str(facts_dir), f"no facility folder named {name!r}") for name in unknown]
            )
        names = [name for name in names if name in wanted]
    if partition is not None:
        names = [name for name in names if in_partition(name, partition)]
    return Listing(facts_dir, names, packages, only is None and partition is None)


def load_portfolio(
    rules_dir: Path,
    facts_dir: Path,
    only: Iterable[str] | None = None,
    partition: Partition | None = None,
) -> Portfolio:
    """Every facility of `list_portfolio`, read; every problem in the facility files is
    reported at once."""
    listing = list_portfolio(rules_dir, facts_dir, only, partition)
    facilities, without_rules, problems = [], [], []
    for name in listing.names:
        facility, found = listing.read(name)
        if facility is not None:
            facilities.append(facility)
        elif not found:
            without_rules.append(name)
        problems.extend(found)
    if problems:
        raise InputError(problems)
    without_facts = listing.without_facts({f.package for f in facilities})
    return Portfolio(facilities, listing.packages, without_facts, without_rules)


def _declared(folder: str) -> bytes | None:
    """A folder's facility.toml, if it has one: read without a stat first, as most have."""
    try:
        return read_bytes(f"{folder}/{FACILITY_FILE}")
    except (FileNotFoundError, IsADirectoryError):
        return None


def _subfolders(folder: Path) -> list[str]:
    """The names of the folders in `folder` but hidden ones, sorted: scandir knows each
    entry's type without a stat, and strings sort several times faster than paths (0.1 s of
    a run at ten thousand facilities)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def facility_read(
    folder: Path, declared: bytes | None, packages: dict[str, Agreement], problems: list[Problem]
) -> Facility | None:
    """The facility of the facts folder `folder` as a run read it, which need not be on disk
    (a replay's, from the log): as its facility.toml says (`declared`, its content as read),
    or else following the agreement whose facts folder it is; None with its problems noted."""
    if declared is not None:
        return _facility(folder, declared, packages, problems)
    agreement = next((a for a in packages.values() if a.facts == folder.name), None)
    if agreement is None:
        problems.append(Problem(str(folder), "no facility.toml, and no agreement's facts folder"))
        return None
    return Facility(folder.name, folder, agreement)


def _facility(
    folder: Path, declared: bytes, packages: dict[str, Agreement], problems: list[Problem]
) -> Facility | None:
    path, noted = folder / FACILITY_FILE, len(problems)
    reader = Reader(str(path), problems)
    data = read_toml(path, problems, declared)
    if data is None:
        return None
    if set(data) != {"facility"}:
        found = ", ".join(data) or "nothing"
        problems.append(Problem(str(path), f"expected one [facility] table; found {found}"))
        return None
    section = reader.section(data["facility"], "facility")
    if section is None:
        return None
    name = section.text("name", required=False)
    borrower = section.text("borrower")
    package_id = section.text("agreement")
    package = packages.get(package_id or "")
    if package_id is not None and package is None:
        section.problem("agreement", f"no agreement {package_id!r} under the rules folder")
    ended = _ending(section, package)
    overrides, own = section.tables("override"), section.tables("instrument")
    covenants = dict(package.covenants) if package else {}
    for override in overrides:
        _override(override, covenants)
    counted = section.tables("figure")
    figures = {f.name: f for f in package.figures} if package else {}
    for table in counted:
        _counted_from(table, figures, package)
    instruments = dict(package.instruments) if package else {}
    for table in own:
        _instrument(table, instruments, covenants)
    if not section.done() or package is None or len(problems) > noted:
        return None  # its tables' problems are theirs, not its section's
    # A facility with none of its own shares its package's (nothing changes them once read):
    # a portfolio holds every facility's agreement for the whole run.
    covenants = covenants if overrides else package.covenants
    instruments = instruments if own else package.instruments
    agreement = replace(
        package,
        id=folder.name,
        facts=folder.name,
        covenants=covenants,
        instruments=instruments,
        figures=tuple(figures.values()) if counted else package.figures,
        borrower=borrower,
        package=package.id,
        facility_name=name,
        ended=ended,
    )
    return Facility(folder.name, folder, agreement, declared)


def _ending(section: Section, package: Agreement | None) -> Ending | None:
    """The end of the facility's monitoring (`ended`, with its `ended_reason`), if declared:
    not before its agreement is dated."""
    day = section.date("ended", required=False)
    reason = section.text("ended_reason", required=day is not None)
    if reason is not None and not section.has("ended"):
        section.problem("ended_reason", "given without ended (the day monitoring ended)")
    if day is None or reason is None:
        return None
    if package is not None and day < package.dated:
        section.problem("ended", f"{day} is before the agreement is dated ({package.dated})")
        return None
    return Ending(day, reason)


def _override(section: Section, covenants: dict[str, Covenant]) -> None:
    """Splice one override into the facility's copy of a covenant."""
    name = section.text("covenant")
    source = section.text("source")
    note = section.text("note", required=False)
    covenant = covenants.get(name or "")
    if name is not None and covenant is None:
        known = ", ".join(sorted(covenants)) or "none"
        section.problem("covenant", f"no covenant {name!r} in the agreement (it has {known})")
    if covenant is None or source is None:
        section.done()
        return
    if section.has("grace_days"):
        days = section.integer("grace_days")
        covenant = replace(covenant, grace_days=days, grace_note=f"{source} (facility override)")
    limit = "maximum" if covenant.breach_when == "above" else "minimum"
    if section.has(limit) or section.has("from"):
        if covenant.test is TestKind.REPORTED:
            section.problem("from", f"covenant {name} has no schedule to override")
            section.done()
            return
        by_quarter = covenant.test is TestKind.FISCAL_QUARTER_END
        start = section.quarter("from") if by_quarter else section.date("from")
        end = section.quarter("through", False) if by_quarter else section.date("through", False)
        value = section.decimal(limit)
        if start is not None and end is not None and end < start:
            section.problem("through", f"{end} is before from {start}")
        elif start is not None and value is not None:
            span = f"{start} through {end}" if end is not None else f"{start} and thereafter"
            row = Threshold(start, end, value, f"facility override: {span}", source, note)
            covenant = replace(covenant, schedule=splice(covenant.schedule, row))
    elif not section.has("grace_days"):
        section.problem(limit, f"an override sets {limit} (with from) or grace_days")
    if section.done():
        covenants[covenant.section] = covenant


def _counted_from(section: Section, figures: dict[str, Figure], package: Agreement | None) -> None:
    """A sum of the package counted from the facility's own first fiscal quarter
    (`annualized_from`), with the clause that says so."""
    name = section.text("name")
    first = section.quarter("annualized_from")
    source = section.text("source")
    figure = figures.get(name or "")
    if name is not None and package is not None and (figure is None or not _annualizable(figure)):
        sums = ", ".join(f.name for f in package.sums if _annualizable(f)) or "none"
        section.problem(
            "name",
            f"{name!r} is not a sum over fiscal quarters of the agreement (its sums: {sums})",
        )
    elif figure is not None and figure.annualized_source is not None:
        section.problem("name", f"{name!r} is counted from its own first quarter twice")
    if section.done() and figure is not None and first is not None and source is not None:
        figures[figure.name] = replace(
            figure, annualized_from=first, annualized_source=f"{source} (facility override)"
        )


def _annualizable(figure: Figure) -> bool:
    return figure.sum_of is not None and not figure.average


def _instrument(
    section: Section, instruments: dict[str, Instrument], covenants: dict[str, Covenant]
) -> None:
    """A waiver, suspension or amendment of the facility's own, beside its package's."""
    instrument = parse_instrument(section)
    if instrument is None:
        return
    if instrument.id in instruments:
        section.problem("id", f"instrument {instrument.id} is declared already (ids are unique)")
        return
    for key, message in instrument_conflicts(instrument, instruments.values(), covenants):
        section.problem(key, message)
    if section.ok:
        instruments[instrument.id] = instrument


def splice(schedule: tuple[Threshold, ...], row: Threshold) -> tuple[Threshold, ...]:
    """The schedule with `row` in force over its span, the rows it overlaps cut around it."""
    kept = []
    for old in schedule:
        if old.start < row.start:
            end = old.end if old.end is not None and old.end < row.start else before(row.start)
            kept.append(replace(old, end=end))
        if row.end is not None and (old.end is None or old.end > row.end):
            start = old.start if old.start > row.end else after(row.end)
            kept.append(replace(old, start=start))
    return tuple(sorted([*kept, row], key=lambda r: r.start))
