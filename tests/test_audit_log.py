"""The audit log: append-only, hash-chained, one transaction per run; `verify` names the first
row changed behind the monitor's back, and `run` refuses to add to a log whose tail does not
end where the last run left it (or to any such log, with --verify). Each test runs on
both stores (a SQLite file and a PostgreSQL schema) unless it is about one of them."""

import hashlib
import json
import pickle
import shutil
import sqlite3
import threading
from datetime import date

import pytest

from conftest import EXAMPLE_FACTS, LATE, RULES, Store, run
from engine import audit, runner, store
from engine.cli import main
from engine.lifecycle import AuditEvent, SharedDetails, SharedEvent, canonical


@pytest.fixture
def db(store_log: Store) -> Store:
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    assert main([*args, "--as-of", "1997-12-31"]) == 1
    assert main(args) == 1  # a second run, so the chain crosses a run boundary
    return store_log


def verify(db: Store, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "--db", str(db)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# The example's run through today: 629 events, 132 of them payment_overdue (note_payments.csv):
# the three Section 4.2 accelerations, paid 13 days late, and for each of the three Notes the 42
# monthly interest payments of June 19, 1998 to November 19, 2001 and the principal, unpaid.
EXAMPLE_EVENTS = 629


def test_a_first_run_stopped_before_its_tables_left_an_empty_file_the_next_run_uses(
    tmp_path, capsys
):
    """SQLite creates the file before the run's tables are committed: a first run killed in
    between leaves an empty file (the kill trial met it), which must not stop every run after."""
    path = tmp_path / "log.db"
    path.touch()
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(path)]
    assert main(args) == 1  # new breaches recorded
    assert len(audit.read(path)) == EXAMPLE_EVENTS and audit.verify(path).ok


def test_an_intact_log_verifies_and_prints_its_head(db, capsys):
    code, out = verify(db, capsys)
    assert code == 0
    assert f"intact: 2 runs, {len(audit.read(db.db, history=True))} events" in out
    assert audit.head(db.db) in out


def test_rows_cannot_be_updated_or_deleted(db, capsys):
    for statement in (
        "UPDATE events SET details = '{}' WHERE seq = 1",
        "DELETE FROM events",
        "UPDATE runs SET as_of = '2000-01-01'",
        "DELETE FROM files",
    ):
        with pytest.raises(db.append_only_error(), match="append-only"):
            db.query(statement)
    assert verify(db, capsys)[0] == 0


def test_an_edited_event_is_named(db, capsys):
    db.intrude("""UPDATE events SET details = '{"value": "0"}' WHERE seq = 40""")
    code, out = verify(db, capsys)
    assert code == 5
    assert "event 40 was altered" in out


def test_reformatting_an_event_without_changing_its_meaning_is_still_an_edit(db, capsys):
    ((details,),) = db.query("SELECT details FROM events WHERE seq = 1")
    spaced = details.replace('","', '", "')
    assert spaced != details
    db.intrude("UPDATE events SET details = " + "'" + spaced.replace("'", "''") + "' WHERE seq = 1")
    assert "event 1 was altered" in verify(db, capsys)[1]


def _first_shared(db: Store, shared: str) -> tuple[int, str]:
    """The seq of the first event whose row names a file that holds what events share, stored
    once (a package's `terms`; a tests row's last `shape`), and that file's digest."""
    kind = "covenant_terms" if shared == "terms" else "tests"
    ((seq, details),) = db.query(
        f"SELECT seq, details FROM events WHERE event = '{kind}' ORDER BY seq LIMIT 1"
    )
    named = json.loads(details)
    return seq, named if shared == "terms" else named["shapes"][-1]


@pytest.mark.parametrize("shared", ["terms", "shape"])
def test_an_edited_file_of_shared_details_is_named(db, capsys, shared):
    """The chain covers the digest an event's row holds; `verify` checks that the file it
    names still gives that digest."""
    seq, sha = _first_shared(db, shared)
    empty = "x'7b7d'" if db.kind == "sqlite" else "decode('7b7d', 'hex')"  # b"{}"
    db.intrude(f"UPDATE files SET content = {empty} WHERE sha256 = '{sha}'")
    code, out = verify(db, capsys)
    assert code == 5 and f"event {seq}: the file of its details {sha} is missing or altered" in out


@pytest.mark.parametrize("shared", ["terms", "shape"])
def test_a_deleted_file_of_shared_details_is_named_and_not_read_as_nothing(db, capsys, shared):
    seq, sha = _first_shared(db, shared)
    db.intrude(f"DELETE FROM files WHERE sha256 = '{sha}'")
    code, out = verify(db, capsys)
    assert code == 5 and f"event {seq}: the file of its details {sha} is missing or altered" in out
    with pytest.raises(store.AuditLogMissing, match=f"lacks the file {sha} of an event's details"):
        audit.read(db.db)


def test_a_deleted_event_is_named(db, capsys):
    db.intrude("DELETE FROM events WHERE seq = 12")
    code, out = verify(db, capsys)
    assert code == 5 and "event 12 is missing" in out


def test_the_last_event_of_a_run_deleted_is_named(db, capsys):
    last = audit.read(db.db, history=True)[-1].seq
    db.intrude(f"DELETE FROM events WHERE seq = {last}")
    assert f"event {last} is missing" in verify(db, capsys)[1]


def test_swapped_events_are_named(db, capsys):
    db.intrude(
        "UPDATE events SET seq = -1 WHERE seq = 20",
        "UPDATE events SET seq = 20 WHERE seq = 21",
        "UPDATE events SET seq = 21 WHERE seq = -1",
    )
    code, out = verify(db, capsys)
    assert code == 5 and "event 20 was altered or moved" in out


def test_an_event_added_outside_a_run_is_named(db, capsys):
    last = audit.read(db.db, history=True)[-1].seq
    db.intrude(
        f"INSERT INTO events SELECT {last + 1}, run, key || 'x', version, event, agreement,"
        f" covenant, date, details, supersedes, hash, hash FROM events WHERE seq = {last}",
    )
    assert f"event {last + 1} was added outside any run" in verify(db, capsys)[1]


def test_an_edited_run_record_is_named_by_its_first_event(db, capsys):
    first_of_run_2 = min(e.seq for e in audit.read(db.db, history=True) if e.run == 2)
    db.intrude("UPDATE runs SET as_of = '2030-01-01' WHERE run = 2")
    code, out = verify(db, capsys)
    assert code == 5 and f"run 2 (from event {first_of_run_2}) was altered" in out


def test_an_edited_stored_input_file_is_found(db, capsys):
    zero = "x'00'" if db.kind == "sqlite" else "decode('00', 'hex')"
    db.intrude(f"UPDATE files SET content = {zero}")
    code, out = verify(db, capsys)
    assert code == 5 and "run 1: stored input" in out


def _run_on(db: Store, *extra: str) -> int:
    return main(
        ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db), *extra]
    )


def test_run_with_verify_refuses_a_tampered_log_and_writes_nothing(db, capsys):
    db.intrude("""UPDATE events SET details = '{}' WHERE seq = 2""")
    before = db.contents()
    assert _run_on(db, "--verify") == 5
    assert "fails verification: event 2 was altered" in capsys.readouterr().err
    assert db.contents() == before


def _newest_run(db: Store) -> tuple[int, int, int]:
    ((run, first, count),) = db.query(
        "SELECT run, first_seq, events FROM runs ORDER BY run DESC LIMIT 1"
    )
    return run, first, first + count - 1


@pytest.mark.parametrize("which", ["first", "last"])
def test_run_refuses_a_log_whose_newest_run_was_edited(db, capsys, which):
    """Without --verify a run checks the tail only (constant time): the newest run row and the
    first and last of its events."""
    _, first, last = _newest_run(db)
    seq = first if which == "first" else last
    db.intrude(f"UPDATE events SET details = '{{}}' WHERE seq = {seq}")
    before = db.contents()
    assert _run_on(db) == 5
    assert f"fails verification: event {seq} was altered" in capsys.readouterr().err
    assert db.contents() == before


def test_run_refuses_a_log_whose_newest_run_row_was_edited(db, capsys):
    run, _, _ = _newest_run(db)
    db.intrude(f"UPDATE runs SET as_of = '2001-01-01' WHERE run = {run}")
    assert _run_on(db) == 5
    assert f"run {run} (from event" in capsys.readouterr().err


def test_run_refuses_a_log_with_its_newest_event_deleted(db, capsys):
    _, _, last = _newest_run(db)
    db.intrude(f"DELETE FROM events WHERE seq = {last}")
    assert _run_on(db) == 5
    assert f"event {last} is missing" in capsys.readouterr().err


def test_verify_reads_the_log_as_of_one_moment_while_a_run_records(
    store_log: Store, tmp_path, monkeypatch
):
    """`verify` takes no lock, so a scheduled run may record while it reads. It must read the
    stored files, the runs and the events as of one moment: a run recorded between those reads
    looked like tampering (its new file "missing or altered", its events "missing (deleted)")."""
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    args = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(store_log)]
    assert main([*args, "--as-of", "1997-12-31"]) == 1
    with (facts / "cerplex" / "README.md").open("a") as readme:
        readme.write("\nSaved again.\n")  # a file the next run stores anew
    recording, recorded = threading.Event(), []

    def record() -> None:
        def progress(message: str, **_: object) -> None:
            if message == "recording":
                recording.set()

        result = runner.execute(RULES, facts, store_log.db, date(1998, 12, 31), progress=progress)
        recorded.append(result.first_seq)

    writer = threading.Thread(target=record)
    digests = audit._stored_digests

    def digests_then_a_run(connection):
        found = digests(connection)
        writer.start()
        assert recording.wait(timeout=60)
        writer.join(timeout=1)  # recorded by now, unless this read holds it off (SQLite)
        return found

    monkeypatch.setattr(audit, "_stored_digests", digests_then_a_run)
    checked = audit.verify(store_log.db)
    writer.join()
    assert checked.ok, checked.message
    assert recorded and recorded[0] is not None  # the run recorded events
    monkeypatch.undo()
    assert audit.verify(store_log.db).ok


def test_a_report_reads_the_log_as_it_stood_when_the_report_began(
    store_log: Store, tmp_path, monkeypatch
):
    """A report reads the facilities the log holds, then each one's view, and takes no lock.
    A run that records in between must not reach it: the report said it was the state on the
    latest run's as-of date, as read first, and built from every event up to the last it read,
    while showing the later run's events."""
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    assert main([*args, "--as-of", "1997-12-31"]) == 1
    report = ["report", "--db", str(store_log), "--format", "json", "--out"]
    assert main([*report, str(tmp_path / "before.json")]) == 0
    views = audit.read_by_facility

    def a_run_then_views(*given, **options):
        assert main([*args, "--as-of", "1998-12-31"]) == 1  # new events: the 1998 breaches
        return views(*given, **options)

    monkeypatch.setattr(audit, "read_by_facility", a_run_then_views)
    assert main([*report, str(tmp_path / "during.json")]) == 0
    during = (tmp_path / "during.json").read_bytes()
    assert during == (tmp_path / "before.json").read_bytes()
    monkeypatch.undo()
    assert main([*report, str(tmp_path / "after.json")]) == 0
    assert (tmp_path / "after.json").read_bytes() != during  # the run did record


def test_an_edit_deeper_in_the_log_is_left_to_verify(db, capsys):
    """The cost of a run does not grow with the log: an older row's edit is verify's to find
    (the deploy recipes verify before each scheduled run)."""
    db.intrude("""UPDATE events SET details = '{}' WHERE seq = 2""")
    assert _run_on(db) in (0, 1)
    code, out = verify(db, capsys)
    assert code == 5 and "event 2 was altered" in out


def test_a_run_that_fails_midway_writes_nothing(store_log):
    db = store_log.db
    good = AuditEvent("test", "cerplex", "6.18", date(1997, 9, 27), {"value": "1"}, "a")
    bad = AuditEvent("test", "cerplex", "6.18", date(1997, 9, 28), {"value": object()}, "b")
    with pytest.raises(TypeError):
        audit.record(db, [good, bad], LATE, {})
    assert audit.read(db) == []
    assert audit.verify(db).ok


def test_each_run_is_recorded_with_its_as_of_date(store_log):
    db = store_log.db
    stored = audit.record(
        db, run(EXAMPLE_FACTS, as_of=date(1996, 12, 31)), date(1996, 12, 31), {"facts": "x"}
    )
    assert {e.run for e in stored} == {1}
    assert {e.as_of for e in audit.read(db)} == {date(1996, 12, 31)}


def test_a_log_of_another_version_is_refused_not_changed(store_log, capsys):
    if store_log.kind == "sqlite":
        store_log.query("CREATE TABLE events (seq INTEGER PRIMARY KEY, key TEXT)")
        says = "not an audit log of this version (schema 0, expected 9)"
    else:
        store_log.query("CREATE TABLE covenant_monitor (schema_version INTEGER)")
        store_log.query("INSERT INTO covenant_monitor VALUES (1)")
        says = "another version (schema 1, expected 9)"
    before = store_log.contents()
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    assert main(args) == 2
    assert says in capsys.readouterr().err
    assert store_log.contents() == before


def _schema_version(log: Store) -> int:
    if log.kind == "sqlite":
        return log.query("PRAGMA user_version")[0][0]
    return log.query("SELECT schema_version FROM covenant_monitor")[0][0]


@pytest.mark.parametrize("old", [2, 3, 4, 5, 6, 7, 8])
def test_a_log_of_an_earlier_version_is_read_as_it_is_and_upgraded_by_the_next_run(store_log, old):
    """Version 3 stores a run's tests in one row, which version 2's code cannot read; version 4
    stores them in shapes and figures, which version 3's cannot; version 5 stores files with
    lines appended as the bytes added (`appended_files`, a table the earlier versions lack),
    which version 4's would find missing; version 6 stores a package's terms once, each event
    naming their file, which version 5's would give as the terms; version 7 stores the shapes
    of a tests row's tests once, the row naming their files, which version 6's cannot read;
    version 8 chains a tests row by the digest of its details, which version 7's would find
    altered, and names its tests' folder once; version 9 stores what a run read of each
    facility in rows of their own (`run_agreements`), not in its run row's inputs, where
    version 8's would look for them. A log any of them wrote is read as it is, and once
    written to says version 9 and has those tables, so older code refuses it instead of
    misreading it."""
    terms = AuditEvent("agreement_terms", "cerplex", None, date(1996, 3, 31), {"title": "x"})
    x = hashlib.sha256(b"x").hexdigest()
    read = {"agreements": {"cerplex": {"facts": {"f.csv": x}}}}
    files = {"ab" * 32: b"x", x: b"x"}
    audit.record(store_log.db, [terms], date(1998, 3, 31), read, files=files)
    # The run row as version 8 and before stored it, its inputs whole: the same text chained.
    dropped = [
        "DROP TABLE run_agreements",
        "ALTER TABLE runs DROP COLUMN agreements",
        f"UPDATE runs SET inputs = '{canonical(read)}'",
    ]
    dropped += ["DROP TABLE appended_files"] if old < 5 else []
    if store_log.kind == "sqlite":
        store_log.intrude(*dropped, f"PRAGMA user_version = {old}")
    else:
        store_log.intrude(*dropped, f"UPDATE covenant_monitor SET schema_version = {old}")
    before = store_log.contents()
    assert [e.event for e in audit.read(store_log.db)] == ["agreement_terms"]
    assert audit.verify(store_log.db).ok
    assert audit.files(store_log.db, ["ab" * 32]) == {"ab" * 32: b"x"}
    assert [run.inputs for run in audit.runs(store_log.db)] == [read]
    assert store_log.contents() == before and _schema_version(store_log) == old
    audit.record(store_log.db, [terms, _test(1, "1.10")], date(1998, 3, 31), read)
    assert _schema_version(store_log) == 9
    assert [run.inputs for run in audit.runs(store_log.db)] == [read, read]
    stored = "SELECT run, agreements, inputs FROM runs ORDER BY run"
    assert store_log.query(stored) == [(1, None, canonical(read)), (2, 1, "{}")]
    added = "x'79'" if store_log.kind == "sqlite" else "decode('79', 'hex')"  # b"y"
    store_log.query(f"INSERT INTO appended_files VALUES ('{'cd' * 32}', '{'ab' * 32}', {added})")
    assert audit.files(store_log.db, ["cd" * 32]) == {"cd" * 32: b"xy"}
    with pytest.raises(store_log.append_only_error(), match="append-only"):
        store_log.query("DELETE FROM appended_files")
    assert [e.event for e in audit.read(store_log.db)] == ["agreement_terms", "test"]
    assert audit.verify(store_log.db).ok


def test_terms_a_log_holds_in_their_rows_are_not_recorded_again_when_stored_once(store_log):
    """Logs before version 6 hold a package's terms in each event's row. An event's version
    digests its details, not where they are stored: the next run finds such terms unchanged
    and records nothing, and both forms read the same."""
    details = {"rule": "declared", "title": "Current Ratio", "schedule": [{"minimum": "1.00"}]}
    day, as_of = date(1997, 8, 20), date(1998, 3, 31)
    whole = AuditEvent("covenant_terms", "south", "6.20", day, details)  # as version 5 stored
    audit.record(store_log.db, [whole], as_of, {})
    terms = SharedDetails(details)
    shared = [SharedEvent("covenant_terms", f, "6.20", day, terms) for f in ("south", "north")]
    assert [e.agreement for e in audit.record(store_log.db, shared, as_of, {})] == ["north"]
    sha = hashlib.sha256(canonical(details).encode()).hexdigest()
    rows = store_log.query("SELECT agreement, details FROM events ORDER BY seq")
    assert rows == [("south", canonical(details)), ("north", f'"{sha}"')]
    assert [e.details for e in audit.read(store_log.db)] == [details, details]
    assert audit.files(store_log.db, [sha]) == {sha: canonical(details).encode()}
    assert audit.verify(store_log.db).ok


# A facility's new covenant tests of one run are stored in one row of kind `tests`, which takes
# their seqs; every reader gives the tests one by one.


def _test(day: int, value: str) -> AuditEvent:
    return AuditEvent("test", "cerplex", "6.20", date(1998, 3, day), {"value": value})


def _recorded_tests(db: Store) -> None:
    """Run 1: the terms, then three tests (seqs 2 to 4, one row); run 2: the second test
    again with another value (seq 6, superseding seq 3), after the restatement that says so
    (seq 5)."""
    terms = AuditEvent("agreement_terms", "cerplex", None, date(1996, 3, 31), {"title": "x"})
    first = [terms, _test(1, "1.10"), _test(2, "1.20"), _test(3, "1.30")]
    audit.record(db.db, first, date(1998, 3, 31), {})
    audit.record(db.db, [*first[:2], _test(2, "1.25"), first[3]], date(1998, 3, 31), {})


def test_postgresql_compresses_what_a_run_stores_out_of_line_with_lz4(db):
    """pglz, PostgreSQL's default, took more than half of a run's recording time."""
    if db.kind == "sqlite":
        pytest.skip("SQLite compresses nothing")
    settings = "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    if "lz4" not in [value for row in db.query(settings) for value in row[0]]:
        pytest.skip("this PostgreSQL server was built without LZ4 (it keeps pglz)")
    for column, table in (("details", "events"), ("content", "files")):
        compressed = f"SELECT DISTINCT pg_column_compression({column}) FROM {table}"
        assert db.query(f"{compressed} WHERE pg_column_compression({column}) IS NOT NULL") == [
            ("lz4",)
        ]
    assert db.query("SHOW default_toast_compression") == [("pglz",)]  # the server's, untouched


def test_postgresql_rows_written_in_many_copies_make_the_same_chain(store_log, monkeypatch):
    """A run's events go to PostgreSQL in COPYs of `_COPY_ROWS` rows each (statements short
    enough for a server's statement_timeout). At two rows a COPY, a first run still records
    each event the example gives once: the chain is whole, and the log holds what the
    example's facts give, worked out without a log (in the log's order, a run's tests stored
    together where the first of them is)."""
    if store_log.kind == "sqlite":
        pytest.skip("SQLite takes a run's rows in one statement")
    monkeypatch.setattr(store, "_COPY_ROWS", 2)
    args = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    assert main([*args, "--as-of", LATE.isoformat()]) == 1
    verification = audit.verify(store_log.db)
    assert verification.ok
    assert store_log.query("SELECT count(*) FROM events")[0][0] > 2 * 2  # several COPYs
    given = run(EXAMPLE_FACTS)
    recorded = audit.read(store_log.db)
    assert sorted((e.key, e.version) for e in recorded) == sorted((e.key, e.version) for e in given)
    assert len(recorded) == len(given) == verification.events


def test_a_runs_tests_are_stored_in_one_row_and_read_one_by_one(store_log):
    _recorded_tests(store_log)
    assert store_log.query("SELECT seq, event, version FROM events ORDER BY seq") == [
        (1, "agreement_terms", audit.read(store_log.db)[0].version),
        (2, "tests", "3"),
        (5, "restatement", audit.read(store_log.db)[3].version),
        (6, "test", _test(2, "1.25").version),
    ]
    history = audit.read(store_log.db, history=True)
    assert [(e.seq, e.event, e.details.get("value")) for e in history] == [
        (1, "agreement_terms", None),
        (2, "test", "1.10"),
        (3, "test", "1.20"),
        (4, "test", "1.30"),
        (5, "restatement", None),
        (6, "test", "1.25"),
    ]
    assert history[4].details["replaced"] == [3]
    assert history[2].superseded_by == 6 and history[5].supersedes == (3,)
    assert [e.seq for e in audit.read(store_log.db)] == [1, 2, 4, 5, 6]
    assert [e.seq for e in audit.written(store_log.db, 1, 4, skip=["agreement_terms"])] == [2, 3, 4]
    assert audit.last_seq(store_log.db) == 6
    verification = audit.verify(store_log.db)
    assert verification.ok and (verification.runs, verification.events) == (2, 6)
    assert audit.check_tail(store_log.db).ok


def test_an_edited_test_is_named_by_the_row_that_stores_it(store_log):
    _recorded_tests(store_log)
    store_log.intrude("UPDATE events SET details = replace(details, '1.20', '1.02') WHERE seq = 2")
    verification = audit.verify(store_log.db)
    assert not verification.ok and verification.message == "event 2 was altered or moved"


@pytest.mark.parametrize("change", ["edited", "deleted"])
def test_run_refuses_a_log_whose_newest_row_of_tests_was_changed(store_log, change):
    """The newest run's only row is its tests row (seqs 2 to 4): first and last at once."""
    terms = AuditEvent("agreement_terms", "cerplex", None, date(1996, 3, 31), {"title": "x"})
    audit.record(store_log.db, [terms], date(1998, 3, 31), {})
    audit.record(
        store_log.db,
        [terms, _test(1, "1.1"), _test(2, "1.2"), _test(3, "1.3")],
        date(1998, 3, 31),
        {},
    )
    assert audit.check_tail(store_log.db).ok
    if change == "edited":
        store_log.intrude(
            "UPDATE events SET details = replace(details, '1.2', '1.0') WHERE seq = 2"
        )
        says = "event 2 was altered or moved"
    else:
        store_log.intrude("DELETE FROM events WHERE seq = 2")
        says = "event 2 is missing (deleted)"
    assert audit.check_tail(store_log.db).message == says
    assert audit.verify(store_log.db).message == says


def test_the_lifecycles_tests_are_stored_as_shapes_and_figures(store_log):
    """Tests made by the lifecycle share their covenant row's terms: their row holds each
    shape once and each test's figures, and reads back as the same events."""
    events = run(EXAMPLE_FACTS)
    tests = [e for e in events if e.event == "test"]
    audit.record(store_log.db, events, LATE, {})
    [(seq, stored)] = store_log.query("SELECT seq, details FROM events WHERE event = 'tests'")
    assert json.loads(stored).keys() == {"chain", "shapes", "folder", "tests"}
    # The folder of every test's source row, named once; each test names its row within it.
    folder = str(EXAMPLE_FACTS / "cerplex") + "/"
    assert json.loads(stored)["folder"] == folder and stored.count(folder) == 1
    assert {t.details["source_row"].rpartition("/")[0] + "/" for t in tests} == {folder}
    assert len(stored) < sum(len(t.row.chained) for t in tests) * 2 / 3  # schema 3 stored those
    read = [e for e in audit.read(store_log.db) if e.event == "test"]
    assert [(e.key, e.version, e.date, e.details) for e in read] == [
        (t.key, t.version, t.date, t.details) for t in tests
    ]
    assert [e.seq for e in read] == list(range(seq, seq + len(tests)))
    assert audit.record(store_log.db, events, LATE, {}) == []  # the view compared reads them
    assert audit.verify(store_log.db).ok
    store_log.intrude(
        "UPDATE events SET details = replace(details, '\"compliant\"', '\"breach\"')"
        f" WHERE seq = {seq}"
    )
    assert audit.verify(store_log.db).message == f"event {seq} was altered or moved"


def test_a_folder_named_with_quotes_and_accents_is_named_once_and_read_back(store_log, tmp_path):
    """The folder a tests row names for its source rows is JSON-escaped like any text: a
    facility in a folder whose name holds a quote, a backslash, a percent sign and letters
    beyond ASCII, run by two workers, reads back as evaluated, and the log verifies."""
    facts = tmp_path / 'Bücher "A\\B" 100%'
    shutil.copytree(EXAMPLE_FACTS, facts)
    where = ["--rules", str(RULES), "--facts", str(facts), "--db", str(store_log)]
    assert main(["run", *where, "--as-of", LATE.isoformat(), "--workers", "2"]) == 1
    [(stored,)] = store_log.query("SELECT details FROM events WHERE event = 'tests'")
    assert json.loads(stored)["folder"] == f"{facts}/cerplex/"
    made = [(e.key, e.version, e.details) for e in run(facts) if e.event == "test"]
    assert [
        (e.key, e.version, e.details) for e in audit.read(store_log.db) if e.event == "test"
    ] == made
    assert audit.verify(store_log.db).ok


def test_tests_whose_source_rows_are_in_different_folders_are_stored_whole(store_log):
    """A tests row names one folder for its tests' source rows (schema 8). If they are in
    more than one (as where First Amendment 5.2's reserve is tested before any
    counsel_reserve.csv row, and the test cites that file's name alone), each test is stored
    whole, in schema 3's form, and every test reads back with its source row as made."""
    events = run(EXAMPLE_FACTS)
    tests = [e for e in events if e.event == "test"]
    moved = tests[3]
    *fields, (shape, values, _) = moved.spooled
    moved.__dict__["spooled"] = (*fields, (shape, values, "elsewhere/"))
    audit.record(store_log.db, events, LATE, {})
    [(stored,)] = store_log.query("SELECT details FROM events WHERE event = 'tests'")
    assert isinstance(json.loads(stored), list)  # schema 3's form: each test whole
    read = [e.details["source_row"] for e in audit.read(store_log.db) if e.event == "test"]
    within = moved.details["source_row"].rpartition("/")[2]
    made = [t.details["source_row"] for t in tests]
    assert read == [*made[:3], f"elsewhere/{within}", *made[4:]]
    assert audit.verify(store_log.db).ok


def _earlier(rows) -> tuple[list[str], list[str]] | None:
    """The texts of the shapes of these events' tests (spooled `lean`), and each test as a
    tests row held it before schema 8: its source row whole, not within a folder named once.
    None, as `audit.tests_text`, where the lifecycle did not make them all."""
    tests = [row[7] for row in rows if row[2] == "test"]
    if not tests or not all(isinstance(measured, tuple) for measured in tests):
        return None
    shapes: dict[str, int] = {}
    entries = []
    for shape, values, folder in tests:
        figures = json.loads(values)
        at = 8 + json.loads(shape)["optional"].index("source_row")  # date, version, six more
        figures[at] = folder + figures[at]
        text = json.dumps(figures, separators=(",", ":"), ensure_ascii=False)
        entries.append(f"[{shapes.setdefault(shape, len(shapes))},{text[1:]}")
    return list(shapes), entries


def _schema_6_tests_text(rows):
    """A tests row's details as schemas 4 to 6 wrote them: each shape's text itself, once."""
    earlier = _earlier(rows)
    if earlier is None:
        return None
    shapes, entries = earlier
    return f'{{"shapes":[{",".join(shapes)}],"tests":[{",".join(entries)}]}}'


def test_tests_a_log_holds_with_their_shapes_are_read_and_not_recorded_again(
    store_log, monkeypatch
):
    """Before schema 7 a tests row held its shapes' texts. Such a row reads as the same tests,
    verifies, and the next run, which would name the shapes' files, finds its tests unchanged
    and records nothing: a test's version digests its details, not where they are stored."""
    events = run(EXAMPLE_FACTS)
    with monkeypatch.context() as old:
        old.setattr(audit, "tests_text", _schema_6_tests_text)
        audit.record(store_log.db, events, LATE, {})
    ((stored,),) = store_log.query("SELECT details FROM events WHERE event = 'tests'")
    assert all(isinstance(shape, dict) for shape in json.loads(stored)["shapes"])
    tests = [(e.key, e.version, e.details) for e in events if e.event == "test"]
    assert [
        (e.key, e.version, e.details) for e in audit.read(store_log.db) if e.event == "test"
    ] == tests
    assert audit.record(store_log.db, events, LATE, {}) == []
    assert audit.verify(store_log.db).ok


def test_a_tests_rows_chain_holds_the_sha256_of_its_details(store_log, capsys):
    """Schema 8: a tests row's part of the chain is its first six columns and the SHA-256
    digest of its details (as a JSON string), which the worker that made the row works out,
    not the details themselves. Worked out here from the chain's definition: the JSON array
    (no spaces) of the previous row's hash, "event", seq, run, those columns, that digest and
    the row's supersedes ("[]")."""
    where = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    assert main(where) == 1
    ((seq, run_id, key, count, agreement, day, details, prev, digest),) = store_log.query(
        "SELECT seq, run, key, version, agreement, date, details, prev_hash, hash FROM events"
        " WHERE event = 'tests'"
    )
    assert details.startswith('{"chain":"sha256","shapes":["') and count == "50"
    of_details = hashlib.sha256(details.encode()).hexdigest()
    fields = [prev, "event", seq, run_id, key, count, "tests", agreement, None, day]
    text = json.dumps([*fields, of_details, "[]"], separators=(",", ":"))
    assert digest == hashlib.sha256(text.encode()).hexdigest()
    assert verify(store_log, capsys)[0] == 0


def _schema_7_tests_text(rows):
    """A tests row's details as schema 7 wrote them: its shapes named by digest, and no word
    of the chain, which held the details themselves."""
    earlier = _earlier(rows)
    if earlier is None:
        return None
    shapes, entries = earlier
    named = '","'.join(hashlib.sha256(shape.encode()).hexdigest() for shape in shapes)
    return f'{{"shapes":["{named}"],"tests":[{",".join(entries)}]}}'


def test_tests_rows_of_schema_7_verify_and_read_beside_those_of_schema_8(
    store_log, monkeypatch, tmp_path
):
    """A log whose first run wrote its tests row as schema 7 did (chained by the details
    themselves) verifies, and its next run adds the later quarters' tests in a row of schema
    8 (chained by their digest). The log verifies with both, and reads as one written by
    this version alone; a run on the same inputs then records nothing."""
    where = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS)]
    with monkeypatch.context() as old:
        old.setattr(audit, "tests_text", _schema_7_tests_text)
        assert main([*where, "--db", str(store_log), "--as-of", "1997-12-31"]) == 1
    assert audit.verify(store_log.db).ok
    assert main([*where, "--db", str(store_log)]) == 1
    rows = store_log.query("SELECT details FROM events WHERE event = 'tests' ORDER BY seq")
    assert [details.startswith('{"chain":"sha256",') for (details,) in rows] == [False, True]
    assert audit.verify(store_log.db).ok
    fresh = tmp_path / "fresh.db"
    assert main([*where, "--db", str(fresh), "--as-of", "1997-12-31"]) == 1
    assert main([*where, "--db", str(fresh)]) == 1
    read = [(e.seq, e.key, e.version, e.details) for e in audit.read(store_log.db)]
    assert read == [(e.seq, e.key, e.version, e.details) for e in audit.read(fresh)]
    assert main([*where, "--db", str(store_log)]) == 0
    assert audit.verify(store_log.db).ok


def test_a_tests_rows_keys_and_versions_read_alone_are_those_of_its_tests(store_log, monkeypatch):
    """Comparing a facility with its view reads each test's key, version and date from its
    tests row without making its details (`_test_versions`): they must be those the row's
    tests give when read whole (`_unpacked`), in rows of schema 7 and 8 alike."""
    where = ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(store_log)]
    with monkeypatch.context() as old:
        old.setattr(audit, "tests_text", _schema_7_tests_text)
        assert main([*where, "--as-of", "1997-12-31"]) == 1
    assert main(where) == 1
    rows = store_log.query(
        "SELECT seq, agreement, details FROM events WHERE event = 'tests' ORDER BY seq"
    )
    assert len(rows) == 2
    with store.connect(store_log.db) as connection:
        files = audit._Details(connection)
        for seq, agreement, details in rows:
            whole = audit._unpacked(seq, agreement, details, files)
            expected = [(number, test[0], test[1], test[5]) for number, test in whole]
            assert list(audit._test_versions(seq, agreement, details, files)) == expected
            assert len(expected) > 1 and expected[0][1].startswith("cerplex|test|")


def test_a_run_stores_a_facilitys_new_tests_as_recording_them_one_by_one_would(store_log, tmp_path):
    """`run` has the worker make the row that stores a facility's tests, and the writer copy it
    when all the facility's events are new; recording the same events in memory builds that
    row in the writer from each test. Both logs must hold the same rows, byte for byte."""
    where = ["--rules", str(RULES), "--facts", str(EXAMPLE_FACTS)]
    assert main(["run", *where, "--db", str(store_log.db), "--as-of", LATE.isoformat()]) == 1
    events = run(EXAMPLE_FACTS)
    in_memory = tmp_path / "in-memory.db"
    audit.record(in_memory, events, LATE, {})
    columns = "seq, key, version, event, agreement, covenant, date, details, supersedes"
    rows = store_log.query(f"SELECT {columns} FROM events ORDER BY seq")
    with sqlite3.connect(in_memory) as connection:
        expected = connection.execute(f"SELECT {columns} FROM events ORDER BY seq").fetchall()
    assert [tuple(row) for row in rows] == expected
    assert [row[3] for row in rows].count("tests") == 1
    assert len(rows) == EXAMPLE_EVENTS - 50 + 1  # the example's events, its 50 tests in one row


def _spooled(path, value) -> audit.Spooled:
    data = pickle.dumps(value)
    path.write_bytes(data)
    return audit.Spooled(str(path), 0, len(data))


def test_a_facilitys_events_are_made_again_from_the_rows_that_store_them(tmp_path):
    """A worker spools the rows that store all of a facility's events and their keys and
    versions, not the events too: a run that finds some of them changed makes them again from
    those. The example's events, 50 of them tests (with notes and plus figures) between
    its breaches and defaults, come back as the worker had them, in their order."""
    events = run(EXAMPLE_FACTS)
    rows = [audit.lean(event) for event in events]
    stored = audit.stored_all(rows)
    assert audit.restores(stored)
    assert [row[2] for row, _, _ in stored].count("tests") == 1
    keyed = _spooled(tmp_path / "keyed", [(row[0], row[1]) for row in rows])
    assert len(rows) == EXAMPLE_EVENTS and [row[2] for row in rows].count("test") == 50
    shapes = dict(event.details_file for event in events if event.details_file)
    assert audit.Restored(_spooled(tmp_path / "stored", stored), keyed).load(shapes) == rows


def test_what_waits_is_listed_as_it_was_given(tmp_path):
    """A run lists where each facility's output waits until it writes them: spooled in a
    worker's file (each loads its own value), kept in memory, or nothing. Held as numbers, the
    list gives back what it was given, in order, each file's path kept once."""
    first, second = tmp_path / "rows-1", tmp_path / "rows-2"
    first.write_bytes(pickle.dumps("a") + pickle.dumps(["b"]))
    second.write_bytes(pickle.dumps({"c": 3}))
    size_a = len(pickle.dumps("a"))
    given = [
        audit.Spooled(str(first), 0, size_a),
        None,
        audit.Kept("kept"),
        audit.Spooled(str(second), 0, len(pickle.dumps({"c": 3}))),
        audit.Spooled(str(first), size_a, len(pickle.dumps(["b"]))),
    ]
    waiting = audit.WaitingList()
    for item in given:
        waiting.append(item)
    assert len(waiting) == 5 and list(waiting) == given
    assert [waiting[i] for i in range(-5, 5)] == given + given
    assert [w.load() for w in waiting if w is not None] == ["a", "kept", {"c": 3}, ["b"]]
    assert waiting[0].path is waiting[4].path  # one text for the file, however many wait in it
    with pytest.raises(IndexError):
        waiting[5]


def test_tests_the_lifecycle_did_not_make_are_spooled_as_events():
    """A test event made whole (not by the lifecycle) is stored in schema 3's form, which
    does not give the event back as spooled: its events are spooled as they are."""
    event = AuditEvent("test", "a", "6.20", date(1997, 9, 30), {"result": "compliant"}, "1998Q1")
    assert not audit.restores(audit.stored_all([audit.lean(event)]))


_Q = hashlib.sha256(b"q").hexdigest()  # a stored file's digest


def test_a_run_rows_chain_holds_its_inputs_text_digested_piece_by_piece(store_log, monkeypatch):
    """A run row's part of the chain is the JSON array (no spaces, characters beyond ASCII as
    they are) of the previous row's hash, "run", its number, when it was recorded, its as-of
    date, the canonical text of its inputs, its first seq and how many events it has. What it
    read of each facility (under `agreements`) is stored in a row of its own, in order, and the
    rest in the run row, which counts those rows (schema 9). The inputs, a few hundred bytes
    for each facility, are escaped and digested a piece at a time (here seven characters, so
    that pieces end beside quotes, backslashes and control characters, and inside a run of
    them): the digest is the one of that array all at once."""
    monkeypatch.setattr(audit, "_PIECE", 7)
    read = {
        'Société "A"\n': {"facts": {"f.csv": _Q}, "view": {"events": 2}},
        "b\\\t": {"facts": {}, "package": "✓"},
    }
    fields = {"facts": 'C:\\books\\"Q4"\n', "rules": "Société Générale ✓", "x": "\x01\t" * 9}
    inputs = {**fields, "agreements": read}
    event = AuditEvent("agreement_terms", "south", None, date(1997, 8, 20), {"rule": "declared"})
    audit.record(store_log.db, [event], LATE, inputs, files={_Q: b"q"})
    ((run_id, at, as_of, text, first, count, counted, prev, digest),) = store_log.query(
        "SELECT run, recorded_at, as_of, inputs, first_seq, events, agreements, prev_hash, hash"
        " FROM runs"
    )
    rows = store_log.query("SELECT agreement, entry, position FROM run_agreements ORDER BY 3")
    assert rows == [(name, canonical(read[name]), i) for i, name in enumerate(sorted(read))]
    assert text == canonical(fields) and counted == 2 and len(canonical(inputs)) > 7 * 10
    chained_fields = [prev, "run", run_id, at, as_of, canonical(inputs), first, count]
    chained = json.dumps(chained_fields, separators=(",", ":"), ensure_ascii=False)
    assert digest == hashlib.sha256(chained.encode()).hexdigest()
    assert audit.verify(store_log.db).ok
    assert audit.runs(store_log.db)[0].inputs == inputs


@pytest.mark.parametrize(
    "intrusion",
    [
        ["UPDATE run_agreements SET entry = '{\"facts\":{}}' WHERE agreement = 'a'"],
        ["DELETE FROM run_agreements WHERE agreement = 'b'"],
        [
            "UPDATE run_agreements SET position = 9 WHERE agreement = 'a'",
            "UPDATE run_agreements SET position = 0 WHERE agreement = 'b'",
            "UPDATE run_agreements SET position = 1 WHERE agreement = 'a'",
        ],
        ["INSERT INTO run_agreements VALUES (1, 3, 'd', '{}')"],
        ["UPDATE runs SET agreements = 4"],
        ["UPDATE runs SET agreements = NULL"],
    ],
    ids=["entry changed", "row deleted", "rows swapped", "row added", "count", "count removed"],
)
def test_a_run_whose_agreements_rows_were_altered_fails_verification(store_log, intrusion):
    """What a run read of each facility is chained with its run row (schema 9): an entry
    changed, a row deleted, two rows swapped or one added, and the count of its rows changed or
    removed, are each found by `verify` and by the check a run makes before adding to the log."""
    read = {"a": {"facts": {"f.csv": _Q}}, "b": {"facts": {}}, "c": {"facts": {}}}
    event = AuditEvent("agreement_terms", "south", None, date(1997, 8, 20), {"rule": "declared"})
    audit.record(store_log.db, [event], LATE, {"rules": "r", "agreements": read}, files={_Q: b"q"})
    assert audit.verify(store_log.db).ok and audit.check_tail(store_log.db).ok
    store_log.intrude(*intrusion)
    for verification in (audit.verify(store_log.db), audit.check_tail(store_log.db)):
        assert not verification.ok
        assert verification.message == "run 1 (from event 1) was altered"
