"""The `covenant-monitor` command: parses arguments and calls the stages, nothing more."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from time import monotonic
from typing import Any, BinaryIO, NamedTuple

from dateutil.relativedelta import relativedelta

from . import audit, notify, processes, report, runner, store
from .errors import InputError, Problem
from .lifecycle import ATTENTION
from .values import parse_date

EXIT_OK, EXIT_ATTENTION, EXIT_BAD_INPUT = 0, 1, 2
EXIT_NOT_NOTIFIED, EXIT_BUSY, EXIT_LOG_BROKEN, EXIT_FAILED = 3, 4, 5, 6
# As a shell reports a process the signal ended; the process unwinds first.
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM
# Counted rather than listed by `run` unless --verbose: every test, dates not tested, and the
# terms of the agreement, its covenants and its Notes' interest (recorded when first seen or
# changed).
_ROUTINE = frozenset({"test", "not_tested", "agreement_terms", "covenant_terms", "interest_terms"})

_DESCRIPTION = """\
Monitor loan covenants and events of default. Covenants are declared as rule files
(rules/<agreement>/*.toml), the borrower's controller feeds facts (facts/<borrower>/*.csv or
.xlsx), and every conclusion is appended to an audit log (SQLite) with the clause it rests on.
"""


def _either(words: Sequence[str]) -> str:
    """'a, b or c'."""
    return f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else "".join(words)


# The kinds are listed from ATTENTION and notify.KINDS, so that help cannot fall behind them.
_EXIT_CODES = f"""\
exit codes:
  0  nothing new that needs attention (a rerun on the same inputs records nothing)
  1  {textwrap.fill(f"the run recorded a new {_either(ATTENTION)}", 87, subsequent_indent="     ")}
  2  bad input or usage; the message names the file, row and column; nothing was written
  3  the events were recorded, but a notification could not be delivered; it is sent
     again on the next run
  4  another run held the audit log's lock for longer than --wait; nothing was written
  5  the audit log fails verification (edited, deleted or reordered rows); nothing was
     written. `verify` names the first bad row
  6  stopped by the operating system (a full disk, a folder it may not write, a worker
     process killed by the out-of-memory killer) or by a bug (its traceback is printed): the
     log is as before the run, or as after it if it had committed
  130, 143  stopped by Ctrl-C or SIGTERM: the log is as before the run (or as after it, if
     it had committed); temporary files and a half-written report are removed
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2, as bad input does
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser that raises ValueError with the reason."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    return convert


_iso_date = _argument(parse_date)
_PERIOD = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")


def _date_or_period(text: str) -> date | relativedelta:
    """A date, or an ISO 8601 period back from the report's date (P7D, P1M, P3M): a scheduled
    report says "a week before" without a shell to work the date out."""
    found = _PERIOD.fullmatch(text.strip().upper())
    if found and any(found.groups()):
        years, months, weeks, days = (int(part or 0) for part in found.groups())
        return relativedelta(years=years, months=months, weeks=weeks, days=days)
    try:
        return parse_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date (YYYY-MM-DD) nor a period such as P7D, P1M or P3M"
        ) from error


_smtp = _argument(notify.smtp_address)
_url = _argument(notify.webhook_url)


def _instant(text: str, of_day: time = time.max) -> datetime:
    """An ISO date-time; without a zone it is local time; a bare date means the end of it (or
    `of_day`)."""
    try:
        if len(text.strip()) == 10:
            moment = datetime.combine(parse_date(text), of_day)
        else:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date-time such as 2026-11-21T09:30:00Z or 2026-11-21"
        ) from error
    try:
        moment = moment.astimezone() if moment.tzinfo is None else moment
        moment.astimezone(UTC)  # what the log's times are compared in
    except (ValueError, OverflowError) as error:  # the first hours of the year 1
        raise argparse.ArgumentTypeError(
            f"{text!r} is too early to place in time; give a later one, or one in UTC such as "
            "0001-01-01T23:59:59Z"
        ) from error
    return moment


def _since(text: str) -> datetime:
    """As `_instant`, but a bare date means the start of that day: `log --since 2026-11-17`
    includes what was recorded on the 17th."""
    return _instant(text, time.min)


class _Out(NamedTuple):
    path: Path
    folder: bool  # a folder of pages (PATH/ or a folder that exists), not a file


def _output(text: str) -> _Out:
    """A file to write in a folder that exists, or a folder of pages that is new, empty or
    one a report wrote (it is replaced whole) and does not hold the current folder: checked
    before the work, not after it."""
    path = Path(text)
    folder = text.endswith(("/", os.sep)) or path.is_dir()
    if not path.absolute().parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: there is no folder {str(path.parent)!r}")
    if folder and path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    if folder and Path.cwd().is_relative_to(path.resolve()):
        raise argparse.ArgumentTypeError(
            f"{text!r} holds the current folder, which a report replacing it would pull from "
            "under the shell: name a folder inside it, such as 'book/'"
        )
    if folder and path.is_dir() and any(path.iterdir()) and not (path / report.MARKER).exists():
        raise argparse.ArgumentTypeError(
            f"{text!r} is a folder with files no report wrote: name a new folder, an empty "
            "one, or one a report wrote (a report replaces it whole)"
        )
    return _Out(path, folder)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 86400")
    return value


def _partition(text: str) -> tuple[int, int]:
    i, slash, n = text.partition("/")
    if not (slash and i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a slice such as 1/4 (1 <= I <= N)")
    return int(i), int(n)


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes from 1 to 256")
    return int(text)


def _add_known_as_of(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--known-as-of",
        type=_instant,
        default=None,
        metavar="DATE-TIME",
        help=f"{what} as the monitor knew it at this moment: only what runs recorded by then "
        "(ISO, e.g. 2026-11-21T09:30:00Z; no zone means local time; a bare date means the "
        "end of that day)",
    )


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
        type=store.location,
        default=Path("covenant-monitor.db"),
        metavar="PATH|URL",
        help=f"audit log: a SQLite file{created} (default: ./covenant-monitor.db), or a "
        "PostgreSQL database, postgresql://user@host/dbname (the password from PGPASSWORD "
        "or ~/.pgpass)",
    )


def _add_facility(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--facility",
        action="append",
        default=None,
        metavar="NAME",
        help=f"{what} only this facility (its folder's name under --facts); repeatable",
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
        description=textwrap.fill(
            "Load every agreement folder in --rules and every facility folder in --facts (its "
            "facility.toml names the agreement it follows; a folder without one is the "
            "facility of the agreement whose facts it is), test every covenant, apply "
            "waivers, suspensions and grace periods, work out the Notes' interest and what "
            "falls due, and append the new events to the audit log in one transaction. "
            "Events already in the log are not recorded again.",
            87,
        ),
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
        help="folder with one sub-folder of facts per facility, each with a facility.toml "
        "naming its agreement, or named like the agreement (default: ./facts)",
    )
    _add_db(run, creating=True)
    _add_facility(run, "evaluate")
    run.add_argument(
        "--verify",
        action="store_true",
        help="walk the whole hash chain before adding, as the verify command does (by "
        "default a run checks only that the log ends where the last run left it)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="evaluate and print what the run would record, then roll it back: nothing is "
        "written and no alert sent (draft figures checked before they are delivered); exits "
        "as the run would",
    )
    run.add_argument(
        "--partition",
        type=_partition,
        default=None,
        metavar="I/N",
        help="evaluate only the I-th of N slices of the facilities (by a digest of each "
        "facility's name), so N machines can share one PostgreSQL log; each records its "
        "slice in turn",
    )
    run.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="evaluate facilities in N processes (default: 1); recording stays one transaction",
    )
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
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line (events, notes, the summary, errors) for log "
        "shippers (default: text)",
    )
    run.add_argument(
        "--wait",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for another run of the same log to finish before exiting 4 "
        "(default: 600)",
    )
    _add_known_as_of(
        run,
        "replay instead of running: evaluate again each facility's inputs (of --facility or "
        "--partition, in --workers processes) as the latest run recorded by this moment that "
        "read it stored them, at that run's as-of date, check the log held every event they "
        "give, and write nothing. The inputs are",
    )
    alerts = run.add_argument_group(
        "alerts",
        textwrap.fill(
            f"Send new {_either([kind for kind in ATTENTION if kind in notify.KINDS])} events "
            "by e-mail or webhook. A failed delivery exits 3 and is retried on the next run.",
            87,
        ),
    )
    alerts.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a TOML file with [[notify.email]] and [[notify.webhook]] tables (see README)",
    )
    alerts.add_argument(
        "--email-to", action="append", default=[], metavar="ADDRESS", help="repeatable"
    )
    alerts.add_argument(
        "--smtp",
        type=_smtp,
        default=None,
        metavar="HOST[:PORT]",
        help="the SMTP server for --email-to (default port 25)",
    )
    alerts.add_argument(
        "--email-from", default=notify.Email.sender, metavar="ADDRESS", help="the sender"
    )
    alerts.add_argument(
        "--webhook", action="append", type=_url, default=[], metavar="URL", help="repeatable"
    )

    log = commands.add_parser(
        "log",
        help="print the audit log",
        description="Print the current view of the audit log in the order it was recorded: "
        "every event except those a restatement superseded. --all prints them too.",
    )
    _add_db(log)
    log.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: seq, event, agreement, covenant, date and "
        "the event's own fields",
    )
    log.add_argument(
        "--all",
        action="store_true",
        help="the whole history, superseded events included and marked",
    )
    _add_known_as_of(log, "the log")
    _add_facility(log, "print")
    log.add_argument(
        "--event",
        action="append",
        default=None,
        metavar="KIND",
        help="only events of this kind (payment_overdue, event_of_default...); repeatable",
    )
    log.add_argument(
        "--covenant",
        action="append",
        default=None,
        metavar="SECTION",
        help='only events of this covenant, as the log names it ("6.21", "SPA 5(a)", "4.1" '
        "for the Notes' ledger); repeatable",
    )
    log.add_argument(
        "--since",
        type=_since,
        default=None,
        metavar="DATE-TIME",
        help="only events recorded at or after this moment: what runs added since a review "
        "(ISO, e.g. 2026-11-17T09:00:00Z; no zone means local time; a bare date means the "
        "start of that day)",
    )

    check = commands.add_parser(
        "verify",
        help="check that no row of the audit log was edited, deleted or reordered",
        description="Walk the audit log's hash chain. Exit 0 if intact (and print the head "
        "hash: keep a copy elsewhere to catch a rewrite of the whole chain), 5 naming the "
        "first bad sequence number if not.",
    )
    _add_db(check)

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
        "self-contained file with charts), xlsx (Excel; needs --out) or ics (the dates ahead "
        "as an iCalendar file, for a calendar) (default: md)",
    )
    rep.add_argument(
        "--out",
        type=_output,
        default=None,
        metavar="PATH",
        help="write the report to this file (default: standard output); an html report to a "
        "folder (PATH/, or a folder that exists) is a page for each facility detailed and "
        f"{report.INDEX} with the portfolio view, the folder replaced whole",
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
        "--compare-to",
        type=_date_or_period,
        default=None,
        metavar="DATE|PERIOD",
        help="also the state on this earlier date, or this long before the report's date (an "
        "ISO 8601 period: P7D a week, P1M a month, P3M a quarter), beside the report's: each "
        "facility's status then and whether it is worse, better or unchanged (the portfolio "
        "view), and each covenant's status then and the breaches since",
    )
    rep.add_argument(
        "--thin-headroom",
        type=_percent,
        default=report.THIN_HEADROOM_PERCENT,
        metavar="PERCENT",
        help="warn when a compliant covenant's headroom is less than this share of its "
        f"threshold (default: {report.THIN_HEADROOM_PERCENT})",
    )
    rep.add_argument(
        "--detail",
        choices=("attention", "all"),
        default=None,
        help="which facilities get their full sections when the report covers several: "
        "those needing attention (a status other than compliant, an open default, an amount "
        "due not known to be paid), the others in the portfolio view only; or all "
        "(default: attention for several facilities; one is always in full)",
    )
    rep.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="read the log and draw the HTML report's charts in N processes (default: 1); a "
        "portfolio's report spends most of its time reading, and an HTML one drawing",
    )
    _add_known_as_of(rep, "the log")
    _add_facility(rep, "report on")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = _Output(getattr(args, "log_format", "text"))
    try:
        with processes.terminable():
            return _COMMANDS[args.command](args, out)
    except KeyboardInterrupt:
        out.error("stopped by Ctrl-C")
        return EXIT_INTERRUPTED
    except processes.Terminated:
        out.error("stopped by SIGTERM")
        return EXIT_TERMINATED
    except InputError as error:
        out.error("bad input, nothing was written", error.problems)
        return EXIT_BAD_INPUT
    except audit.AuditLogMissing as error:
        out.error(str(error))
        return EXIT_BAD_INPUT
    except store.LogBusy as error:
        out.error(str(error))
        return EXIT_BUSY
    except runner.LogTampered as error:
        out.error(
            f"the audit log {store.shown(args.db)} fails verification: {error}; nothing was "
            "written. Keep the log as evidence and restore it from a copy."
        )
        return EXIT_LOG_BROKEN
    except store.errors() as error:
        out.error(f"cannot use the audit log {store.shown(args.db)}: {error}")
        return EXIT_BAD_INPUT
    except OSError as error:  # not exit 1, which says "new events recorded" to a scheduler
        out.error(f"stopped by the operating system: {error}")
        return EXIT_FAILED
    except Exception as error:
        out.error(f"stopped by an unexpected error: {error!r}", trace=traceback.format_exc())
        return EXIT_FAILED


class _Output:
    """What `run` prints: plain lines for people, or one JSON object per line for shippers."""

    def __init__(self, fmt: str):
        self.json = fmt == "json"

    def _emit(self, stream: Any, level: str, message: str, **fields: Any) -> None:
        self._line(stream, level, message, fields)

    @staticmethod
    def _line(stream: Any, level: str, message: str, fields: dict[str, Any]) -> None:
        """One JSON line; a field named like the line's own (an event's `message` detail) is
        given as `detail_<name>`, so it neither replaces them nor breaks the line."""
        record = {"time": audit.now(), "level": level, "message": message}
        for name, value in fields.items():
            record[f"detail_{name}" if name in ("time", "level", "message") else name] = value
        print(json.dumps(record, default=str), file=stream, flush=True)

    def progress(self, message: str, **fields: Any) -> None:
        if self.json:
            self._emit(sys.stderr, "debug", message, **fields)

    def event(self, event: audit.StoredEvent) -> None:
        if self.json:
            self._line(sys.stdout, "info", "recorded", event.as_json())
        else:
            print(report.one_line(event) + _restates(event))

    def note(self, message: str, **fields: Any) -> None:
        if self.json:
            self._emit(sys.stderr, "warning", message, **fields)
        else:
            print(f"note: {message}", file=sys.stderr)

    def summary(self, message: str, **fields: Any) -> None:
        if self.json:
            self._emit(sys.stdout, "info", message, **fields)
        else:
            print(f"\n{message}")

    def error(self, message: str, problems: list | None = None, trace: str = "") -> None:
        if self.json:
            found = [vars(p) for p in problems or []]
            traced = {"traceback": trace} if trace else {}
            self._emit(sys.stderr, "error", message, problems=found, **traced)
        else:
            lines = [trace.rstrip()] if trace else []
            lines += [f"covenant-monitor: {message}" + (":" if problems else "")]
            lines += [str(p) for p in problems or []]
            print("\n".join(lines), file=sys.stderr)


class _Bar:
    """A progress bar on a terminal, redrawn at most ten times a second: long runs show they
    are alive; logs and pipes get nothing."""

    WIDTH = 30

    def __init__(self, stream: Any):
        self.stream, self.drawn, self.stage = stream, 0.0, ""

    @classmethod
    def shown(cls, out: _Output) -> _Bar | None:
        """A bar on standard error if it is a terminal, and the output is not JSON lines."""
        return cls(sys.stderr) if sys.stderr.isatty() and not out.json else None

    def __call__(self, stage: str, done: int, total: int, unit: str = "facilities") -> None:
        moment = monotonic()
        if stage == self.stage and done < total and moment - self.drawn < 0.1:
            return
        self.stage, self.drawn = stage, moment
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{stage:<24} [{bar}] {done:,}/{total:,} {unit}{end}")
        self.stream.flush()


def _restates(event: audit.StoredEvent) -> str:
    if event.event == "restatement":
        return ""
    return f"  (restates event {', '.join(map(str, event.supersedes))})" if event.supersedes else ""


def _notifier(args: argparse.Namespace) -> notify.Notifier | None:
    notifier = notify.load_config(args.config) if args.config else notify.Notifier()
    if args.email_to:
        if args.smtp is None:
            raise InputError([Problem("command line", "--email-to needs --smtp HOST[:PORT]")])
        host, port = args.smtp
        notifier.channels.append(notify.Email(tuple(args.email_to), host, port, args.email_from))
    notifier.channels.extend(notify.Webhook(url) for url in args.webhook)
    return notifier if notifier.channels else None


def _counted(kind: str, n: int) -> str:
    """A routine kind as the run's summary counts it: "18000 tests", "1 test", "300 not
    tested", "10 covenant terms" (the other kinds read as plurals already)."""
    return "tests" if kind == "test" and n != 1 else kind.replace("_", " ")


def _run(args: argparse.Namespace, out: _Output) -> int:
    if args.known_as_of is not None:
        if args.dry_run:
            out.error("--dry-run cannot be given with --known-as-of: a replay writes nothing")
            return EXIT_BAD_INPUT
        return _replay(args, out)
    notifier = None if args.dry_run else _notifier(args)
    as_of = args.as_of or date.today()
    listed = args.verbose or out.json
    skip = () if listed else _ROUTINE

    def show(events: Iterable[audit.StoredEvent]) -> None:
        # A facility's events in date order: the log records its covenants' lifecycle, then
        # its Notes' ledger, holder by holder, and read in that order the dates ran back and
        # forth.
        for _, facility in groupby(events, key=attrgetter("agreement")):
            for event in sorted(facility, key=attrgetter("date")):
                out.event(event)

    result = runner.execute(
        args.rules,
        args.facts,
        args.db,
        as_of,
        wait=args.wait,
        only=args.facility,
        workers=args.workers,
        partition=args.partition,
        verify_chain=args.verify,
        notifier=notifier,
        progress=out.progress,
        tick=_Bar.shown(out),
        rehearsal=(lambda log: show(log.pending(skip))) if args.dry_run else None,
    )
    for borrower in result.without_rules:
        out.note(
            f"no agreement {args.rules / borrower} for facts {args.facts / borrower}; not read"
        )
    for agreement in result.without_facts:
        out.note(f"no facts folder {args.facts / agreement}; agreement {agreement} not tested")
    for facility, day in result.not_found:
        out.note(
            f"no facts folder {args.facts / facility} for facility {facility}, which the audit "
            f"log holds: not evaluated; its events stand as recorded, the latest as of {day}",
            facility=facility,
            last_recorded_as_of=day,
        )
    stored = sum(result.new.values())
    if not args.dry_run:
        show(audit.written(args.db, result.first_seq, stored, skip))
    already = result.produced - (stored - result.new["restatement"])
    routine = sorted((kind, n) for kind, n in result.new.items() if kind in _ROUTINE)
    counted = "".join(f", {n} {_counted(kind, n)}" for kind, n in routine)
    recorded = "would be recorded" if args.dry_run else "recorded"
    rolled_back = "; nothing was written (--dry-run)" if args.dry_run else ""
    out.summary(
        f"{stored} new event(s) {recorded} in {store.shown(args.db)} as of {as_of}{counted}; "
        f"{already} already in the log{rolled_back}.",
        new=stored,
        already=already,
        as_of=as_of,
        head=result.head,
        **({"dry_run": True} if args.dry_run else {}),
    )
    failed = [d for d in result.deliveries if d.error]
    for delivery in result.deliveries:
        if delivery.error:
            first = f" ({delivery.sent} sent before it)" if delivery.sent else ""
            out.note(
                f"could not notify {delivery.channel} of {delivery.events - delivery.sent} "
                f"event(s){first} after {delivery.attempts} attempt(s): {delivery.error}; they "
                "stay pending and are sent on the next run",
                channel=delivery.channel,
            )
        else:
            out.summary(
                f"notified {delivery.channel} of {delivery.events} event(s)",
                channel=delivery.channel,
            )
    if failed:
        return EXIT_NOT_NOTIFIED
    return EXIT_ATTENTION if any(result.new[kind] for kind in ATTENTION) else EXIT_OK


def _replay(args: argparse.Namespace, out: _Output) -> int:
    if args.as_of is not None:
        out.error("--as-of cannot be given with --known-as-of: a replay is as of its run's date")
        return EXIT_BAD_INPUT
    replayed = runner.replay(
        args.db,
        args.known_as_of,
        args.facility,
        args.partition,
        args.workers,
        _Bar.shown(out),
    )
    known = args.known_as_of.isoformat()
    runs = replayed.runs
    if len(runs) == 1:
        (run,) = runs
        said = f"replayed run {run.run} (recorded {run.recorded_at}, as of {run.as_of}) from its"
    else:
        numbers = ", ".join(str(r.run) for r in runs)
        dates = ", ".join(sorted({r.as_of.isoformat() for r in runs}))
        said = f"replayed runs {numbers}, each the latest by then to read some facility (as of "
        said += f"{dates}), from their"
    out.summary(
        f"{said} stored inputs: {replayed.events} event(s); nothing was written.",
        run=runs[-1].run,
        runs=[r.run for r in runs],
        known_as_of=known,
    )
    if replayed.missing:
        for key in replayed.missing:
            out.note(f"the log as known at {known} does not hold {key} in this version", key=key)
        return EXIT_LOG_BROKEN
    out.summary(f"the log as known at {known} holds every one of them.", known_as_of=known)
    return EXIT_OK


def _log(args: argparse.Namespace, out: _Output) -> int:
    _facilities(args)  # refuses a facility the log does not hold, before anything is printed
    events = audit.stream(
        args.db,
        history=args.all,
        known_as_of=args.known_as_of,
        agreements=args.facility,
        since=args.since,
    )
    write = sys.stdout.write  # not print: a book's log is millions of lines
    kinds, covenants = set(args.event or ()), set(args.covenant or ())
    seen_kinds, seen_covenants = set(), set()
    try:
        for event in events:
            if kinds or covenants:
                if (kinds and event.event not in kinds) or (
                    covenants and event.covenant not in covenants
                ):
                    continue
                seen_kinds.add(event.event)
                seen_covenants.add(event.covenant)
            if args.json:
                write(json.dumps(event.as_json()) + "\n")
            else:
                gone = f"  [superseded by {event.superseded_by}]" if event.superseded_by else ""
                write(f"{event.seq:>6} {report.one_line(event)}{_restates(event)}{gone}\n")
    except BrokenPipeError:  # `log | head`: the reader has all it wants
        _reader_gone()
        return EXIT_OK
    # A kind or covenant misspelt, or none recorded: said, not silent.
    for kind in sorted(kinds - seen_kinds):
        sys.stderr.write(
            f"covenant-monitor: no {kind} event to print (is it spelt as `log --json` names "
            "events?)\n"
        )
    for section in sorted(covenants - seen_covenants):
        sys.stderr.write(
            f"covenant-monitor: no event of covenant {section} to print (is it named as "
            "`log` prints sections, such as 6.21 or SPA 5(a)?)\n"
        )
    return EXIT_OK


def _reader_gone() -> None:
    """As the Python docs advise when the reader of standard output closed it: point stdout
    at devnull so the flush at exit is quiet."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _facilities(args: argparse.Namespace, through: int | None = None) -> dict[str, date]:
    """The facilities `log` and `report` cover (those named, if any), each with the as-of date
    of the latest run that recorded its events (up to seq `through`, if given)."""
    found = dict(audit.facilities(args.db, args.known_as_of, through))
    unknown = sorted(set(args.facility or ()) - set(found))
    if unknown:
        raise InputError(
            [Problem("--facility", f"the audit log has no facility {name!r}") for name in unknown]
        )
    return {f: day for f, day in found.items() if not args.facility or f in args.facility}


@contextmanager
def _replaced(path: Path) -> Iterator[BinaryIO]:
    """A file that takes `path`'s place once written whole: a report that fails part way
    leaves what was there before, not half a report."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as handle:
            yield handle
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextmanager
def _replaced_folder(path: Path) -> Iterator[Path]:
    """A folder that takes `path`'s place (where a link leads, if it is one) once written
    whole; the folder it replaces goes then, and stays if the new one fails part way."""
    target = path.resolve()
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.mkdir()
    try:
        yield partial
        if not target.exists():
            partial.rename(target)
            return
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        target.rename(old)
        try:
            partial.rename(target)
        except BaseException:
            old.rename(target)
            raise
        shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _verify(args: argparse.Namespace, out: _Output) -> int:
    verification = audit.verify(args.db)
    if verification.ok:
        print(f"{store.shown(args.db)}: {verification.message}")
        return EXIT_OK
    print(f"{store.shown(args.db)}: {verification.message}", file=sys.stderr)
    return EXIT_LOG_BROKEN


def _report(args: argparse.Namespace, out: _Output) -> int:
    if args.format == "xlsx" and args.out is None:
        out.error("--format xlsx needs --out FILE")
        return EXIT_BAD_INPUT
    if args.out is not None and args.out.folder and args.format != "html":
        out.error(f"--out {args.out.path}/ writes a folder of pages, which needs --format html")
        return EXIT_BAD_INPUT
    through = audit.last_seq(args.db)  # the log as it stands now: a run may record meanwhile
    covered = _facilities(args, through)
    day = args.as_of or max(covered.values(), default=None)
    then = args.compare_to
    if isinstance(then, relativedelta):
        try:
            then = day - then if day else None
        except (ValueError, OverflowError):  # before the year 1
            out.error(f"--compare-to reaches back before the year 1 from {day}")
            return EXIT_BAD_INPUT
    if then is not None and day is not None and then >= day:
        out.error(f"--compare-to {then} is not before the report's date, {day}")
        return EXIT_BAD_INPUT
    detail = args.detail or ("attention" if len(covered) > 1 else "all")
    # Not when the report itself is written to the terminal.
    tick = _Bar.shown(out) if args.out is not None or not sys.stdout.isatty() else None

    def views(names: list[str]) -> Iterator[tuple[str, list[audit.StoredEvent]]]:
        return audit.read_by_facility(args.db, names, args.known_as_of, through)

    with report.Shelf() as shelf:
        model = report.build_by_facility(
            list(covered),
            views,
            max(covered.values(), default=None),
            args.as_of,
            args.thin_headroom,
            detail,
            shelf,
            args.workers,
            (lambda done, total: tick("reading the log", done, total)) if tick else None,
            then,
        )
        if args.out is None:
            try:
                report.write(model, args.format, sys.stdout.buffer, args.workers, tick)
            except BrokenPipeError:  # `report | head`
                _reader_gone()
            return EXIT_OK
        if args.out.folder:
            with _replaced_folder(args.out.path) as folder:
                report.write_pages(model, folder, args.workers, tick)
            written = args.out.path / report.INDEX
        else:
            with _replaced(args.out.path) as file:
                report.write(model, args.format, file, args.workers, tick)
            written = args.out.path
    print(f"report written to {written}", file=sys.stderr)
    one_page = args.format == "html" and not args.out.folder
    if one_page and (size := written.stat().st_size) > LARGE_PAGE:
        path = args.out.path
        folder = path.with_suffix("") if path.suffix else path.with_name(f"{path.name}-pages")
        print(
            f"it is a page of {size / 2**20:,.0f} MB, slow for a browser to open: "
            f"--out {folder}/ writes a folder with a page for each facility",
            file=sys.stderr,
        )
    return EXIT_OK


# Headless Chromium took 17 s to show a page of 19 MB (70 facilities detailed), 189 s one of
# 76 MB (275); a facility's own page is at most some hundreds of KB.
LARGE_PAGE = 20 * 2**20


_COMMANDS = {"run": _run, "log": _log, "verify": _verify, "report": _report}
