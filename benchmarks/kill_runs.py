"""Kill `covenant-monitor run` with SIGKILL at random moments; show nothing is lost or doubled.

    python benchmarks/kill_runs.py [--kills 50] [--size 6000] [--seed 1]

The input is the synthetic facts of bench_run.py: --size balance-sheet and revolver dates, a
run of several seconds. Two kinds of run are killed, alternately:

- a first run into an empty log (a large write: every event);
- a run on corrected inputs over a log that holds the run before the correction (a
  restatement, new versions and the dates added since).

Every fifth kill falls just after the run says its write committed ("recorded"), so a log
"as after" is always reached; of the others, half fall at a uniformly random moment of the whole
run and half inside its write (after the run says "recording", before its transaction could
have committed). After each kill: `verify` passes, the log is exactly as before the run or
exactly as after it, a rerun completes, the log then equals the log of an uninterrupted run,
and the temporary files the killed run left (what it had evaluated) are gone. Prints each kill
and the totals; `tests/test_kill.py` runs it and checks the same.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_run import RULES, write_facts

AS_OF = "2030-01-01"


def command(facts: Path, db: Path, *extra: str) -> list[str]:
    """`covenant-monitor run` on the bundled rules, as of a date after every synthetic fact."""
    return [
        sys.executable,
        "-m",
        "engine",
        "run",
        "--rules",
        str(RULES.parent),
        "--facts",
        str(facts),
        "--db",
        str(db),
        "--as-of",
        AS_OF,
        *extra,
    ]


WATCHED = ("--log-format", "json", "--wait", "30")  # progress lines to time the kills by


def scratch(db: Path) -> Path:
    """The TMPDIR of the runs on `db`, where they keep what they have evaluated."""
    folder = db.parent / "tmp"
    folder.mkdir(exist_ok=True)
    return folder


def environment(db: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(scratch(db))}


def left_behind(db: Path) -> list[Path]:
    """Temporary folders of the runs on `db` that hold something. A run killed between making
    its folder and locking it leaves it empty, which nothing can tell from a folder being made."""
    return [p for p in scratch(db).iterdir() if p.is_dir() and any(p.iterdir())]


def content(db: Path) -> tuple[list[tuple], list[tuple], list[tuple]] | None:
    """Everything the log says, less the wall-clock time of each run and the hashes over it:
    its runs, what each read of each facility, its events."""
    if not db.exists():
        return None
    connection = sqlite3.connect(db)
    try:
        runs = connection.execute(
            "SELECT run, as_of, inputs, agreements, first_seq, events FROM runs ORDER BY run"
        ).fetchall()
        read = connection.execute(
            "SELECT run, position, agreement, entry FROM run_agreements ORDER BY run, position"
        ).fetchall()
        events = connection.execute(
            "SELECT seq, run, key, version, event, agreement, covenant, date, details,"
            " supersedes FROM events ORDER BY seq"
        ).fetchall()
    except sqlite3.OperationalError:  # the schema itself was never committed
        return None
    finally:
        connection.close()
    return runs, read, events


def verified(db: Path) -> bool:
    """Whether `verify` finds the log intact. An empty file is no log yet (a first run killed
    between creating the file and committing its tables), as it is to `run`: the rerun after
    the kill shows that it makes the log there."""
    if not db.exists() or db.stat().st_size == 0:
        return True
    result = subprocess.run(
        [sys.executable, "-m", "engine", "verify", "--db", str(db)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


@dataclass
class Run:
    """A run started in the background whose JSON progress lines are timed as they arrive."""

    process: subprocess.Popen
    started: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, facts: Path, db: Path) -> Run:
        process = subprocess.Popen(
            command(facts, db, *WATCHED),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(db),
        )
        run = cls(process, time.monotonic())
        run.reader = threading.Thread(target=run._read, daemon=True)
        run.reader.start()
        return run

    def finish(self) -> int:
        """Wait for the process and for the last of its lines."""
        code = self.process.wait()
        self.reader.join()
        self.process.stderr.close()
        return code

    def _read(self) -> None:
        for line in self.process.stderr:
            try:
                message = json.loads(line).get("message", "")
            except json.JSONDecodeError:
                message = line.strip()
            self.lines.append((time.monotonic(), message))

    def when(self, message: str) -> float | None:
        return next((t for t, m in list(self.lines) if m == message), None)


@dataclass(frozen=True)
class Scenario:
    name: str
    facts: Path
    base: Path | None  # the log the run starts from (copied), or None for an empty log
    expected: tuple  # content of the log after an uninterrupted run
    before: tuple | None
    seconds: float  # an uninterrupted run
    write: float  # from "recording" to "recorded"


def uninterrupted(facts: Path, db: Path) -> tuple[float, float]:
    run = Run.start(facts, db)
    code = run.finish()
    if code not in (0, 1):
        raise SystemExit(f"an uninterrupted run failed with exit {code}")
    return time.monotonic() - run.started, run.when("recorded") - run.when("recording")


def prepare(root: Path, size: int) -> list[Scenario]:
    corrected = root / "corrected" / "cerplex"
    write_facts(corrected, size)
    original = root / "original" / "cerplex"
    original.mkdir(parents=True)
    # The original is the corrected facts less the last fifth of their dates, with every 50th
    # balance sheet reported $2,000,000 lower, below the $8,000,000 minimum of Section 6.21:
    # the correction undoes those breaches.
    for name in ("financials.csv", "revolver.csv", "notes.csv"):
        lines = (corrected / name).read_text().splitlines(keepends=True)
        if name != "notes.csv":
            lines = lines[: 1 + size * 4 // 5]
        if name == "financials.csv":
            lines = [
                line.replace(",9000000,", ",7000000,") if i % 50 == 2 else line
                for i, line in enumerate(lines)
            ]
        (original / name).write_text("".join(lines))

    scenarios = []
    fresh = root / "expected-fresh.db"
    seconds, write = uninterrupted(corrected.parent, fresh)
    scenarios.append(
        Scenario("first run", corrected.parent, None, content(fresh), None, seconds, write)
    )
    base = root / "base.db"
    uninterrupted(original.parent, base)
    restated = root / "expected-restated.db"
    shutil.copy(base, restated)
    seconds, write = uninterrupted(corrected.parent, restated)
    scenarios.append(
        Scenario(
            "restatement",
            corrected.parent,
            base,
            content(restated),
            content(base),
            seconds,
            write,
        )
    )
    return scenarios


@dataclass
class Kill:
    scenario: str
    aimed: str  # "anywhere", "in the write" or "after commit"
    after: float  # seconds from start
    landed: str  # before recording / during the write / after commit / run had ended
    log_was: str  # "before" or "after" (never anything else, or the trial fails)
    ok: bool
    problem: str = ""


def trial(scenario: Scenario, db: Path, rng: random.Random, aim: str) -> Kill:
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    if scenario.base is not None:
        shutil.copy(scenario.base, db)
    run = Run.start(scenario.facts, db)
    if aim == "in the write":
        while run.when("recording") is None and run.process.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.9 * scenario.write))
    elif aim == "after commit":
        while run.when("recorded") is None and run.process.poll() is None:
            time.sleep(0.002)
    else:
        time.sleep(rng.uniform(0, scenario.seconds))
    ended = run.process.poll() is not None
    run.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    run.finish()
    recording, recorded = run.when("recording"), run.when("recorded")
    if ended:
        landed = "run had ended"
    elif recorded is not None and recorded <= killed_at:
        landed = "after commit"
    elif recording is not None:
        landed = "during the write"
    else:
        landed = "before recording"
    kill = Kill(
        scenario.name,
        aim,
        killed_at - run.started,
        landed,
        "",
        False,
    )
    state = content(db)
    # Before a first run, the log is absent, or created with no run in it yet.
    before = (scenario.before,) if scenario.before is not None else (None, ([], [], []))
    kill.log_was = (
        "after" if state == scenario.expected else "before" if state in before else "between"
    )
    if kill.log_was == "between":
        kill.problem = "the log is neither as before the run nor as after it"
    elif not verified(db):
        kill.problem = "verify failed after the kill"
    else:
        code = subprocess.run(
            command(scenario.facts, db, *WATCHED),
            capture_output=True,
            check=False,
            env=environment(db),
        )
        if code.returncode not in (0, 1):
            kill.problem = f"the rerun exited {code.returncode}: {code.stderr[-500:]!r}"
        elif content(db) != scenario.expected:
            kill.problem = "after the rerun the log differs from an uninterrupted run's"
        elif not verified(db):
            kill.problem = "verify failed after the rerun"
        elif left := left_behind(db):
            kill.problem = f"after the rerun the killed run's temporary files are left: {left}"
    kill.ok = not kill.problem
    return kill


def main(kills: int = 50, size: int = 6000, seed: int = 1, echo=print) -> list[Kill]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="kill-runs-") as tmp:
        root = Path(tmp)
        scenarios = prepare(root, size)
        for s in scenarios:
            echo(
                f"{s.name}: an uninterrupted run takes {s.seconds:.2f} s, its write "
                f"{s.write:.2f} s, and leaves {len(s.expected[1])} events"
            )
        results = []
        for index in range(kills):
            scenario = scenarios[index % 2]
            if index % 5 == 4:
                aim = "after commit"
            else:
                aim = "in the write" if (index // 2) % 2 == 1 else "anywhere"
            kill = trial(scenario, root / "log.db", rng, aim)
            results.append(kill)
            echo(
                f"{index + 1:>3} {kill.scenario:<12} aimed {kill.aimed:<13} at {kill.after:5.2f} s:"
                f" {kill.landed:<17} log as {kill.log_was:<7}"
                f" {'ok' if kill.ok else 'FAILED: ' + kill.problem}"
            )
    landed: dict[str, int] = {}
    for kill in results:
        landed[kill.landed] = landed.get(kill.landed, 0) + 1
    echo(
        f"{sum(k.ok for k in results)} of {len(results)} kills: verify passed, the log was as "
        "before or after, the rerun completed, matched an uninterrupted run and left no "
        "temporary files. Landed: "
        + ", ".join(f"{n} {where}" for where, n in sorted(landed.items()))
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    outcome = main(options.kills, options.size, options.seed)
    sys.exit(0 if all(k.ok for k in outcome) else 1)
