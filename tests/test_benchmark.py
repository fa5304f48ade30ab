"""benchmarks/portfolio.py's contenders are measured on the same covenants as the monitor:
the durable-rules floor (which needs only the engine) finds the failing tests the monitor
records for the covenants it models (4.2 and 6.18 to 6.21)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import RULES
from engine import audit, cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import portfolio as benchmark
import synthetic

MODELLED = {"4.2", "6.18", "6.19", "6.20", "6.21"}


def test_the_durable_rules_floor_finds_the_failing_tests_the_monitor_records(tmp_path) -> None:
    facts, db = tmp_path / "facts", tmp_path / "log.db"
    synthetic.write(facts, 60, 40)
    run = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    assert cli.main([*run, "--as-of", benchmark.AS_OF]) == cli.EXIT_ATTENTION
    failing = [
        e
        for e in audit.read(db)
        if e.event == "test" and e.covenant in MODELLED and e.details["result"] != "compliant"
    ]
    assert failing  # about one test in a hundred fails: some among 12,000
    assert benchmark.durable_floor(benchmark.load(facts)) == len(failing)


def test_the_benchmark_names_contenders_that_found_different_breaches_in_the_same_facts() -> None:
    """Their times would compare different work; a sample of fewer facts is not compared with
    the whole portfolio, and a contender that counts none (the monitor itself) is left out."""
    results = [
        {"name": "floor", "facts": 800, "breaches": 3},
        {"name": "pandas", "facts": 800, "breaches": 4},
        {"name": "peer", "facts": 40, "breaches": 1},
        {"name": "covenant-monitor", "facts": 800, "breaches": None},
    ]
    assert benchmark._disagreeing(results) == [{"floor": 3, "pandas": 4}]
    results[1]["breaches"] = 3
    assert benchmark._disagreeing(results) == []
