"""Stopping a command part way. SIGTERM (systemd stopping the unit, `timeout`, `kill`) unwinds
the process as Ctrl-C does: a run's write is rolled back, its temporary folder (what it has
evaluated, about 0.09 MB a facility) and a half-written report are removed, and its worker
processes go without a word. A failure of the operating system (a full disk, a worker killed
outright) unwinds the same way and exits 6, not Python's 1, which tells a scheduler "new events
recorded". What a process killed outright leaves, the next run removes (benchmarks/kill_runs.py
checks that after each of its kills), once its workers, which go with it, are gone."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import RULES
from engine import audit, cli, processes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import synthetic

FACILITIES = 200  # 40 quarters each: a run of a few seconds, most of it evaluating


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The synthetic portfolio, and its log as of 1999 (a run as of 2026 adds to it)."""
    root = tmp_path_factory.mktemp("stopping")
    synthetic.write(root / "facts", FACILITIES, 40)
    db = root / "1999.db"
    run = ["run", "--rules", str(RULES), "--facts", str(root / "facts"), "--db", str(db)]
    assert cli.main([*run, "--as-of", "1999-12-31"]) in (cli.EXIT_OK, cli.EXIT_ATTENTION)
    return root / "facts", db


def started(tmp_path: Path, *arguments: str, **popen: object) -> subprocess.Popen:
    """The command in a process of its own, its temporary folders under tmp_path/tmp."""
    (tmp_path / "tmp").mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
        **popen,
    )


def running(
    tmp_path: Path, facts: Path, db: Path, *options: str, **popen: object
) -> subprocess.Popen:
    """`run` of the portfolio as of 2026 in a process of its own (`started`)."""
    run = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    return started(tmp_path, *run, "--as-of", "2026-01-01", *options, **popen)


def reporting(tmp_path: Path, db: Path) -> subprocess.Popen:
    """An HTML report of the log into tmp_path, its charts drawn by two workers."""
    out = tmp_path / "report.html"
    html = ["--format", "html", "--detail", "all", "--out", str(out), "--workers", "2"]
    return started(tmp_path, "report", "--db", str(db), *html)


def wait_for(found: Callable[[], bool], process: subprocess.Popen) -> None:
    while not found():
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.005)


def terminated(process: subprocess.Popen, by: signal.Signals = signal.SIGTERM) -> str:
    """Sends the signal; what the process said on stderr, once it has exited 128 + its number
    (143 for SIGTERM, 130 for SIGINT, Ctrl-C)."""
    process.send_signal(by)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + by, stderr
    assert "Traceback" not in stderr, stderr  # neither the command's nor a worker's
    return stderr


def holds_something(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def small_files() -> None:
    """Writes past 1 MB fail, as on a full disk: EFBIG (Python ignores SIGXFSZ)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))


def test_a_full_disk_stops_a_run_with_exit_6_and_removes_its_folder(portfolio, tmp_path) -> None:
    facts, _ = portfolio
    db = tmp_path / "log.db"
    process = running(tmp_path, facts, db, "--workers", "2", preexec_fn=small_files)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == cli.EXIT_FAILED == 6, stderr
    # a worker's spool (about 9 MB each here) outgrew the limit; the parent says so
    assert "stopped by the operating system: [Errno 27] File too large" in stderr
    assert "Traceback" not in stderr
    assert holds_something(tmp_path / "tmp") == []
    assert not db.exists()


@pytest.mark.parametrize(
    ("by", "said"), [(signal.SIGTERM, "stopped by SIGTERM"), (signal.SIGINT, "stopped by Ctrl-C")]
)
def test_stopped_while_workers_evaluate_removes_what_they_wrote(
    by, said, portfolio, tmp_path
) -> None:
    facts, _ = portfolio
    db = tmp_path / "log.db"
    process = running(tmp_path, facts, db, "--workers", "2")
    wait_for(lambda: any((tmp_path / "tmp").glob("*/rows-*")), process)  # a worker's spool
    assert said in terminated(process, by)
    assert holds_something(tmp_path / "tmp") == []
    assert not db.exists()  # evaluating comes before the log is touched


def test_sigterm_during_the_write_leaves_the_log_as_it_was(portfolio, tmp_path) -> None:
    facts, before = portfolio
    db = tmp_path / "log.db"
    db.write_bytes(before.read_bytes())
    process = running(tmp_path, facts, db, "--log-format", "json")
    said: list[str] = []

    def holds_the_lock() -> bool:  # the write transaction is open: comparing, then recording
        said.append(process.stderr.readline())
        return '"lock acquired"' in said[-1]

    wait_for(holds_the_lock, process)
    assert '"message": "stopped by SIGTERM"' in terminated(process)
    assert cli.EXIT_TERMINATED == 143 and cli.EXIT_INTERRUPTED == 130
    assert audit.read(db) == audit.read(before) and audit.head(db) == audit.head(before)
    assert audit.verify(db).ok
    assert holds_something(tmp_path / "tmp") == []


def test_sigterm_while_a_report_is_drawn_leaves_no_half_report(portfolio, tmp_path) -> None:
    _, db = portfolio
    process = reporting(tmp_path, db)
    wait_for(lambda: any(tmp_path.glob(".report.html.*.partial")), process)
    assert "stopped by SIGTERM" in terminated(process)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # no report, whole or part


def workers_of(process: subprocess.Popen) -> list[int]:
    """The process's children (Linux: /proc), its workers. A thread that ends between the
    listing and the reading gives its children to another thread, which the next look finds;
    a process that has ended has none, and `wait_for` then says why it ended."""
    found = []
    for task in Path(f"/proc/{process.pid}/task").glob("*"):
        try:
            found += [int(pid) for pid in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def stopped_by_a_lost_worker(process: subprocess.Popen) -> str:
    """Kills one of the process's workers outright, as the out-of-memory killer does; what the
    process said, once it has exited 6 (multiprocessing's Pool waited for ever)."""
    os.kill(workers_of(process)[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == cli.EXIT_FAILED, stderr
    *before, said = stderr.rstrip("\n").split("\n")
    assert said.startswith(
        "covenant-monitor: stopped by the operating system: a worker process ended abruptly"
    ), stderr
    # No traceback of the command's own. The other worker may print one: reading work from a
    # queue the killed one left half read, it can fail before it is stopped.
    assert not before or before[0].startswith("Process ForkProcess-"), stderr
    return stderr


def test_a_worker_killed_outright_stops_the_run_with_exit_6(portfolio, tmp_path) -> None:
    facts, _ = portfolio
    db = tmp_path / "log.db"
    process = running(tmp_path, facts, db, "--workers", "2")
    wait_for(lambda: len(list((tmp_path / "tmp").glob("*/rows-*"))) == 2, process)  # both work
    stopped_by_a_lost_worker(process)
    assert holds_something(tmp_path / "tmp") == []
    assert not db.exists()


def test_a_chart_worker_killed_outright_stops_the_report_with_exit_6(portfolio, tmp_path) -> None:
    _, db = portfolio
    process = reporting(tmp_path, db)
    wait_for(lambda: len(workers_of(process)) == 2, process)  # drawing charts
    stopped_by_a_lost_worker(process)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # no report, whole or part


def test_a_hung_worker_does_not_hold_a_stopped_run(portfolio, tmp_path) -> None:
    """A worker stopped (SIGSTOP: a debugger, or as a hung disk would hold it) when its run is
    stopped: the run kills it once the grace for the work in hand is over
    (`processes.STOP_GRACE`) rather than wait for it for ever, and ends as a stopped run does."""
    facts, _ = portfolio
    db = tmp_path / "log.db"
    process = running(tmp_path, facts, db, "--workers", "2")
    wait_for(lambda: len(list((tmp_path / "tmp").glob("*/rows-*"))) == 2, process)  # both work
    hung = workers_of(process)[0]
    os.kill(hung, signal.SIGSTOP)
    try:
        assert "stopped by SIGTERM" in terminated(process)
        assert not alive(hung)
    finally:
        if alive(hung):
            os.kill(hung, signal.SIGKILL)
    assert holds_something(tmp_path / "tmp") == []
    assert not db.exists()


def test_workers_whose_run_is_killed_outright_go_too(portfolio, tmp_path, monkeypatch) -> None:
    """Without their parent they would wait for work for ever, and hold the lock on its
    temporary folder, which no later run could then remove."""
    facts, _ = portfolio
    process = running(tmp_path, facts, tmp_path / "log.db", "--workers", "2")
    wait_for(lambda: len(list((tmp_path / "tmp").glob("*/rows-*"))) == 2, process)
    workers = workers_of(process)
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived their run"
        time.sleep(0.01)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert len(processes.sweep()) == 1  # nobody holds it now
    assert holds_something(tmp_path / "tmp") == []


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_folder_a_killed_process_left_is_swept(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal\nfrom engine import processes\n"
            "with processes.scratch_folder() as folder:\n"
            "    (folder / 'rows-1').write_bytes(bytes(1000))\n"
            "    print(folder, flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert killed.returncode == -signal.SIGKILL
    left = Path(killed.stdout.strip())
    assert (left / "rows-1").exists()
    by_hand = tmp_path / f"{processes.PREFIX}by-hand"  # not made by covenant-monitor: kept
    by_hand.mkdir()
    with processes.scratch_folder() as held:
        assert processes.sweep() == [left]  # nobody held it
        assert not left.exists()
        assert held.exists() and by_hand.exists()
    assert not held.exists() and by_hand.exists()
