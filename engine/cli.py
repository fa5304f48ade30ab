"""The `covenant-monitor` command: parses arguments and calls the stages, nothing more."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from . import audit, report
from .errors import InputError
from .lifecycle import ATTENTION
from .pipeline import monitor
from .values import parse_date

EXIT_OK, EXIT_ATTENTION, EXIT_BAD_INPUT = 0, 1, 2
# Counted rather than listed by `run` unless --verbose: every test, dates not tested, and the
# terms of the agreement and its covenants (recorded when first seen or changed).
_ROUTINE = frozenset({"test", "not_tested", "agreement_terms", "covenant_terms"})

_DESCRIPTION = """\
Monitor loan covenants and events of default. Covenants are declared as rule files
(rules/<agreement>/*.toml), the borrower's controller feeds facts (facts/<borrower>/*.csv or
.xlsx), and every conclusion is appended to an audit log (SQLite) with the clause it rests on.
"""
_EXIT_CODES = """\
exit codes:
  0  nothing new that needs attention
  1  the run recorded a new breach, default, event_of_default, revolving_loan_reduction
     or amount_due
  2  bad input or usage; the message names the file, row and column; nothing was written
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2, as bad input does
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _iso_date(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _percent(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage such as 10 or 7.5")
    return value


def _add_db(parser: argparse.ArgumentParser, creating: bool = False) -> None:
    created = ", created if absent" if creating else ""
    parser.add_argument(
        "--db",
        type=Path,
        default=Path("covenant-monitor.db"),
        metavar="PATH",
        help=f"audit log file{created} (default: ./covenant-monitor.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="covenant-monitor",
        description=_DESCRIPTION,
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="test the covenants on the facts and record what is new",
        description="Load every agreement in --rules and the facts of the borrower folder of "
        "the same name in --facts, test every covenant, apply waivers, suspensions "
        "and grace periods, and append the new events to the audit log in one "
        "transaction. Events already in the log are not recorded again.",
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--rules",
        type=Path,
        default=Path("rules"),
        metavar="DIR",
        help="folder with one sub-folder of rule files per agreement (default: ./rules)",
    )
    run.add_argument(
        "--facts",
        type=Path,
        default=Path("facts"),
        metavar="DIR",
        help="folder with one sub-folder of facts per borrower, named like the "
        "agreement (default: ./facts)",
    )
    _add_db(run, creating=True)
    run.add_argument(
        "--as-of",
        type=_iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="use only facts dated on or before this date (default: today)",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="also list each new covenant test, each date not tested and the terms "
        "recorded (by default they are counted, not listed)",
    )

    log = commands.add_parser(
        "log",
        help="print the audit log",
        description="Print every event in the audit log in the order it was recorded.",
    )
    _add_db(log)
    log.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: seq, event, agreement, covenant, date and "
        "the event's own fields",
    )

    rep = commands.add_parser(
        "report",
        help="write a breach report from the audit log",
        description="A report built from the audit log alone. A summary first: covenants "
        "in compliance and in breach, open defaults and events of default, amounts due and "
        "notices owed, and early warnings (thin headroom; minimums that step up at the next "
        "two quarter-ends, with the improvement they require). Then per covenant: status, "
        "clause and text, every test with its inputs and headroom (charted against the "
        "threshold schedule in HTML); what became of each breach; and the audit-log events "
        "it rests on, by sequence number.",
    )
    _add_db(rep)
    rep.add_argument(
        "--format",
        choices=report.FORMATS,
        default="md",
        help="md (Markdown, for e-mail and tickets), json (for other systems), html (one "
        "self-contained file with charts) or xlsx (Excel; needs --out) (default: md)",
    )
    rep.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the report to this file (default: standard output)",
    )
    rep.add_argument(
        "--as-of",
        type=_iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="the state on this date: events dated on or before it, each counted from the "
        "day it took effect (default: the latest run's as-of date)",
    )
    rep.add_argument(
        "--thin-headroom",
        type=_percent,
        default=report.THIN_HEADROOM_PERCENT,
        metavar="PERCENT",
        help="warn when a compliant covenant's headroom is less than this share of its "
        f"threshold (default: {report.THIN_HEADROOM_PERCENT})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "log":
            return _log(args)
        return _report(args)
    except InputError as error:
        print(f"covenant-monitor: bad input, nothing was written:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except audit.AuditLogMissing as error:
        print(f"covenant-monitor: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except sqlite3.Error as error:
        print(f"covenant-monitor: cannot use the audit log {args.db}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    as_of = args.as_of or date.today()
    outcome = monitor(args.rules, args.facts, as_of)
    for borrower in outcome.without_rules:
        print(
            f"note: no agreement {args.rules / borrower} for facts {args.facts / borrower}; "
            "not read",
            file=sys.stderr,
        )
    for agreement in outcome.without_facts:
        print(
            f"note: no facts folder {args.facts / agreement}; agreement {agreement} not tested",
            file=sys.stderr,
        )
    stored = audit.record(args.db, outcome.events, as_of, outcome.inputs)
    routine = Counter(e.event for e in stored if e.event in _ROUTINE)
    for event in stored:
        if args.verbose or event.event not in _ROUTINE:
            print(report.one_line(event))
    already = len({e.key for e in outcome.events}) - len(stored)
    counted = "".join(f", {n} {kind.replace('_', ' ')}" for kind, n in sorted(routine.items()))
    print(
        f"\n{len(stored)} new event(s) recorded in {args.db} as of {as_of}{counted}; "
        f"{already} already in the log."
    )
    return EXIT_ATTENTION if any(e.event in ATTENTION for e in stored) else EXIT_OK


def _log(args: argparse.Namespace) -> int:
    try:
        for event in audit.read(args.db):
            print(json.dumps(event.as_json()) if args.json else report.one_line(event))
    except BrokenPipeError:  # `log | head`: the reader has all it wants
        # As the Python docs advise: point stdout at devnull so the flush at exit is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    if args.format == "xlsx" and args.out is None:
        print("covenant-monitor: --format xlsx needs --out FILE", file=sys.stderr)
        return EXIT_BAD_INPUT
    model = report.build(audit.read(args.db), args.as_of, args.thin_headroom)
    content = report.render(model, args.format)
    if args.out is None:
        sys.stdout.buffer.write(content)
    else:
        args.out.write_bytes(content)
        print(f"report written to {args.out}", file=sys.stderr)
    return EXIT_OK
