"""Two runs at once: the second waits for the first (or, told not to wait, exits 4 saying who
holds the log), and every event is in the log once. On both stores: the run lock is flock on
`<db>.lock` beside a SQLite file and an advisory lock in PostgreSQL."""

import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import date
from pathlib import Path

from conftest import EXAMPLE_FACTS, LATE, RULES, run
from engine import audit
from engine.cli import main
from engine.store import run_lock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_run import write_facts
from kill_runs import command

NO_WAIT = ("--wait", "0")


def test_two_runs_started_together_record_each_event_once(tmp_path, store_log):
    write_facts(tmp_path / "facts" / "cerplex", 2000)  # a run of a second or two
    db = store_log.db
    runs = [
        subprocess.Popen(command(tmp_path / "facts", db), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [r.communicate()[0] for r in runs]
    assert sorted(r.returncode for r in runs) == [0, 1]  # one found it all, one found nothing new
    assert any(" 0 new event(s)" in out or "\n0 new event(s)" in out for out in outputs)
    events = audit.read(db, history=True)
    assert Counter(e.key for e in events).most_common(1)[0][1] == 1
    assert len({e.run for e in events}) == 1
    assert audit.verify(db).ok


def test_a_run_told_not_to_wait_exits_4_naming_the_holder(store_log, capsys):
    db = store_log.db
    with run_lock(db, wait=0):
        before = store_log.contents()
        code = main(
            ["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db), *NO_WAIT]
        )
    assert code == 4
    err = capsys.readouterr().err
    if store_log.kind == "sqlite":
        assert f"another run (pid {os.getpid()}) holds {db}.lock" in err
    else:
        assert "another run (server pid " in err and "holds the run lock of" in err
    assert "Nothing was written" in err
    assert store_log.contents() == before


def test_a_waiting_run_goes_on_when_the_lock_is_released(store_log):
    db = store_log.db
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with run_lock(db, wait=0):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    waiter = subprocess.Popen(command(EXAMPLE_FACTS, db, "--wait", "30"), stdout=subprocess.PIPE)
    threading.Timer(1.0, release.set).start()
    waiter.communicate(timeout=60)
    thread.join()
    assert waiter.returncode == 1
    assert audit.verify(db).ok


def test_concurrent_writes_without_the_lock_still_record_each_event_once(store_log):
    """The lock is the first line; the write transaction re-reads the log, so even two
    writers that bypass it cannot record an event twice."""
    db = store_log.db
    events = run(EXAMPLE_FACTS)
    audit.record(db, [], LATE, {})  # create the schema first
    threads = [
        threading.Thread(target=audit.record, args=(db, events, date(2026, 1, 1), {}))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [e.key for e in audit.read(db, history=True)]
    assert len(keys) == len(set(keys)) == len({e.key for e in events})
