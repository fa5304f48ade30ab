"""A corrected figure is a restatement: the events it undoes are superseded, never deleted, by
a `restatement` event that says which fact changed from what to what; `log` shows the current
view, `log --all` the history; `--known-as-of` gives the log (and a replay) as it stood then.

The correction used throughout: the November 29, 1997 balance sheet's Consolidated Tangible Net
Worth, (15,400,000) in the example, restated to (15,300,000). Section 6.21's minimum from
September 30 through December 30, 1997 is (15,365,000) (First Amendment, Exhibit A item 6):
(15,400,000) is $35,000 short, a breach; (15,300,000) is $65,000 above it, compliance.
"""

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from conftest import EXAMPLE_FACTS, RULES
from engine import audit
from engine import facts as facts_module
from engine.cli import main

ROW = '1997-11-29,,,,,,,,,"(15,400,000)",,'
RESTATED = '1997-11-29,,,,,,,,,"(15,300,000)",,'


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE_FACTS, tmp_path / "facts")
    return tmp_path / "facts"


def run(facts: Path, db: Path | str, *extra: str) -> int:
    return main(["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db), *extra])


def restate(facts: Path, old: str, new: str) -> None:
    path = facts / "cerplex" / "financials.csv"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def restated(facts: Path, db: Path | str) -> Path | str:
    """A log of a run, then of a run after the correction."""
    run(facts, db)
    restate(facts, ROW, RESTATED)
    run(facts, db)
    return db


def of(events, kind: str, covenant: str, day: str):
    return [e for e in events if (e.event, e.covenant, str(e.date)) == (kind, covenant, day)]


def test_a_corrected_figure_supersedes_the_breach_it_undoes(facts, store_log, capsys):
    db = store_log.db
    assert run(facts, db) == 1
    before = audit.read(db)
    undone = [
        of(before, kind, "6.21", "1997-11-29")[0].seq
        for kind in ("breach", "default", "event_of_default")
    ]
    old_test = of(before, "test", "6.21", "1997-11-29")[0]
    assert old_test.details["headroom"] == "-35000"

    restate(facts, ROW, RESTATED)
    capsys.readouterr()
    assert run(facts, db) == 1  # a restatement needs a reviewer's attention
    out = capsys.readouterr().out
    assert (
        "1997-11-29  cerplex    -        restatement                "
        "financials period_end 1997-11-29"
        " tangible_net_worth -15400000 -> -15300000; withdraws 3 event(s), replaces 1"
    ) in out

    (notice,) = [e for e in audit.read(db) if e.event == "restatement"]
    assert notice.date.isoformat() == "1997-11-29"
    assert notice.details["changes"] == [
        {
            "table": "financials",
            "row": "period_end 1997-11-29",
            "column": "tangible_net_worth",
            "old": "-15400000",
            "new": "-15300000",
            "source_row": f"{facts}/cerplex/financials.csv row 12",
        }
    ]
    assert notice.details["withdrawn"] == sorted(undone)
    assert notice.details["replaced"] == [old_test.seq]
    assert notice.supersedes == tuple(sorted(undone))

    current = audit.read(db)
    for kind in ("breach", "default", "event_of_default"):
        assert of(current, kind, "6.21", "1997-11-29") == []
    (new_test,) = of(current, "test", "6.21", "1997-11-29")
    assert (new_test.details["result"], new_test.details["headroom"]) == ("compliant", "65000")
    assert new_test.supersedes == (old_test.seq,)
    # The other 6.21 breaches stand: only the restated date changed.
    assert [str(e.date) for e in current if e.event == "breach" and e.covenant == "6.21"] == [
        "1998-01-31",
        "1998-05-30",
        "1998-06-27",
        "1998-09-26",
        "1998-12-26",
    ]

    history = audit.read(db, history=True)
    assert len(history) == len(before) + 2  # the restatement and the new test; nothing deleted
    by_seq = {e.seq: e for e in history}
    assert all(by_seq[s].superseded_by == notice.seq for s in undone)
    assert by_seq[old_test.seq].superseded_by == new_test.seq


def test_log_shows_the_current_view_and_all_shows_history(facts, store_log, capsys):
    db = restated(facts, store_log.db)
    capsys.readouterr()
    assert main(["log", "--db", str(db)]) == 0
    current = capsys.readouterr().out
    assert main(["log", "--db", str(db), "--all"]) == 0
    everything = capsys.readouterr().out
    breach = "1997-11-29  cerplex    6.21     breach"
    assert breach not in current
    assert breach in everything and "[superseded by" in everything
    assert len(everything.splitlines()) == len(current.splitlines()) + 4  # 3 withdrawn, 1 test
    main(["log", "--db", str(db), "--all", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum("superseded_by" in r for r in rows) == 4


def test_the_log_streamed_in_batches_is_the_log_read_at_once(facts, store_log, monkeypatch):
    """`log` streams the view batch by batch (a portfolio's log does not fit in memory); with
    batches of 7 the withdrawn and superseded events still fall where they fall read at once."""
    db = restated(facts, store_log.db)
    monkeypatch.setattr(audit, "_READ_BATCH", 7)
    for history in (False, True):
        streamed = list(audit.stream(db, history=history))
        assert streamed == audit.read(db, history=history)
    one = list(audit.stream(db, agreements=["cerplex"]))
    assert one == audit.read(db, agreements=["cerplex"])


def test_a_stream_shows_the_log_as_it_stood_when_it_began(facts, store_log, monkeypatch):
    """The correction's run commits while `log` is part way through (it holds no lock between
    batches): neither its events nor the withdrawals it makes reach that stream."""
    db = store_log.db
    run(facts, db)
    before = audit.read(db)
    monkeypatch.setattr(audit, "_READ_BATCH", 5)
    stream = audit.stream(db)
    first = [next(stream) for _ in range(3)]
    restate(facts, ROW, RESTATED)
    run(facts, db)
    assert len(audit.read(db, history=True)) > len(before)
    assert [*first, *stream] == before


def test_a_rerun_after_a_restatement_records_nothing(facts, store_log, capsys):
    db = restated(facts, store_log.db)
    capsys.readouterr()
    assert run(facts, db) == 0
    assert "0 new event(s)" in capsys.readouterr().out


def test_restating_back_brings_the_breach_back_as_new_rows(facts, store_log):
    db = restated(facts, store_log.db)
    restate(facts, RESTATED, ROW)
    assert run(facts, db) == 1
    current = audit.read(db)
    (breach,) = of(current, "breach", "6.21", "1997-11-29")
    assert breach.run == 3
    notices = [e for e in audit.read(db, history=True) if e.event == "restatement"]
    assert [n.details["changes"][0]["new"] for n in notices] == ["-15300000", "-15400000"]
    assert audit.verify(db).ok


def test_report_uses_the_current_view_and_known_as_of_the_past(facts, store_log, capsys):
    db = store_log.db
    run(facts, db)
    first_run = audit.runs(db)[0].recorded_at
    restate(facts, ROW, RESTATED)
    run(facts, db)

    def open_events_of_default(*extra: str) -> list[str]:
        capsys.readouterr()
        assert main(["report", "--db", str(db), "--format", "json", *extra]) == 0
        model = json.loads(capsys.readouterr().out)
        return [
            f"{life['covenant']} {life['breach_date']}"
            for agreement in model["agreements"]
            for life in agreement["open_defaults"]
            if life["status"] == "event_of_default"
        ]

    assert "6.21 1997-11-29" not in open_events_of_default()
    assert "6.21 1997-11-29" in open_events_of_default("--known-as-of", first_run)

    (notice,) = [e for e in audit.read(db) if e.event == "restatement"]
    for fmt, line in (
        ("md", "- 1997-11-29: financials period\\_end 1997-11-29 tangible\\_net\\_worth"),
        ("html", "<li>1997-11-29: financials period_end 1997-11-29 tangible_net_worth"),
    ):
        capsys.readouterr()
        assert main(["report", "--db", str(db), "--format", fmt]) == 0
        (shown,) = [row for row in capsys.readouterr().out.splitlines() if line in row]
        assert "withdraws 3 event(s), replaces 1" in shown
        assert f"[{notice.seq}]" in shown


def test_known_as_of_replays_what_the_monitor_knew(facts, store_log, capsys):
    db = store_log.db
    run(facts, db)
    first_run = audit.runs(db)[0].recorded_at
    restate(facts, ROW, RESTATED)
    run(facts, db)
    restate(facts, RESTATED, '1997-11-29,,,,,,,,,"(16,000,000)",,')  # a third version on disk
    size = store_log.contents()

    capsys.readouterr()
    assert main(["run", "--db", str(db), "--known-as-of", first_run]) == 0
    out = capsys.readouterr().out
    assert "replayed run 1" in out and "holds every one of them" in out
    # The first run's own breach comes back from its stored inputs, whatever is on disk now.
    at_first = audit.read(db, known_as_of=datetime.fromisoformat(first_run))
    assert of(at_first, "breach", "6.21", "1997-11-29")
    assert store_log.contents() == size  # a replay writes nothing

    assert main(["run", "--db", str(db), "--known-as-of", "1990-01-01"]) == 2
    assert "holds no run recorded by" in capsys.readouterr().err


def test_a_replay_names_an_event_the_log_did_not_hold(facts, store_log, monkeypatch, capsys):
    """Were the engine to give one more event for the stored inputs (say, a version that
    evaluates differently), the replay names its key and exits 5; nothing is written."""
    from engine import runner
    from engine.lifecycle import AuditEvent

    db = store_log.db
    run(facts, db)
    first_run = audit.runs(db)[0].recorded_at
    size = store_log.contents()
    assess = runner.assess

    def one_more(agreement, loaded, as_of):
        extra = AuditEvent("notice_required", agreement.id, "6.21", as_of, {"rule": "replayed"})
        return [*assess(agreement, loaded, as_of), extra]

    monkeypatch.setattr(runner, "assess", one_more)
    capsys.readouterr()
    assert main(["run", "--db", str(db), "--known-as-of", first_run]) == 5
    err = capsys.readouterr().err
    as_of = audit.runs(db)[0].as_of
    assert f"does not hold cerplex|notice_required|6.21|{as_of}|" in err
    assert store_log.contents() == size


def test_a_rule_file_correction_is_a_restatement_too(facts, store_log, rules_copy):
    """Section 6.20's minimum for the quarter ending June 30, 1998 is 1.00 (Exhibit A item 5);
    a rule file mistyped as 0.48 shows no breach at 0.4828 (14,000,000 / 29,000,000). The
    corrected file withdraws nothing but restates the test as a breach, with the file named."""
    db = store_log.db
    rule = rules_copy / "cerplex" / "covenant-6.20-current-ratio.toml"
    text = rule.read_text()
    assert 'minimum = "1.00"' in text
    rule.write_text(text.replace('minimum = "1.00"', 'minimum = "0.48"'))
    args = ["run", "--rules", str(rules_copy), "--facts", str(facts), "--db", str(db)]
    main(args)
    assert not of(audit.read(db), "breach", "6.20", "1998-06-27")
    rule.write_text(text)
    assert main(args) == 1
    current = audit.read(db)
    assert of(current, "breach", "6.20", "1998-06-27")
    (notice,) = [e for e in current if e.event == "restatement"]
    assert {"rules_file": rule.name, "change": "edited"} in notice.details["changes"]
    replaced = {e.seq: e for e in audit.read(db, history=True)}
    assert {(replaced[s].event, replaced[s].covenant) for s in notice.details["replaced"]} >= {
        ("covenant_terms", "6.20"),
        ("test", "6.20"),
    }


@pytest.mark.parametrize("where", ["climbing", "absolute", "package"])
def test_a_stored_file_name_that_leaves_its_folder_is_not_written(tmp_path, monkeypatch, where):
    """A replay writes the rule files it read out again under the names the log holds: a name
    that climbs out of its folder or is absolute, or a package named so (the log edited behind
    the monitor's back), is refused before anything is written there."""
    from engine import restate

    (tmp_path / "scratch").mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "scratch"))
    # The scratch folder's rules/x/: three levels up is tmp_path/scratch.
    name = {"climbing": "../../../../escaped.csv", "absolute": str(tmp_path / "escaped.csv")}
    manifest = {"x": {"rules": {name.get(where, "escaped.csv"): "digest"}, "facts": {}}}
    if where == "package":
        manifest["x"]["package"] = "../../.."
    with (
        pytest.raises(ValueError, match="leaves its folder"),
        restate.laid_out(manifest, {"digest": b"written"}),
    ):
        pass
    assert not list(tmp_path.rglob("escaped.csv"))


def test_earlier_inputs_refused_since_are_named_as_recorded(facts, store_log, monkeypatch):
    """A log made by a version that let in what this one refuses (here, a second blockage_start
    while the first is open): a correction cannot be weighed against inputs that no longer
    load, so the restatement says so, naming the file as the log recorded it, not the
    temporary folder it was laid out in, and withdraws nothing on their evidence."""
    db = store_log.db
    events = facts / "cerplex" / "events.csv"
    text = events.read_text()
    assert "1998-05-06,blockage_end" in text
    events.write_text(text.replace("1998-05-06,blockage_end", "1998-05-06,blockage_start"))
    with monkeypatch.context() as lenient:
        lenient.setattr(facts_module, "_check_blockages", lambda rows, problems: None)
        assert run(facts, db) == 1
    events.write_text(text)
    assert run(facts, db) == 1
    (notice,) = [e for e in audit.read(db) if e.event == "restatement"]
    assert notice.details["changes"] == [
        {
            "note": "the earlier inputs no longer load: facts/cerplex/events.csv, row 8, column "
            "event: a blockage starts while the one started 1998-04-01 (row 7) has not ended"
        }
    ]
    assert notice.details["withdrawn"] == []
    assert run(facts, db) == 0  # recorded once
