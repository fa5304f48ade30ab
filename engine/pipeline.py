"""One monitoring run: rules and facts in, audit events out, nothing written.

Every input is loaded and checked before any facility is evaluated, so bad input anywhere
stops the run before the audit log is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import instruments, terms
from .errors import InputError
from .evaluate import evaluate
from .facts import Facts, load_facts
from .ledger import keep_ledger
from .lifecycle import AuditEvent, run_lifecycle
from .portfolio import Facility, load_portfolio
from .rules import Agreement


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
    current = facts.as_of(as_of)
    states = instruments.resolve(agreement, current, as_of)
    lifecycle = run_lifecycle(
        agreement,
        current,
        as_of,
        evaluate(agreement, current, as_of),
        states,
        instruments.windows(states, as_of),
    )
    return [
        *terms.declared(agreement),
        *lifecycle,
        *keep_ledger(agreement, current, as_of, lifecycle),
    ]
