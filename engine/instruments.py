"""Where each instrument stands on the as-of date: effective, pending or not yet effective,
and when a suspension ends.

The lifecycle rules receive the result as windows carried on each breach fact, so a rule
compares fields of one fact (the pattern DESIGN.md recommends for durable-rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from .facts import FactEventRow, Facts
from .rules import Agreement, Instrument
from .schema import FactEvent


class Status(StrEnum):
    EFFECTIVE = "effective"
    PENDING = "pending"  # its effective date passed without its conditions precedent
    NOT_YET_EFFECTIVE = "not_yet_effective"  # the as-of date is before its effective date


@dataclass(frozen=True)
class InstrumentState:
    instrument: Instrument
    status: Status
    conditions: FactEventRow | None = None  # the events.csv row that satisfied them
    reinstatement: date | None = None  # known once it has happened by the as-of date
    reinstatement_trigger: str | None = None


@dataclass(frozen=True)
class Window:
    """What an effective instrument does to one covenant's breaches."""

    waived_before: date | None = None
    waiver: InstrumentState | None = None
    suspended_from: date | None = None
    suspended_through: date | None = None  # the Reinstatement Date, or the as-of date
    suspension: InstrumentState | None = None


def resolve(agreement: Agreement, facts: Facts, as_of: date) -> list[InstrumentState]:
    """`facts` must already be limited to the as-of date."""
    return [_resolve(i, facts, as_of) for i in agreement.instruments.values()]


def _resolve(instrument: Instrument, facts: Facts, as_of: date) -> InstrumentState:
    if as_of < instrument.effective:
        return InstrumentState(instrument, Status.NOT_YET_EFFECTIVE)
    conditions = None
    if instrument.conditions_precedent is not None:
        conditions = next(
            (
                e
                for e in facts.events
                if e.event is FactEvent.CONDITIONS_SATISFIED
                and e.instrument == instrument.id
                and e.date <= instrument.effective
            ),
            None,
        )
        if conditions is None:
            return InstrumentState(instrument, Status.PENDING)
    reinstatement = trigger = None
    suspension = instrument.suspension
    if suspension is not None:
        action = next(
            (
                e
                for e in facts.events
                if e.event == suspension.until_event and e.date >= instrument.effective
            ),
            None,
        )
        if action is not None and action.date <= suspension.until_latest:
            reinstatement = action.date
            trigger = f"{suspension.until_event} on {action.date} ({action.origin.cited})"
        elif as_of >= suspension.until_latest:
            reinstatement = suspension.until_latest
            trigger = f"the outer date {suspension.until_latest} ({suspension.source})"
    return InstrumentState(instrument, Status.EFFECTIVE, conditions, reinstatement, trigger)


def windows(states: list[InstrumentState], as_of: date) -> dict[str, Window]:
    """Per covenant section, the waiver and suspension in force (one of each at most)."""
    result: dict[str, Window] = {}
    for state in states:
        if state.status is not Status.EFFECTIVE:
            continue
        instrument = state.instrument
        if instrument.waiver is not None:
            for section in instrument.waiver.covenants:
                window = result.get(section, Window())
                result[section] = Window(
                    instrument.effective,
                    state,
                    window.suspended_from,
                    window.suspended_through,
                    window.suspension,
                )
        if instrument.suspension is not None:
            through = state.reinstatement or as_of
            for section in instrument.suspension.covenants:
                window = result.get(section, Window())
                result[section] = Window(
                    window.waived_before, window.waiver, instrument.effective, through, state
                )
    return result
