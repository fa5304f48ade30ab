"""kill -9 at 50 random moments of a several-second run: the log is always as before or as after
the run, `verify` passes, a rerun completes, and the final log equals an uninterrupted run's
(zero lost, zero duplicated). The work is benchmarks/kill_runs.py; this runs it and checks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import kill_runs


def test_fifty_kills_lose_and_duplicate_nothing(capsys):
    lines: list[str] = []
    kills = kill_runs.main(kills=50, size=6000, seed=1, echo=lines.append)
    failed = [k for k in kills if not k.ok]
    assert not failed, "\n".join(lines)
    assert len(kills) == 50
    # The trial reaches what it means to test: kills inside the write, before its commit, and
    # logs found both as before and as after a run (every fifth kill is aimed after the commit).
    assert sum(k.landed == "during the write" for k in kills) >= 10, "\n".join(lines)
    assert {k.log_was for k in kills} == {"before", "after"}, "\n".join(lines)
    assert {k.scenario for k in kills} == {"first run", "restatement"}
