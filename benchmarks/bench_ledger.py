"""Time what the ledger adds to a run: a first run, a rerun that records nothing, a run after
one figure is corrected (a restatement: the previous inputs are laid out and evaluated again),
`verify`, and reading the current view; print medians and ratios.

    python benchmarks/bench_ledger.py [--sizes 1000 5000] [--repeat 3]

Facts are bench_run.py's synthetic ones (N balance-sheet and N revolver dates). Each repeat
starts from an empty log. Compare ratios within one run, not seconds across machines.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_run import RULES, arguments, write_facts

from engine import audit, runner

AS_OF = date(2030, 1, 1)
STAGES = ("first", "rerun", "restated", "verify", "read")


def measure(size: int, repeat: int) -> tuple[dict[str, float], int]:
    timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
    events = 0
    for attempt in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            facts = Path(tmp) / "facts"
            write_facts(facts / "cerplex", size)
            db = Path(tmp) / "log.db"
            t0 = time.perf_counter()
            runner.execute(RULES.parent, facts, db, AS_OF)
            t1 = time.perf_counter()
            runner.execute(RULES.parent, facts, db, AS_OF)
            t2 = time.perf_counter()
            path = facts / "cerplex" / "financials.csv"
            path.write_text(path.read_text().replace(",9000000,", ",9000001,", 1))
            result = runner.execute(RULES.parent, facts, db, AS_OF)
            t3 = time.perf_counter()
            assert audit.verify(db).ok
            t4 = time.perf_counter()
            events = len(audit.read(db))
            t5 = time.perf_counter()
            new = audit.written(db, result.first_seq, sum(result.new.values()))
            assert [e.event for e in new] == ["restatement", "test"], attempt
            for stage, value in zip(
                STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True
            ):
                timings[stage].append(value)
    return {k: statistics.median(v) for k, v in timings.items()}, events


def main() -> None:
    args = arguments(__doc__)
    print(f"median of {args.repeat}; seconds, then ratios to the first run")
    print(
        f"{'dates':>6} {'events':>7} {'first':>7} {'rerun':>7} {'restated':>9} {'verify':>7}"
        f" {'read':>7}  {'rerun/first':>11} {'restated/first':>14}"
    )
    for size in args.sizes:
        m, events = measure(size, args.repeat)
        print(
            f"{size:>6} {events:>7} {m['first']:>7.2f} {m['rerun']:>7.2f} {m['restated']:>9.2f}"
            f" {m['verify']:>7.3f} {m['read']:>7.3f}  {m['rerun'] / m['first']:>11.2f}"
            f" {m['restated'] / m['first']:>14.2f}"
        )


if __name__ == "__main__":
    main()
