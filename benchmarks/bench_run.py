"""Time each stage of a monitoring run on synthetic Cerplex facts; print medians and ratios.

    python benchmarks/bench_run.py [--sizes 1000 5000] [--repeat 3]

Each size N writes N interim balance-sheet dates (Section 6.21, one a day from June 30, 1997)
and N revolver dates (Section 4.2), about one in ten below its floor, then times: loading and
checking the facts, evaluating the covenants in Decimal, the lifecycle on durable-rules, and
recording the audit log. Figures are medians of --repeat runs taken in one process; compare
ratios within one run, not seconds across machines.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from engine import audit, instruments
from engine.evaluate import evaluate
from engine.facts import load_facts
from engine.lifecycle import run_lifecycle
from engine.rules import load_agreement
from engine.schema import FINANCIALS

RULES = Path(__file__).resolve().parent.parent / "rules" / "cerplex"
START = date(1997, 6, 30)


def write_facts(folder: Path, size: int) -> None:
    folder.mkdir(parents=True)
    with (folder / "financials.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FINANCIALS.column_names)
        writer.writeheader()
        for i in range(size):
            # Every tenth date $1 below the floor in force ($5,000,000 from May 2, 1998).
            writer.writerow(
                {
                    "period_end": START + timedelta(days=i),
                    "tangible_net_worth": 4_999_999 if i % 10 == 0 else 9_000_000,
                }
            )
    with (folder / "revolver.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "revolving_loans_outstanding", "revolving_loans_available"])
        for i in range(size):
            writer.writerow([START + timedelta(days=i), 4_000_000, 0 if i % 10 == 0 else 900_000])
    (folder / "notes.csv").write_text("holder,initial_capitalized_interest_amount\nA,100000\n")


def measure(size: int, repeat: int) -> dict[str, float]:
    agreement = load_agreement(RULES)
    timings: dict[str, list[float]] = {k: [] for k in ("load", "evaluate", "lifecycle", "audit")}
    events_count = tests_count = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cerplex"
        write_facts(folder, size)
        for attempt in range(repeat):
            t0 = time.perf_counter()
            facts = load_facts(folder, agreement)
            t1 = time.perf_counter()
            evaluation = evaluate(agreement, facts)
            t2 = time.perf_counter()
            states = instruments.resolve(agreement, facts, date(2030, 1, 1))
            events = run_lifecycle(
                agreement,
                facts,
                date(2030, 1, 1),
                evaluation,
                states,
                instruments.windows(states, date(2030, 1, 1)),
            )
            t3 = time.perf_counter()
            audit.record(Path(tmp) / f"log{attempt}.db", events, date(2030, 1, 1), {})
            t4 = time.perf_counter()
            for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                timings[key].append(value)
            events_count, tests_count = len(events), len(evaluation.tests)
    medians = {k: statistics.median(v) for k, v in timings.items()}
    medians["tests"], medians["events"] = tests_count, events_count
    return medians


def arguments(doc: str) -> argparse.Namespace:
    """The options every benchmark here takes: the sizes to run and how often."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__)
    print(f"median of {args.repeat} runs; seconds per stage, then tests or events per second")
    print(
        f"{'dates':>6} {'tests':>6} {'events':>7} {'load':>7} {'evaluate':>9} {'lifecycle':>10}"
        f" {'audit':>7}  {'tests/s eval':>12} {'tests/s rules':>13} {'rules/eval':>10}"
    )
    for size in args.sizes:
        m = measure(size, args.repeat)
        print(
            f"{size:>6} {m['tests']:>6} {m['events']:>7} {m['load']:>7.3f} "
            f"{m['evaluate']:>9.3f} {m['lifecycle']:>10.3f} {m['audit']:>7.3f}  "
            f"{m['tests'] / m['evaluate']:>12,.0f} {m['tests'] / m['lifecycle']:>13,.0f} "
            f"{m['lifecycle'] / m['evaluate']:>9.1f}x"
        )


if __name__ == "__main__":
    main()
