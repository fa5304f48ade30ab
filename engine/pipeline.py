"""One monitoring run: rules and facts in, audit events out, nothing written.

Every input is loaded and checked before any agreement is evaluated, so bad input anywhere
stops the run before the audit log is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import instruments, terms
from .errors import InputError, Problem
from .evaluate import evaluate
from .facts import Facts, load_facts
from .ledger import keep_ledger
from .lifecycle import AuditEvent, run_lifecycle
from .rules import Agreement, load_agreements


@dataclass(frozen=True)
class RunOutcome:
    events: list[AuditEvent]
    agreements: list[str]
    without_facts: list[str]  # agreements with no facts folder: nothing to test
    without_rules: list[str]  # borrower folders no agreement is named after: not read
    inputs: dict[str, str]  # where the run read, for the audit log's run record
    facts: dict[str, Facts]  # as loaded, by agreement


def monitor(rules_dir: Path, facts_dir: Path, as_of: date) -> RunOutcome:
    agreements = load_agreements(rules_dir)
    if not facts_dir.is_dir():
        raise InputError([Problem(str(facts_dir), "facts folder not found")])
    loaded: list[tuple[Agreement, Facts]] = []
    without_facts, problems = [], []
    for agreement in agreements:
        folder = facts_dir / agreement.facts
        if not folder.is_dir():
            without_facts.append(agreement.id)
            continue
        try:
            loaded.append((agreement, load_facts(folder, agreement)))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise InputError(problems)
    events: list[AuditEvent] = []
    for agreement, facts in loaded:
        current = facts.as_of(as_of)
        states = instruments.resolve(agreement, current, as_of)
        events.extend(terms.declared(agreement))
        lifecycle = run_lifecycle(
            agreement,
            current,
            as_of,
            evaluate(agreement, current, as_of),
            states,
            instruments.windows(states, as_of),
        )
        events.extend(lifecycle)
        events.extend(keep_ledger(agreement, current, as_of, lifecycle))
    names = {a.facts for a in agreements}
    without_rules = sorted(
        p.name
        for p in facts_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in names
    )
    return RunOutcome(
        events,
        [a.id for a, _ in loaded],
        without_facts,
        without_rules,
        {"rules": str(rules_dir), "facts": str(facts_dir)},
        {a.id: f for a, f in loaded},
    )
