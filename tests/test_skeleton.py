"""A test the lifecycle makes has its version filled into a skeleton of its shape
(engine/skeleton.py), and is stored as its shape and its figures: the version must be the one
encoding the event whole gives, byte for byte, and the stored form must read back as the same
event, or logs written before would see every test restated."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date

import pytest

from conftest import EXAMPLE_FACTS, LATE, RULES, quarter, write_table
from engine.facts import load_facts
from engine.lifecycle import PROVENANCE, AuditEvent, canonical, measured_fields
from engine.pipeline import assess
from engine.rules import load_agreement
from engine.skeleton import Skeleton, hole


def whole(event: AuditEvent) -> AuditEvent:
    """The same event, encoded whole."""
    return AuditEvent(
        event.event, event.agreement, event.covenant, event.date, event.details, event.discriminator
    )


def same_when_stored(event: AuditEvent) -> None:
    """Its version is its whole encoding's, and its stored form reads back as itself."""
    assert event.version == whole(event).version
    spooled = event.spooled
    assert spooled is not None
    assert list(spooled[:6]) == list(whole(event).row[:6])  # key, version ... date
    shape, values, folder = spooled[7]
    fields = measured_fields(event.agreement, json.loads(shape), json.loads(values), folder)
    assert fields == [*whole(event).row[:6], event.details]


def test_a_skeleton_filled_is_the_encoding_of_the_whole_value():
    shape = {"b": hole(1), "a": '100% "sure" — é', "c": [hole(0), {"d": hole(2)}], "e": None}
    values = ['x"y', None, "ü\n%s"]
    filled = {"b": None, "a": '100% "sure" — é', "c": ['x"y', {"d": "ü\n%s"}], "e": None}
    assert Skeleton(canonical, shape, ascii_only=False).fill(values) == canonical(filled)
    ascii_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    assert Skeleton(ascii_encode, shape, ascii_only=True).fill(values) == ascii_encode(filled)


def test_a_hole_used_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        Skeleton(canonical, [hole(0), hole(0)], ascii_only=False)


def test_the_examples_tests_are_encoded_as_whole_events():
    """Every test of the bundled example, among them 6.21's with a plus (Net Securities
    Proceeds) and tests with notes, gives the texts of its event encoded whole."""
    agreement = load_agreement(RULES / "cerplex")
    events = assess(agreement, load_facts(EXAMPLE_FACTS / "cerplex", agreement), LATE)
    tests = [e for e in events if e.event == "test"]
    assert {"plus" in e.details for e in tests} == {True, False}
    assert any("note" in e.details for e in tests)
    for event in tests:
        same_when_stored(event)


def test_text_that_needs_escaping_is_encoded_as_whole_events(tmp_path):
    """Quotes, a percent sign and characters beyond ASCII in a covenant's title, a row's
    clause and a test's note (the version's text escapes them, the details text does not),
    and a value of null (a zero denominator that complies)."""
    agreement = load_agreement(RULES / "cerplex")
    ratio = agreement.covenants["6.20"]
    title = 'Current "Ratio" — 100% §'
    note = 'no current liabilities: "complies" — ½'
    ratio = dataclasses.replace(
        ratio,
        title=title,
        schedule=tuple(
            dataclasses.replace(r, source=f"Exhibit A, «{r.table_row}»") for r in ratio.schedule
        ),
        on_zero_denominator="comply",
        zero_denominator_note=note,
    )
    agreement = dataclasses.replace(agreement, covenants={**agreement.covenants, "6.20": ratio})
    folder = tmp_path / "borrower"
    write_table(
        folder,
        "financials",
        [
            quarter("1997-09-30", current_assets="100", current_liabilities="90"),
            quarter("1997-12-31", current_assets="1", current_liabilities="0"),
        ],
    )
    tests = [e for e in assess(agreement, load_facts(folder, agreement), LATE) if e.event == "test"]
    ratios = {e.date: e for e in tests if e.covenant == "6.20"}
    assert ratios[date(1997, 9, 30)].details["title"] == title
    assert ratios[date(1997, 12, 31)].details["value"] is None
    assert ratios[date(1997, 12, 31)].details["note"] == note
    for event in tests:
        same_when_stored(event)


@pytest.mark.parametrize(
    "note", ['ASCII that needs escaping: a\ttab, "quotes", a \\ backslash', "DEL \x7f, ASCII"]
)
def test_a_figure_in_ascii_is_encoded_as_whole_events(tmp_path, note):
    """A test's figures are encoded once for both of its texts when they are ASCII; DEL is
    ASCII, but the version's text (ensure_ascii) escapes it and the stored one does not."""
    agreement = load_agreement(RULES / "cerplex")
    ratio = dataclasses.replace(
        agreement.covenants["6.20"], on_zero_denominator="comply", zero_denominator_note=note
    )
    agreement = dataclasses.replace(agreement, covenants={**agreement.covenants, "6.20": ratio})
    folder = tmp_path / "borrower"
    write_table(
        folder, "financials", [quarter("1997-12-31", current_assets="1", current_liabilities="0")]
    )
    tests = [e for e in assess(agreement, load_facts(folder, agreement), LATE) if e.event == "test"]
    assert [e.details["note"] for e in tests if e.covenant == "6.20"] == [note]
    for event in tests:
        same_when_stored(event)


def test_every_events_version_digests_its_key_and_details_as_json():
    """The version is the SHA-256 of the JSON of [key, details but where its inputs sat]
    (sorted keys, ASCII): made in parts, and for a package's terms once for every facility
    that shares them, it must still be that text's digest. The row stores the details' JSON,
    or for a package's terms the digest of the file that holds it; a tests row names the file
    of each test's shape."""
    versioned = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    agreement = load_agreement(RULES / "cerplex")
    facts = load_facts(EXAMPLE_FACTS / "cerplex", agreement)
    events = assess(agreement, facts, LATE)
    assert {"covenant_terms", "interest_terms", "breach", "test"} <= {e.event for e in events}
    for event in events:
        content = {k: v for k, v in event.details.items() if k not in PROVENANCE}
        text = versioned([event.key, content])
        assert event.version == hashlib.sha256(text.encode()).hexdigest(), event.key
        whole = canonical(event.details)
        if event.event == "test":
            shape = event.spooled[7][0].encode()
            assert event.details_file == (hashlib.sha256(shape).hexdigest(), shape)
            assert event.row.details == whole
        elif event.details_file is None:
            assert event.row.details == whole
        else:  # a package's terms: stored once, in a file named by its digest
            sha = hashlib.sha256(whole.encode()).hexdigest()
            assert event.details_file == (sha, whole.encode())
            assert event.row.details == f'"{sha}"'
    again = assess(agreement, facts, LATE)  # the terms' details and texts made once
    assert [e.row for e in again] == [e.row for e in events]
