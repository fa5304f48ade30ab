"""What the monitor read, kept so it can be compared and replayed.

A facility's snapshot (`Facility.snapshot`) is every file of its rules folder and of its facts
folder, by digest. The audit log stores the files of each run, so the inputs of the run the
current view rests on can be laid out again: evaluated at today's as-of date they tell which
current events a correction withdraws, and loaded side by side with today's facts they tell
which figure changed, from what, to what.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from . import processes
from .audit import Restatement
from .errors import InputError
from .facts import Facts, load_facts
from .pipeline import assess, monitor, with_rules
from .portfolio import FACILITY_FILE
from .rules import Agreement

# {facility: {"rules": {file name: sha256}, "facts": {file name: sha256}, "package": id,
# "view": {...}, "tails": {table: "..."}}}; the package (the rules folder it follows) is given
# only where it differs from the facility's id; the view (pipeline.View) and the tails of the
# tables tested row by row (facts.Tail) are absent from runs recorded before they were.
Manifest = dict[str, dict[str, Any]]
_GROUPS = ("rules", "facts")


def recorded_entry(
    facility: str, entry: dict[str, Any], view: dict[str, Any], packages: dict[str, Any]
) -> dict[str, Any]:
    """A facility's entry as the run records it (`audit.RunInputs`): the rule files of the
    package it follows once per run, under `packages` (added to them here), not once per
    facility; `view` is what the run left of the facility's view (pipeline.View), which a later
    run may build on."""
    packages.setdefault(entry.get("package", facility), entry["rules"])
    return {k: v for k, v in entry.items() if k != "rules"} | {"view": view}


def same_inputs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two entries name the same files."""
    return all(old.get(k) == new.get(k) for k in ("rules", "facts", "package"))


def expand(inputs: dict[str, Any]) -> Manifest:
    """A run row's manifest with every facility's rule files in its entry again (one shared dict
    per package, `pipeline.with_rules`)."""
    packages = inputs.get("packages", {})
    return {
        facility: with_rules(facility, entry, packages)
        for facility, entry in inputs.get("agreements", {}).items()
    }


def digests(manifest: Manifest) -> set[str]:
    """Every file digest the manifest names."""
    return {
        sha for entry in manifest.values() for g in _GROUPS for sha in entry.get(g, {}).values()
    }


@contextmanager
def laid_out(
    manifest: Manifest, files: dict[str, bytes], groups: tuple[str, ...] = _GROUPS
) -> Iterator[tuple[Path, Path]]:
    """The snapshot's files written out as a rules folder and a facts folder (or only those
    of `groups`). A package's folder is written once, not once for each facility that follows
    it (a replay of ten thousand facilities wrote its files ten thousand times)."""
    with processes.scratch_folder() as root:
        written: dict[Path, dict[str, str]] = {}
        for facility, entry in manifest.items():
            names = {"rules": entry.get("package", facility), "facts": facility}
            for group in groups:
                if PurePosixPath(names[group]).name != names[group] or names[group] == "..":
                    raise ValueError(f"stored folder name {names[group]!r} leaves its folder")
                folder = root / group / names[group]
                named = entry.get(group, {})
                if written.get(folder) == named:
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                for name, sha in named.items():
                    if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
                        raise ValueError(f"stored file name {name!r} leaves its folder")
                    target = folder / name
                    if "/" in name:
                        target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(files[sha])
                written[folder] = named
        (root / "rules").mkdir(exist_ok=True)
        (root / "facts").mkdir(exist_ok=True)
        yield root / "rules", root / "facts"


def compare(
    agreement: str,
    old: Manifest,
    new: Manifest,
    files: dict[str, bytes],
    new_facts: Facts | None,
    as_of: date,
    terms: Agreement | None = None,
) -> Restatement:
    """What changed in `agreement`'s inputs, and the event keys its old inputs give at `as_of`.

    `terms` is the agreement as the facility has it now: when neither its rule files nor its
    facility file changed, the old facts are evaluated against it, not against rule files
    laid out and read again."""
    changes = rule_changes(old[agreement]["rules"], new[agreement]["rules"])
    declared = [
        old[agreement]["facts"].get(FACILITY_FILE),
        new[agreement]["facts"].get(FACILITY_FILE),
    ]
    if declared[0] != declared[1]:
        changes.append({"facility_file": FACILITY_FILE, "change": _what(*declared)})
    with laid_out({agreement: old[agreement]}, files) as (rules_dir, facts_dir):
        try:
            if terms is not None and not changes:
                old_facts = load_facts(facts_dir / agreement, terms)
                events = assess(terms, old_facts, as_of)
            else:
                outcome = monitor(rules_dir, facts_dir, as_of)
                old_facts, events = outcome.facts.get(agreement), outcome.events
        except InputError as error:
            # Inputs this engine refuses now (a stricter check since): the changes are still
            # listed, but nothing can be withdrawn on their evidence. Each problem names its
            # file as recorded (facts/<facility>/...), not where it was laid out for now.
            root = rules_dir.parent
            problems = "; ".join(
                str(replace(p, file=_as_recorded(p.file, root))) for p in error.problems
            )
            changes.append({"note": f"the earlier inputs no longer load: {problems}"})
            return Restatement(changes, None)
    if old_facts is not None and new_facts is not None:
        changes = fact_changes(old_facts, new_facts) + changes
    keys = frozenset(e.key for e in events if e.agreement == agreement)
    return Restatement(changes, keys)


def rule_changes(old: dict[str, str], new: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"rules_file": name, "change": _what(old.get(name), new.get(name))}
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def _what(old: str | None, new: str | None) -> str:
    return "added" if old is None else "removed" if new is None else "edited"


def _as_recorded(file: str, root: Path) -> str:
    path = Path(file)
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else file


def fact_changes(old: Facts, new: Facts) -> list[dict[str, Any]]:
    """Each figure that differs between two loads of the facts: table, row key, column, the old
    and new value, and where the new one sits. Added rows are not changes: they restate nothing."""
    found = []
    before, after = _by_key(old), _by_key(new)
    for (table, key), (values, origin) in before.items():
        if (table, key) not in after:
            found.append({"table": table, "row": key, "change": "removed", "was": str(origin)})
            continue
        new_values, new_origin = after[(table, key)]
        for column in sorted(set(values) | set(new_values)):
            if values.get(column) != new_values.get(column):
                found.append(
                    {
                        "table": table,
                        "row": key,
                        "column": column,
                        "old": values.get(column),
                        "new": new_values.get(column),
                        "source_row": str(new_origin),
                    }
                )
    return found


def _by_key(facts: Facts) -> dict[tuple[str, str], tuple[dict[str, str | None], object]]:
    rows: dict[tuple[str, str], tuple[dict[str, str | None], object]] = {}
    for r in facts.financials:
        # What the controller wrote: not a figure carried from an earlier row, nor a sum of
        # earlier quarters' (their change is the quarter's that changed)
        values = {
            k: str(v)
            for k, v in r.amounts.items()
            if (r.nsp_carried_from is None or k != "net_securities_proceeds")
            and (r.sums is None or k not in r.sums)
        }
        values.update(
            fiscal_quarter=str(r.fiscal_quarter) if r.fiscal_quarter else None, note=r.note
        )
        rows[("financials", f"period_end {r.period_end}")] = (values, r.origin)
    for r in facts.revolver:
        values = {k: str(v) for k, v in r.amounts.items()} | {"note": r.note}
        rows[("revolver", f"date {r.date}")] = (values, r.origin)
    for n in facts.notes:
        values = {"initial_capitalized_interest_amount": str(n.initial_capitalized_interest_amount)}
        rows[("notes", f"holder {n.holder}")] = (values, n.origin)
    for p in facts.prime_rates:
        rows[("prime_rate", f"date {p.date}")] = ({"rate_percent": str(p.rate_percent)}, p.origin)
    for e in facts.events:
        key = " ".join(
            str(x) for x in (e.date, e.event, e.covenant or "", e.instrument or "")
        ).strip()
        rows[("events", key)] = ({"note": e.note}, e.origin)
    return rows
