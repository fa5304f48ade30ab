"""Helpers shared by the tests: write a borrower's facts, run the pipeline, pick events."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest

from engine.lifecycle import AuditEvent
from engine.pipeline import monitor
from engine.schema import TABLES

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLE_FACTS = ROOT / "facts"
LATE = date(2026, 1, 1)  # an as-of date after every fact


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
