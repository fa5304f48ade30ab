"""Time building and rendering the report from an audit log; print medians and ratios.

    python benchmarks/bench_report.py [--sizes 1000 5000] [--repeat 3]

Each size N records the log of a run on the synthetic facts of bench_run.py (N balance-sheet and
N revolver dates), then times: reading the log, building the report model, and rendering it as
Markdown, JSON, HTML (with its charts) and Excel. Figures are medians of --repeat runs taken in
one process; compare ratios within one run, not seconds across machines.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_run import RULES, arguments, write_facts

from engine import audit, report
from engine.pipeline import monitor

AS_OF = date(2030, 1, 1)
STAGES = ("read", "build", "md", "json", "html", "xlsx")


def measure(size: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        write_facts(Path(tmp) / "facts" / "cerplex", size)
        db = Path(tmp) / "log.db"
        outcome = monitor(RULES.parent, Path(tmp) / "facts", AS_OF)
        audit.record(db, outcome.events, AS_OF, outcome.inputs)
        timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
        sizes: dict[str, int] = {}
        for _ in range(repeat):
            t0 = time.perf_counter()
            events = audit.read(db)
            t1 = time.perf_counter()
            model = report.build(events)
            timings["read"].append(t1 - t0)
            timings["build"].append(time.perf_counter() - t1)
            for form in STAGES[2:]:
                start = time.perf_counter()
                sizes[form] = len(report.render(model, form))
                timings[form].append(time.perf_counter() - start)
    medians = {stage: statistics.median(values) for stage, values in timings.items()}
    medians["events"] = len(events)
    medians.update({f"{form} bytes": n for form, n in sizes.items()})
    return medians


def main() -> None:
    args = arguments(__doc__)
    print(f"median of {args.repeat} runs; seconds per stage; html/md = cost of HTML over Markdown")
    print(
        f"{'dates':>6} {'events':>7}"
        + "".join(f" {stage:>7}" for stage in STAGES)
        + f" {'html/md':>8} {'html KB':>8} {'xlsx KB':>8}"
    )
    for size in args.sizes:
        m = measure(size, args.repeat)
        print(
            f"{size:>6} {m['events']:>7}"
            + "".join(f" {m[stage]:>7.3f}" for stage in STAGES)
            + f" {m['html'] / m['md']:>7.1f}x {m['html bytes'] / 1024:>8,.0f}"
            f" {m['xlsx bytes'] / 1024:>8,.0f}"
        )


if __name__ == "__main__":
    main()
