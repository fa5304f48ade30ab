"""The floor of the record: what any run that keeps covenant-monitor's audit log of the
benchmark's portfolio must spend, whatever evaluates the covenants, measured part by part.

A run records every covenant test (two million at 10,000 facilities x 40 quarters) with its
version, the SHA-256 digest of what the test says (so that a rerun on the same inputs records
nothing and a corrected figure records a new version), and stores every input file and event
in a hash-chained log. The peers of `benchmarks/portfolio.py` only compare figures already in
memory. Each part below is measured alone, in one process, checking and evaluating nothing,
so their sum is a floor that no way of evaluating the covenants goes below:

- reading and digesting every facility's input files (a run stores each by its SHA-256);
- reading their rows' amounts as Decimal (split on commas, nothing checked);
- digesting each test's version: texts as long as those of a sample run's tests, each checked
  to give the version that run recorded;
- writing the details of the portfolio's events and its stored files (the sample log's, per
  facility; not their keys, versions and hashes, nor the log's indexes) into SQLite with the
  log's page size, in one transaction, committed.

    python benchmarks/record_floor.py [--facilities 10000] [--quarters 40] [--sample 100]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from pathlib import Path

from portfolio import monitor_run
from synthetic import write

from engine import audit
from engine.lifecycle import DetailsTexts
from engine.snapshot import read_bytes


def sample(root: Path, quarters: int, facilities: int) -> tuple[list[bytes], Path]:
    """A run over the portfolio's first `facilities`: each test's version text, and its log."""
    facts, db = root / "sample", root / "sample.db"
    write(facts, facilities, quarters)
    monitor_run(facts, db, workers=1)  # as the portfolio benchmark runs covenant-monitor
    texts = []
    for event in audit.read(db):
        if event.event == "test":
            key = encode_basestring_ascii(event.key)
            text = f"[{key},{DetailsTexts.of(event.details).versioned}]".encode()
            assert hashlib.sha256(text).hexdigest() == event.version, event.key
            texts.append(text)
    return texts, db


def read_files(facts: Path) -> tuple[int, list[bytes]]:
    """Every facility's files read and digested: how many, and the CSV files' contents."""
    count, tables = 0, []
    for folder in sorted(facts.iterdir()):
        for name in ("facility.toml", "financials.csv", "revolver.csv"):
            content = read_bytes(f"{folder}/{name}")
            hashlib.sha256(content).hexdigest()
            count += 1
            if name.endswith(".csv"):
                tables.append(content)
    return count, tables


def amounts(tables: list[bytes]) -> int:
    """Every amount of every CSV row as a Decimal (not the first cell, a date, nor the last, a
    note, nor a fiscal quarter); how many rows."""
    rows = 0
    for content in tables:
        for line in content.decode().split("\n")[1:]:
            if line:
                cells = line.split(",")
                [Decimal(cell) for cell in cells[1:-1] if cell and "Q" not in cell]
                rows += 1
    return rows


def versions(texts: list[bytes], count: int) -> None:
    for index in range(count):
        hashlib.sha256(texts[index % len(texts)]).hexdigest()


def log_bytes(db: Path, times: int, path: Path) -> tuple[float, int]:
    """The sample log's events' and files' contents, `times` over, into a new SQLite file:
    how long that took, and the file's size."""
    with contextlib.closing(sqlite3.connect(db)) as log:
        texts = [row[0] for row in log.execute("SELECT details FROM events")]
        blobs = [row[0] for row in log.execute("SELECT content FROM files")]
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as out:
        out.execute("PRAGMA page_size = 8192")
        out.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, details TEXT)")
        out.execute("CREATE TABLE files (seq INTEGER PRIMARY KEY, content BLOB)")
        out.execute("PRAGMA cache_size = -32768")
        os.sync()
        start = time.perf_counter()
        out.execute("BEGIN IMMEDIATE")
        events = ((text,) for _ in range(times) for text in texts)
        out.executemany("INSERT INTO events (details) VALUES (?)", events)
        files = ((blob,) for _ in range(times) for blob in blobs)
        out.executemany("INSERT INTO files (content) VALUES (?)", files)
        out.execute("COMMIT")
        seconds = time.perf_counter() - start
    return seconds, path.stat().st_size


def timed(part: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = part()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facilities", type=int, default=10_000)
    parser.add_argument("--quarters", type=int, default=40)
    parser.add_argument("--sample", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        texts, db = sample(root, args.quarters, args.sample)
        facts = root / "facts"
        count = write(facts, args.facilities, args.quarters)
        tests = len(texts) * args.facilities // args.sample
        parts = []
        seconds, (files, tables) = timed(lambda: read_files(facts))
        parts.append((f"read and digest {files:,} files", seconds))
        seconds, rows = timed(lambda: amounts(tables))
        parts.append((f"amounts of {rows:,} rows as Decimal", seconds))
        seconds, _ = timed(lambda: versions(texts, tests))
        parts.append((f"{tests:,} test versions digested", seconds))
        seconds, size = log_bytes(db, args.facilities // args.sample, root / "log.db")
        parts.append((f"{size / 1e6:,.0f} MB of details and files written", seconds))
    total = sum(seconds for _, seconds in parts)
    print(
        f"{platform.machine()}, Python {platform.python_version()}, {args.facilities:,} facilities"
    )
    print("\n| part | seconds |\n|---|---:|")
    for name, seconds in parts:
        print(f"| {name} | {seconds:.2f} |")
    print(f"| the floor of the record | {total:.2f} |")
    print(f"\n{count:,} facts: at most {count / total:,.0f} facts/s in one process")


if __name__ == "__main__":
    main()
