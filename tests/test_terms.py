"""The terms of the agreement are recorded in the audit log, once per version, so a report built
from the log alone shows the clause text and schedule each test was run against."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from pathlib import Path

from conftest import EXAMPLE_FACTS, LATE, only, run
from engine import audit
from engine.pipeline import monitor


def test_each_covenant_records_its_schedule_with_the_clauses():
    events = run(EXAMPLE_FACTS)
    terms = only(events, "covenant_terms", "6.18")
    # First Amendment Agreement, Exhibit A item 3: five rows, the last "June 30, 1998 and
    # thereafter" at $5,000,000; the restated covenant is in force from the amendment's date.
    assert terms.date == date(1997, 8, 20)
    rows = terms.details["schedule"]
    assert [(r["from"], r["through"], r["minimum"]) for r in rows] == [
        ("1997Q2", "1997Q2", "-16609000"),
        ("1997Q3", "1997Q3", "-1458000"),
        ("1997Q4", "1997Q4", "-838000"),
        ("1998Q1", "1998Q1", "-391000"),
        ("1998Q2", None, "5000000"),
    ]
    assert rows[4]["source"].endswith("row 'June 30, 1998 and thereafter'")
    assert "less than the amounts set forth opposite such dates" in terms.details["text"]
    assert terms.details["unit"] == "USD"
    assert only(events, "covenant_terms", "6.20").details["unit"] == "ratio"
    # Sections 6.3 and 6.4 come from the 1993 agreement (Recital B: dated November 19, 1993).
    assert only(events, "covenant_terms", "6.3").date == date(1993, 11, 19)
    agreement = only(events, "agreement_terms")
    assert agreement.details["borrower"] == "The Cerplex Group, Inc."
    assert [r["floor_percent"] for r in agreement.details["default_rates"]] == ["13.50", "17"]


def test_changed_terms_supersede_the_old_and_unchanged_terms_are_not_recorded_again(
    rules_copy: Path, tmp_path: Path
):
    db = tmp_path / "log.db"
    first = monitor(rules_copy, EXAMPLE_FACTS, LATE)
    audit.record(db, first.events, LATE, first.inputs)
    # The same rules read through a different path are the same terms: nothing new.
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        again = monitor(Path("rules"), EXAMPLE_FACTS, LATE)
    finally:
        os.chdir(here)
    assert audit.record(db, again.events, LATE, again.inputs) == []

    path = rules_copy / "cerplex" / "covenant-6.20-current-ratio.toml"
    path.write_text(path.read_text().replace('minimum = "0.45"', 'minimum = "0.46"'))
    changed = monitor(rules_copy, EXAMPLE_FACTS, LATE)
    stored = audit.record(db, changed.events, LATE, changed.inputs)
    assert [(e.event, e.covenant) for e in stored if e.event.endswith("_terms")] == [
        ("covenant_terms", "6.20")
    ]
    history = audit.read(db, history=True)
    versions = [e for e in history if e.event == "covenant_terms" and e.covenant == "6.20"]
    assert [v.details["schedule"][3]["minimum"] for v in versions] == ["0.45", "0.46"]
    assert versions[1].supersedes == (versions[0].seq,)
    assert versions[0].superseded_by == versions[1].seq
    current = [e for e in audit.read(db) if e.event == "covenant_terms" and e.covenant == "6.20"]
    assert current == [replace(versions[1], superseded_by=None)]
