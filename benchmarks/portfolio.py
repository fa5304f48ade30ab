"""Portfolio throughput and memory: covenant-monitor against the floors and peer rule engines.

Generates a deterministic synthetic portfolio (benchmarks/synthetic.py: the Cerplex covenant
package, quarterly financials and revolver dates) and measures, in one run, each contender's
throughput in facts per second (a fact is one row of financials or revolver) and its peak
memory (maximum resident set size, its worker processes included):

- covenant-monitor `run`, end to end: files in, SQLite audit log out (1 and --workers N);
  and a run that adds one quarter to the portfolio it has already evaluated;
- the floor of the engine: a bare durable-rules loop asserting the same facts against
  equivalent single-fact rules, one state per facility, deleted when done;
- the floor of the job: the same covenant tests vectorized in pandas;
- peers: durable-rules the obvious way (module-global host, one ruleset per facility),
  zen-engine, rule-engine and clipspy.

Every contender but covenant-monitor starts from facts already parsed into memory, with the
threshold in force looked up for each fact; covenant-monitor reads the files (read once
before the clock starts, so they are in the page cache), checks them, runs the lifecycle and
writes the hash-chained log, so its figure is the whole job, importing the engine included
(its modules compiled to bytecode first, as an installed package's are: with
PYTHONDONTWRITEBYTECODE set, as on some machines, every run compiled them again, 50 ms).
Slow peers run on the first --peer-facilities facilities: throughput is per fact, so a
sample serves.
Each contender runs in a fresh process, once in each of --repeat rounds (so a drift in the
machine's speed falls on all of them alike); medians are printed.

    python benchmarks/portfolio.py [--facilities 10000] [--quarters 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import csv
import importlib
import importlib.util
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from synthetic import write

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
AS_OF = "2026-01-01"
COVENANTS = ("6.18", "6.19", "6.20", "6.21")


# Facts in memory, for every contender but covenant-monitor: one dict per row, figures as
# floats, with the thresholds in force on its date (looked up with the engine's own schedules).


def load(facts: Path, limit: int | None = None) -> list[tuple[str, list[dict], list[dict]]]:
    from engine.portfolio import load_portfolio
    from engine.values import FiscalQuarter

    portfolio = load_portfolio(RULES, facts)
    loaded = []
    for facility in portfolio.facilities[:limit]:
        covenants = facility.agreement.covenants
        quarters = []
        for row in _rows(facility.folder / "financials.csv"):
            quarter, day = (
                FiscalQuarter.parse(row["fiscal_quarter"]),
                date.fromisoformat(row["period_end"]),
            )
            for section in ("6.18", "6.19", "6.20"):
                row[_min(section)] = float(covenants[section].threshold_for(quarter).minimum)
            row[_min("6.21")] = float(covenants["6.21"].threshold_for(day).minimum) + float(
                row["net_securities_proceeds"]
            )
            quarters.append(row)
        revolver = []
        for row in _rows(facility.folder / "revolver.csv"):
            day = date.fromisoformat(row["date"])
            row["min_4_2"] = float(covenants["4.2"].threshold_for(day).minimum)
            revolver.append(row)
        loaded.append((facility.id, quarters, revolver))
    return loaded


def _min(section: str) -> str:
    return "min_" + section.replace(".", "_")


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return [
            {
                k: v if k in ("period_end", "fiscal_quarter", "date", "note") else float(v or 0)
                for k, v in row.items()
            }
            for row in csv.DictReader(handle)
        ]


def count(loaded) -> int:
    return sum(len(q) + len(r) for _, q, r in loaded)


# The contenders. Each returns (facts processed, breaches found) so their results can be
# checked against each other.


def monitor_run(facts: Path, db: Path, workers: int) -> None:
    from engine import cli

    # What the run prints goes where a scheduled run's would, out of its memory (held in a
    # StringIO, its 3,069 breaches' lines counted in its peak, which grew with the portfolio).
    err = io.StringIO()
    with (
        open(os.devnull, "w") as printed,
        contextlib.redirect_stdout(printed),
        contextlib.redirect_stderr(err),
    ):
        code = cli.main(
            [
                "run",
                "--rules",
                str(RULES),
                "--facts",
                str(facts),
                "--db",
                str(db),
                "--as-of",
                AS_OF,
                "--workers",
                str(workers),
            ]
        )
    if code not in (0, 1):
        raise RuntimeError(f"covenant-monitor run exited {code}: {err.getvalue()[-2000:]}")


def durable_floor(loaded) -> int:
    """The engine's own host (no dispatcher threads), single-fact rules comparing the fields
    of one fact, compiled once; one state per facility, deleted when it is done."""
    from engine import host

    found = []

    def hit(owner: None, firing: host.Firing) -> None:
        found.append(firing.rule)

    rules = {
        name: host.Rule(host.less(left, host.field(right)), hit)
        for name, left, right in (
            ("b618", "income", "min_6_18"),
            ("b619", "cover", "min_6_19"),
            ("b620", "ratio", "min_6_20"),
            ("b621", "tangible_net_worth", "min_6_21"),
            ("b42", "line", "min_4_2"),
        )
    }
    # Every fact must match some rule (durable-rules raises otherwise): a compliant one this.
    rules["seen"] = host.Rule(host.equals("kind", "fact"), lambda owner, firing: None)
    ruleset = host.RuleSet("floor", rules)
    for _, quarters, revolver in loaded:
        with ruleset.session(None) as session:
            for fact in _single_facts(quarters, revolver):
                session.assert_fact(fact)
    return len(found)


def _single_facts(quarters, revolver):
    """The figures each rule compares, computed in Python (durable-rules cannot divide)."""
    for q in quarters:
        yield {
            "kind": "fact",
            "income": q["net_income"] - q["gain_on_sale_pcs"],
            "cover": (q["accounts_receivable"] + q["inventory"]) / q["wells_fargo_debt"],
            "ratio": q["current_assets"] / q["current_liabilities"],
            "tangible_net_worth": q["tangible_net_worth"],
            **{k: v for k, v in q.items() if k.startswith("min_")},
        }
    for r in revolver:
        line = r["revolving_loans_outstanding"] + r["revolving_loans_available"]
        yield {"kind": "fact", "line": line, "min_4_2": r["min_4_2"]}


def durable_obvious(loaded) -> int:
    """durable.lang's decorators and module-global host, one ruleset per facility."""
    from durable.lang import assert_fact, m, ruleset, when_all

    found = []

    def hit(c):
        found.append(c.m.kind)

    for name, quarters, revolver in loaded:
        with ruleset(f"obvious-{name}"):
            when_all(m.income < m.min_6_18)(hit)
            when_all(m.cover < m.min_6_19)(hit)
            when_all(m.ratio < m.min_6_20)(hit)
            when_all(m.tangible_net_worth < m.min_6_21)(hit)
            when_all(m.line < m.min_4_2)(hit)
            when_all(m.kind == "fact")(lambda c: None)
        for i, fact in enumerate(_single_facts(quarters, revolver)):
            assert_fact(f"obvious-{name}", {**fact, "id": i})
    return len(found)


ZEN_EXPRESSIONS = {
    "b618": "net_income - gain_on_sale_pcs < min_6_18",
    "b619": "(accounts_receivable + inventory) / wells_fargo_debt < min_6_19",
    "b620": "current_assets / current_liabilities < min_6_20",
    "b621": "tangible_net_worth < min_6_21",
}


def zen(loaded) -> int:
    """zen-engine (GoRules): one decision graph, an expression node per covenant."""
    import zen as zen_engine

    def graph(expressions: dict[str, str]) -> str:
        nodes = [
            {"id": "in", "type": "inputNode", "name": "facts", "position": {"x": 0, "y": 0}},
            {
                "id": "covenants",
                "type": "expressionNode",
                "name": "covenants",
                "position": {"x": 200, "y": 0},
                "content": {
                    "expressions": [{"id": k, "key": k, "value": v} for k, v in expressions.items()]
                },
            },
            {"id": "out", "type": "outputNode", "name": "out", "position": {"x": 400, "y": 0}},
        ]
        edges = [
            {"id": "e1", "sourceId": "in", "targetId": "covenants", "type": "edge"},
            {"id": "e2", "sourceId": "covenants", "targetId": "out", "type": "edge"},
        ]
        return json.dumps({"nodes": nodes, "edges": edges})

    engine = zen_engine.ZenEngine()
    quarter = engine.create_decision(graph(ZEN_EXPRESSIONS))
    line = engine.create_decision(
        graph({"b42": "revolving_loans_outstanding + revolving_loans_available < min_4_2"})
    )
    found = 0
    for _, quarters, revolver in loaded:
        for q in quarters:
            found += sum(quarter.evaluate(q)["result"].values())
        for r in revolver:
            found += sum(line.evaluate(r)["result"].values())
    return found


def rule_engine(loaded) -> int:
    """rule-engine: one compiled Rule per covenant, matched against each fact."""
    import rule_engine as re_

    context = re_.Context(default_value=None)
    quarter = [re_.Rule(e, context=context) for e in ZEN_EXPRESSIONS.values()]
    line = re_.Rule(
        "revolving_loans_outstanding + revolving_loans_available < min_4_2", context=context
    )
    found = 0
    for _, quarters, revolver in loaded:
        for q in quarters:
            found += sum(rule.matches(q) for rule in quarter)
        for r in revolver:
            found += line.matches(r)
    return found


CLIPS = """
(deftemplate quarter (slot income) (slot ar) (slot inv) (slot wf) (slot ca) (slot cl)
  (slot tnw) (slot m618) (slot m619) (slot m620) (slot m621))
(deftemplate line (slot out) (slot avail) (slot m42))
(deftemplate breach (slot covenant) (slot fact))
(defrule b618 ?f <- (quarter (income ?i) (m618 ?m)) (test (< ?i ?m))
  => (assert (breach (covenant "6.18") (fact (fact-index ?f)))))
(defrule b619 ?f <- (quarter (ar ?a) (inv ?v) (wf ?w) (m619 ?m)) (test (< (/ (+ ?a ?v) ?w) ?m))
  => (assert (breach (covenant "6.19") (fact (fact-index ?f)))))
(defrule b620 ?f <- (quarter (ca ?a) (cl ?l) (m620 ?m)) (test (< (/ ?a ?l) ?m))
  => (assert (breach (covenant "6.20") (fact (fact-index ?f)))))
(defrule b621 ?f <- (quarter (tnw ?t) (m621 ?m)) (test (< ?t ?m))
  => (assert (breach (covenant "6.21") (fact (fact-index ?f)))))
(defrule b42 ?f <- (line (out ?o) (avail ?a) (m42 ?m)) (test (< (+ ?o ?a) ?m))
  => (assert (breach (covenant "4.2") (fact (fact-index ?f)))))
"""


def clips(loaded) -> int:
    """clipspy (CLIPS): templates and rules; per facility, assert its facts, run, reset."""
    import clips as clips_

    env = clips_.Environment()
    env.build("(defmodule MAIN)")
    for construct in CLIPS.strip().split("\n(def"):
        env.build(construct if construct.startswith("(") else "(def" + construct)
    quarter, line = env.find_template("quarter"), env.find_template("line")
    found = 0
    for _, quarters, revolver in loaded:
        for q in quarters:
            quarter.assert_fact(
                income=q["net_income"] - q["gain_on_sale_pcs"],
                ar=q["accounts_receivable"],
                inv=q["inventory"],
                wf=q["wells_fargo_debt"],
                ca=q["current_assets"],
                cl=q["current_liabilities"],
                tnw=q["tangible_net_worth"],
                m618=q["min_6_18"],
                m619=q["min_6_19"],
                m620=q["min_6_20"],
                m621=q["min_6_21"],
            )
        for r in revolver:
            line.assert_fact(
                out=r["revolving_loans_outstanding"],
                avail=r["revolving_loans_available"],
                m42=r["min_4_2"],
            )
        env.run()
        found += sum(1 for f in env.facts() if f.template.name == "breach")
        env.reset()
    return found


def pandas_floor(loaded) -> int:
    """The covenant tests as column arithmetic over the whole portfolio at once."""
    import pandas as pd

    quarters = pd.DataFrame.from_records([q for _, qs, _ in loaded for q in qs])
    revolver = pd.DataFrame.from_records([r for _, _, rs in loaded for r in rs])
    q = quarters
    breaches = (
        (q["net_income"] - q["gain_on_sale_pcs"] < q["min_6_18"]).sum()
        + (
            (q["accounts_receivable"] + q["inventory"]) / q["wells_fargo_debt"] < q["min_6_19"]
        ).sum()
        + (q["current_assets"] / q["current_liabilities"] < q["min_6_20"]).sum()
        + (q["tangible_net_worth"] < q["min_6_21"]).sum()
    )
    line = revolver["revolving_loans_outstanding"] + revolver["revolving_loans_available"]
    return int(breaches + (line < revolver["min_4_2"]).sum())


PEERS: dict[str, Callable] = {
    "durable-rules floor (bare host, single-fact rules)": durable_floor,
    "pandas floor (vectorized)": pandas_floor,
    "durable-rules, the obvious way": durable_obvious,
    "zen-engine": zen,
    "rule-engine": rule_engine,
    "clipspy": clips,
}
SAMPLED = {"durable-rules, the obvious way", "zen-engine", "rule-engine", "clipspy"}


def child(args: argparse.Namespace) -> None:
    """One measurement in this fresh process; prints it as JSON."""
    facts = Path(args.facts)
    if args.child.startswith("covenant-monitor"):
        db = Path(args.db)
        if args.child == "covenant-monitor, one quarter added":
            # The portfolio as already evaluated, by a process of its own, as the scheduled
            # run before this one would have; its writes reach the disk before the clock
            # starts, not during.
            before = [sys.executable, __file__, "--child", "covenant-monitor", "--db", str(db)]
            options = ["--facts", str(facts), "--workers", str(args.workers)]
            subprocess.run([*before, *options], check=True, capture_output=True)
            facts = Path(args.next)
            os.sync()
        _warm(facts)
        start = time.perf_counter()
        monitor_run(facts, db, args.workers)
        seconds, facts_done, breaches = time.perf_counter() - start, args.facts_count, None
    else:
        loaded = load(facts, args.limit)
        for module in ("pandas", "zen", "rule_engine", "clips", "durable.lang"):
            importlib.import_module(module)  # imported before the clock starts
        start = time.perf_counter()
        breaches = PEERS[args.child](loaded)
        seconds, facts_done = time.perf_counter() - start, count(loaded)
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(
        json.dumps(
            {
                "seconds": seconds,
                "facts": facts_done,
                "breaches": breaches,
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def _warm(folder: Path) -> None:
    """Read every file once, as a controller's freshly written files would be: in the page
    cache, not on a disk that the runs before have just filled it from (the peers start from
    facts in memory)."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.read_bytes()


def _once(name: str, options: dict) -> dict:
    """One measurement of one contender, in a fresh process."""
    os.sync()  # no contender pays for the disk writes of the one before
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, __file__, "--child", name, "--db", f"{tmp}/log.db"]
        for key, value in options.items():
            command += [f"--{key.replace('_', '-')}", str(value)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{done.stderr}")
        run = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {name}: {run['seconds']:.2f} s", file=sys.stderr, flush=True)
    return run


def measure(contenders: dict[str, dict], repeat: int) -> dict[str, dict]:
    """Each contender's median over `repeat` rounds, a round measuring every contender once:
    a shared machine's speed drifts by a third within the hour, and measuring one contender
    `repeat` times before the next would hand a drift to the ratios between them."""
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, options in contenders.items():
            runs[name].append(_once(name, options))
    results = {}
    for name, taken in runs.items():
        seconds = statistics.median(r["seconds"] for r in taken)
        results[name] = {
            "name": name,
            "facts": taken[0]["facts"],
            "seconds": seconds,
            "rate": taken[0]["facts"] / seconds,
            "peak_mb": statistics.median(r["peak_mb"] for r in taken),
            "breaches": taken[0]["breaches"],
            "each": [r["seconds"] for r in taken],  # round by round
        }
    return results


def _rounds(numerators: list[float], denominators: list[float], digits: int) -> str:
    """A ratio in each round, where the machine's speed was the same for both."""
    return ", ".join(f"{a / b:.{digits}f}" for a, b in zip(numerators, denominators, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facilities", type=int, default=10_000)
    parser.add_argument("--quarters", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-facilities", type=int, default=500)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--facts", help=argparse.SUPPRESS)
    parser.add_argument("--next", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--facts-count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    engine = importlib.util.find_spec("engine")
    assert engine is not None and engine.submodule_search_locations
    for folder in engine.submodule_search_locations:
        compileall.compile_dir(folder, quiet=1)
    with tempfile.TemporaryDirectory(prefix="portfolio-bench-") as tmp:
        root = Path(tmp)
        small = max(args.facilities // 10, 1)
        total = write(root / "facts", args.facilities, args.quarters)
        write(root / "next", args.facilities, args.quarters + 1)
        write(root / "small", small, args.quarters)
        print(
            f"{args.facilities:,} facilities x {args.quarters} quarters = {total:,} facts "
            f"(financials and revolver rows); median of {args.repeat}",
            file=sys.stderr,
        )
        common = {"facts": root / "facts", "facts_count": total}
        contenders = {
            "covenant-monitor": {"workers": 1, **common},
            f"covenant-monitor, {args.workers} workers": {"workers": args.workers, **common},
            "covenant-monitor, one quarter added": {
                "workers": 1,
                "next": root / "next",
                "facts": root / "facts",
                "facts_count": args.facilities * 2,
            },
        }
        for name in PEERS:
            limit = args.peer_facilities if name in SAMPLED else args.facilities
            contenders[name] = {"facts": root / "facts", "limit": limit}
        measured = measure(contenders, args.repeat)
        smaller = _once(
            "covenant-monitor",
            {"workers": 1, "facts": root / "small", "facts_count": small * args.quarters * 2},
        )
    incremental = measured.pop("covenant-monitor, one quarter added")
    results = list(measured.values())
    ours = results[0]
    print(
        f"\n{platform.node()}: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {_cpus()} CPUs"
    )
    print("\n| contender | facts | median s | facts/s | covenant-monitor is | peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        times = ours["rate"] / r["rate"]
        print(
            f"| {r['name']} | {r['facts']:,} | {r['seconds']:.2f} | {r['rate']:,.0f} | "
            f"{times:.2f}x | {r['peak_mb']:,.0f} |"
        )
    full, extra = ours["seconds"], incremental["seconds"]
    print(
        f"\nworkers: {args.workers} give {results[1]['rate'] / ours['rate']:.2f}x the "
        f"throughput of 1 (round by round: {_rounds(ours['each'], results[1]['each'], 2)})"
    )
    print(
        f"one quarter added to the evaluated portfolio: {extra:.2f} s, {extra / full:.2f} "
        f"of a full run (round by round: {_rounds(incremental['each'], ours['each'], 3)})"
    )
    print(
        f"peak memory: {smaller['peak_mb']:,.0f} MB for {small:,} facilities, "
        f"{ours['peak_mb']:,.0f} MB for {args.facilities:,}"
    )
    breaches = {r["name"]: r["breaches"] for r in results if r["breaches"] is not None}
    print(f"breaches found (full portfolio or sample): {breaches}")
    disagreeing = _disagreeing(results)
    if disagreeing:
        sys.exit(f"contenders given the same facts found different breaches: {disagreeing}")


def _disagreeing(results: list[dict]) -> list[dict[str, int]]:
    """The breaches found by contenders given the same facts, where they differ: their times
    would compare different work. (The monitor's own are checked against the durable-rules
    floor's by tests/test_benchmark.py.)"""
    by_facts: dict[int, dict[str, int]] = {}
    for r in results:
        if r["breaches"] is not None:
            by_facts.setdefault(r["facts"], {})[r["name"]] = r["breaches"]
    return [found for found in by_facts.values() if len(set(found.values())) > 1]


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
