"""Load what the controller feeds (`facts/<borrower>/`), from CSV or Excel, into typed facts.

Every cell of every table is checked before anything is returned; all problems are raised
together as one InputError, each naming the file, the row and the column.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import partial
from json.encoder import encode_basestring
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import IO, Any

from .cached import ByIdentity, cached_property
from .errors import InputError, Problem
from .portfolio import FACILITY_FILE
from .rules import Agreement, Figure, InterestTerms, TestKind
from .schema import TABLES, FactEvent, Kind, Table
from .values import FiscalQuarter, parse_date, parse_decimal, plain_numbers

# A quarter-end row's fiscal quarter may end this far from the calendar quarter end the covenant
# tables name (a 52/53-week year ends within a week of December 31).
_FISCAL_SLACK_DAYS = 14


@dataclass(frozen=True)
class Origin:
    """Where a fact came from, so that every audit event can point back to its row."""

    file: str
    row: int

    def __str__(self) -> str:
        return f"{self.file} row {self.row}"

    @cached_property
    def parted(self) -> tuple[str, str]:
        """Its `str` in two parts, the second as a JSON string: the folder its file is in (with
        the separator after it), and the rest. Made once, since each covenant tested on its row
        says it: a tests row names the folder once for all its tests (audit.tests_text)."""
        folder, separator, rest = str(self).rpartition("/")
        return folder + separator, encode_basestring(rest)

    @property
    def cited(self) -> str:
        """The row named within the borrower's folder, for text that is part of what an event
        says (and so of its version): it must not change when the folder is read elsewhere."""
        return f"{Path(self.file).name} row {self.row}"


@dataclass(frozen=True)
class FinancialRow:
    period_end: date
    fiscal_quarter: FiscalQuarter | None  # set on quarter-end rows only
    amounts: dict[str, Decimal]
    origin: Origin
    note: str | None = None
    nsp_carried_from: date | None = None  # Net Securities Proceeds taken from an earlier row
    # The agreement's sums over fiscal quarters on a quarter-end row, by name: which quarters'
    # amounts each adds up, or why it cannot be made (then it is not among the amounts).
    sums: dict[str, str] | None = None


@dataclass(frozen=True)
class RevolverRow:
    date: date
    amounts: dict[str, Decimal]
    origin: Origin
    note: str | None = None


@dataclass(frozen=True)
class Note:
    holder: str
    initial_capitalized_interest_amount: Decimal
    origin: Origin
    existing_outstanding_principal: Decimal | None = None


@dataclass(frozen=True)
class Election:
    """An election to add Additional Capitalized Interest Amounts on `payment_date`."""

    payment_date: date
    notice_date: date
    origin: Origin
    note: str | None = None


@dataclass(frozen=True)
class ReserveRow:
    date: date
    balance: Decimal
    origin: Origin
    applied: Decimal | None = None
    note: str | None = None


@dataclass(frozen=True)
class Filing:
    document: str
    filed: date
    origin: Origin
    delivered: date | None = None
    note: str | None = None


@dataclass(frozen=True)
class NotePayment:
    date: date
    holder: str
    amount: Decimal
    origin: Origin
    note: str | None = None


@dataclass(frozen=True)
class Blockage:
    """A postponement of payments under Section 10: Default Rate from `start` to `end`
    (excluded); `end` is None while it lasts."""

    start: date
    end: date | None
    origin: Origin


@dataclass(frozen=True)
class PrimeRate:
    date: date
    rate_percent: Decimal
    origin: Origin


@dataclass(frozen=True)
class FactEventRow:
    date: date
    event: FactEvent
    origin: Origin
    covenant: str | None = None
    instrument: str | None = None
    note: str | None = None


# The amounts of the columns an agreement sums that one fiscal quarter reported.
Quarterly = tuple[FiscalQuarter, dict[str, Decimal]]


@dataclass(frozen=True)
class Tail:
    """Where a table tested row by row ends, as far as rows appended to it are concerned: its
    last row's date and, for financials, the last fiscal quarter given (named or worked out
    from a quarter-end row), the latest Net Securities Proceeds reported, with their period
    end, and the last quarters' amounts of the columns the agreement sums over quarters, as
    many as a later quarter's sums reach back to: what later rows carry on from. A run records
    it of each such table it read (the files' rows, whatever the as-of date), so that a later
    one reads only the rows appended since (`load_appended`)."""

    last: date
    quarter: FiscalQuarter | None = None
    nsp: tuple[Decimal, date] | None = None
    window: tuple[Quarterly, ...] = ()

    def recorded(self) -> str:
        """As a run's manifest holds it, one string (a manifest holds one for each table of
        each facility): the last date, then for financials the quarter, and the proceeds and
        their date, "-" where none, separated by spaces ("2007-09-30 2007Q3 0 2007-06-30"),
        then each quarter of the window with its amounts ("2007Q2/ebitda=1250000")."""
        fields = [self.last.isoformat()]
        if self.quarter is not None or self.nsp is not None or self.window:
            fields.append(str(self.quarter) if self.quarter is not None else "-")
        if self.nsp is not None:
            fields += [str(self.nsp[0]), self.nsp[1].isoformat()]
        elif self.window:
            fields += ["-", "-"]
        for quarter, amounts in self.window:
            fields.append("/".join([str(quarter), *(f"{k}={v}" for k, v in amounts.items())]))
        return " ".join(fields)

    @classmethod
    def read(cls, recorded: str) -> Tail:
        fields = recorded.split(" ")
        last, quarter, nsp, nsp_on = [*fields[:4], "-", "-", "-"][:4]
        window = fields[4:]
        return cls(
            date.fromisoformat(last),
            FiscalQuarter.parse(quarter) if quarter != "-" else None,
            (Decimal(nsp), date.fromisoformat(nsp_on)) if nsp != "-" else None,
            tuple(_quarterly(text) for text in window),
        )


def _quarterly(recorded: str) -> Quarterly:
    quarter, *amounts = recorded.split("/")
    return FiscalQuarter.parse(quarter), {
        name: Decimal(value) for name, value in (a.split("=") for a in amounts)
    }


@dataclass(frozen=True)
class Facts:
    borrower: str
    financials: tuple[FinancialRow, ...] = ()
    revolver: tuple[RevolverRow, ...] = ()
    notes: tuple[Note, ...] = ()
    prime_rates: tuple[PrimeRate, ...] = ()
    events: tuple[FactEventRow, ...] = ()
    elections: tuple[Election, ...] = ()
    counsel_reserve: tuple[ReserveRow, ...] = ()
    filings: tuple[Filing, ...] = ()
    given: frozenset[str] = frozenset()  # the tables the folder holds, rows or not
    wells_fargo: tuple[RevolverRow, ...] = ()  # dated amounts, as revolver rows are
    note_payments: tuple[NotePayment, ...] = ()
    tails: dict[str, Tail] = field(default_factory=dict)  # of the tables tested row by row

    def as_of(self, day: date) -> Facts:
        """Only what was dated on or before `day` (the notes themselves are undated terms).
        `next_date_after` must name every date this filters on."""
        if self.next_date_after(day) is None:
            return self  # nothing later: as it is
        return replace(
            self,
            financials=tuple(r for r in self.financials if r.period_end <= day),
            revolver=tuple(r for r in self.revolver if r.date <= day),
            prime_rates=tuple(r for r in self.prime_rates if r.date <= day),
            events=tuple(r for r in self.events if r.date <= day),
            elections=tuple(r for r in self.elections if r.notice_date <= day),
            counsel_reserve=tuple(r for r in self.counsel_reserve if r.date <= day),
            wells_fargo=tuple(r for r in self.wells_fargo if r.date <= day),
            note_payments=tuple(r for r in self.note_payments if r.date <= day),
            filings=tuple(
                replace(r, delivered=r.delivered if r.delivered and r.delivered <= day else None)
                for r in self.filings
                if r.filed <= day
            ),
        )

    def next_date_after(self, day: date) -> date | None:
        """The first date after `day` that `as_of` would let in: what a later as-of date
        adds to these facts begins there."""
        later = [
            when
            for table, dated in _DATED
            for row in getattr(self, table)
            if (when := dated(row)) is not None and when > day
        ]
        return min(later, default=None)

    @property
    def blockages(self) -> tuple[Blockage, ...]:
        """Blockage periods from the start and end rows of events.csv (checked to pair)."""
        found: list[Blockage] = []
        for row in self.events:
            if row.event is FactEvent.BLOCKAGE_START:
                found.append(Blockage(row.date, None, row.origin))
            elif row.event is FactEvent.BLOCKAGE_END and found and found[-1].end is None:
                found[-1] = replace(found[-1], end=row.date)
        return tuple(found)


# Each table's dates that `Facts.as_of` filters on, by attribute (a filing's delivery may be
# None): walked table by table, so that the facts of an appended quarter, two or three rows,
# cost no more than their rows.
_DATED: tuple[tuple[str, Callable[[Any], date | None]], ...] = (
    ("financials", attrgetter("period_end")),
    ("revolver", attrgetter("date")),
    ("prime_rates", attrgetter("date")),
    ("events", attrgetter("date")),
    ("elections", attrgetter("notice_date")),
    ("counsel_reserve", attrgetter("date")),
    ("wells_fargo", attrgetter("date")),
    ("note_payments", attrgetter("date")),
    ("filings", attrgetter("filed")),
    ("filings", attrgetter("delivered")),
)


def load_facts(
    folder: Path, agreement: Agreement, read: Mapping[str, bytes] | None = None
) -> Facts:
    """Read every table in `folder`; names of covenants and instruments are checked against
    the agreement the facts are for. `read`: the folder's files as a run read them (by name
    under the folder), which are then the ones loaded, not read again: what a run evaluates
    is what it records having read, even if a file is saved again while it runs."""
    problems: list[Problem] = []
    sources = _find_sources(folder, problems, read)
    tables: dict[str, list[tuple[Origin, dict[str, object]]]] = {}
    for name, source in sources.items():
        tables[name] = _parse(source, _table(name, agreement), problems)
    notes = _notes(tables.get("notes", []), problems)
    financials, tail = _financials(tables.get("financials", []), agreement, problems)
    revolver = _revolver(tables.get("revolver", []), problems)
    wells_fargo = _dated_amounts(tables.get("wells_fargo", []), "wells_fargo", problems)
    facts = Facts(
        borrower=folder.name,
        financials=financials,
        revolver=revolver,
        notes=notes,
        prime_rates=_prime_rates(tables.get("prime_rate", []), problems),
        events=_events(tables.get("events", []), agreement, problems),
        elections=_elections(tables.get("pik_elections", []), agreement, problems),
        counsel_reserve=_counsel_reserve(tables.get("counsel_reserve", []), problems),
        filings=_filings(tables.get("filings", []), problems),
        given=frozenset(sources),
        wells_fargo=wells_fargo,
        note_payments=_note_payments(tables.get("note_payments", []), notes, problems),
        tails=_tails(tail, revolver, wells_fargo),
    )
    _check_chronology(facts, agreement.dated, problems)
    if problems:
        raise InputError(problems)
    return facts


# Tables whose rows are each tested on their own: a row appended to one is evaluated alone.
APPENDABLE = ("financials", "revolver", "wells_fargo")


def load_appended(
    folder: Path,
    agreement: Agreement,
    tables: dict[str, tuple[bytes, int]],
    after: dict[str, Tail],
) -> Facts | None:
    """The rows appended to these tables (CSV content, and the offset where the part an earlier
    run read ends), checked as a whole load would check them, or None when they cannot be read
    alone (then the whole folder is loaded, and any problem reported there).

    The earlier part was loaded whole before, so it is valid: its rows are in date order, with
    unique dates and quarters, and cumulative Net Securities Proceeds. What new rows are checked
    against and carry on from is its `Tail` (`after`, by table), which that run recorded: they
    must come later, and their quarter may not be the last one given (a quarter's end is within
    two weeks of its nominal end, so it can only repeat the last). The new rows are read
    without the earlier lines, numbered as in the file. The facts hold the new rows, and the
    tails of these tables with them."""
    problems: list[Problem] = []
    loaded: dict[str, list] = {}
    for table, (data, start) in tables.items():
        text = _appended_text(data, start) if table in APPENDABLE else None
        if text is None or (table not in after and data[:start].strip().count(b"\n")):
            return None  # no tail: the earlier part must hold no rows
        source = _Source(folder / f"{table}.csv", data=text[0], skipped=text[1])
        loaded[table] = _parse(source, _table(table, agreement), problems)
    financials, tail = _financials(
        loaded.get("financials", []), agreement, problems, after.get("financials")
    )
    revolver = _revolver(loaded.get("revolver", []), problems)
    wells_fargo = _dated_amounts(loaded.get("wells_fargo", []), "wells_fargo", problems)
    facts = Facts(
        folder.name,
        financials=financials,
        revolver=revolver,
        wells_fargo=wells_fargo,
        given=frozenset(tables),
        tails=_tails(tail, revolver, wells_fargo, after),
    )
    _check_chronology(facts, agreement.dated, problems)
    if problems or not _follow(facts, after):
        return None
    return facts


def _appended_text(data: bytes, start: int) -> tuple[bytes, int] | None:
    """`data` without the lines between the header and `start`, and how many those are. None
    where lines may not be rows: a lone CR ends one, and a quoted field that spans lines leaves
    an odd number of quotes on the line it opens (an escaped quote is two)."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):  # counted if any
        return None
    if b'"' in data and any(line.count(b'"') % 2 for line in data.split(b"\n")):
        return None
    header_end = data.find(b"\n") + 1
    if not 0 < header_end <= start < len(data) or data[start - 1 : start] != b"\n":
        return None
    if not data[:header_end].strip():
        return None  # the header is further down
    return data[:header_end] + data[start:], data.count(b"\n", header_end, start)


def _tails(
    financials: Tail | None,
    revolver: tuple[RevolverRow, ...],
    wells_fargo: tuple[RevolverRow, ...],
    after: dict[str, Tail] | None = None,
) -> dict[str, Tail]:
    """The tails of the tables tested row by row that have rows (in date order), those
    `after` for the tables that have no new ones."""
    after = after or {}
    found = {
        "financials": financials,
        "revolver": Tail(revolver[-1].date) if revolver else after.get("revolver"),
        "wells_fargo": Tail(wells_fargo[-1].date) if wells_fargo else after.get("wells_fargo"),
    }
    return {table: tail for table, tail in found.items() if tail is not None}


def _follow(facts: Facts, after: dict[str, Tail]) -> bool:
    """Whether new rows come after the earlier ones (`after`): each dated later (so also in
    order, and on a date of its own), and none of the last quarter given."""
    dated = {
        "financials": [r.period_end for r in facts.financials],
        "revolver": [r.date for r in facts.revolver],
        "wells_fargo": [r.date for r in facts.wells_fargo],
    }
    if any(day <= after[t].last for t, days in dated.items() if t in after for day in days):
        return False
    quarter = after["financials"].quarter if "financials" in after else None
    return quarter is None or all(r.fiscal_quarter != quarter for r in facts.financials)


def _check_chronology(facts: Facts, dated: date, problems: list[Problem]) -> None:
    """Rows in date order as the file gives them, and none about the borrower before the
    agreement existed (prime rates may be older: a rate in effect when it was signed)."""
    for table, column, about_the_borrower in _CHRONOLOGY:
        rows = getattr(facts, table)
        if not rows:
            continue  # most tables of an appended quarter's facts
        previous: tuple[date, int] | None = None
        for row in sorted(rows, key=_in_file):
            day, origin = getattr(row, column), row.origin
            if about_the_borrower and day < dated:
                problems.append(
                    Problem(
                        origin.file,
                        f"{day} is before the agreement is dated ({dated})",
                        origin.row,
                        column,
                    )
                )
            if previous is not None and day < previous[0]:
                problems.append(
                    Problem(
                        origin.file,
                        f"{day} comes after {previous[0]} (row {previous[1]}); rows must be in "
                        "date order",
                        origin.row,
                        column,
                    )
                )
            previous = (day, origin.row)


# The tables whose rows must be in date order (`_check_chronology`), by attribute: their date
# column, and whether their rows are about the borrower.
_CHRONOLOGY = (
    ("financials", "period_end", True),
    ("revolver", "date", True),
    ("events", "date", True),
    ("prime_rates", "date", False),
    ("elections", "payment_date", True),
    ("counsel_reserve", "date", True),
    ("filings", "filed", True),
    ("wells_fargo", "date", True),
    ("note_payments", "date", True),
)


def _in_file(row: Any) -> int:
    return row.origin.row


@dataclass(frozen=True)
class _Source:
    path: Path
    sheet: str | None = None  # for a workbook
    data: bytes | None = None  # the file's content, when already read
    skipped: int = 0  # lines after a CSV file's header left out of `data` (rows read before)

    @property
    def label(self) -> str:
        return f"{self.path} [sheet {self.sheet}]" if self.sheet else str(self.path)


def _find_sources(
    folder: Path, problems: list[Problem], read: Mapping[str, bytes] | None = None
) -> dict[str, _Source]:
    found: dict[str, list[_Source]] = {}
    if read is None:
        files = [(p, None) for p in sorted(folder.iterdir()) if not p.is_dir()]
    else:  # the files directly in the folder, as read (names in subfolders hold a slash)
        files = [(folder / name, read[name]) for name in sorted(read) if "/" not in name]
    for path, data in files:
        if path.name.startswith((".", "~$")) or path.name == FACILITY_FILE:
            continue
        suffix = path.suffix.lower()
        if suffix == ".csv":
            if path.stem in TABLES:
                found.setdefault(path.stem, []).append(_Source(path, data=data))
            else:
                problems.append(Problem(str(path), f"unknown facts file; expected {_expected()}"))
        elif suffix == ".xlsx":
            _workbook_sources(path, found, problems, data)
        elif suffix not in (".md", ".txt"):
            problems.append(Problem(str(path), "unknown file; facts are .csv or .xlsx"))
    sources = {}
    for name, candidates in found.items():
        if len(candidates) > 1:
            places = ", ".join(c.label for c in candidates)
            problems.append(Problem(str(folder), f"table {name} is given more than once: {places}"))
        else:
            sources[name] = candidates[0]
    return sources


def _opened(path: Path, data: bytes | None) -> IO[bytes]:
    """A file's content as read already, or the file."""
    return path.open("rb") if data is None else io.BytesIO(data)


def _workbook(handle: IO[bytes], **options: bool) -> Any:
    """openpyxl's workbook; imported only for a folder that has one (a fifth of a second
    that a portfolio of CSV files would spend at every run's start)."""
    import openpyxl

    return openpyxl.load_workbook(handle, **options)


def _workbook_sources(
    path: Path, found: dict[str, list[_Source]], problems: list[Problem], data: bytes | None
):
    try:
        # Our own handle, closed here: openpyxl's zip file may outlive close() and then be
        # collected (with a ResourceWarning) whenever the garbage collector runs.
        with _opened(path, data) as handle:
            workbook = _workbook(handle, read_only=True)
            sheets = list(workbook.sheetnames)
            workbook.close()
    except Exception as error:  # openpyxl raises many types for a broken file
        problems.append(Problem(str(path), f"cannot read workbook: {error}"))
        return
    tables_here = [s for s in sheets if s in TABLES]
    if path.stem in TABLES and path.stem not in tables_here:
        found.setdefault(path.stem, []).append(_Source(path, sheets[0], data))
    for sheet in tables_here:
        found.setdefault(sheet, []).append(_Source(path, sheet, data))
    if path.stem not in TABLES and not tables_here:
        problems.append(
            Problem(str(path), f"no sheet is named after a facts table ({', '.join(TABLES)})")
        )


def _expected() -> str:
    return ", ".join(f"{name}.csv" for name in TABLES)


class _CellProblem:
    """A spreadsheet cell that holds no plain value (a formula, a merged range): reported with
    its row and column once the header names the column."""

    def __init__(self, message: str):
        self.message = message


def _rows(source: _Source, problems: list[Problem]) -> list[tuple[int, list[object]]]:
    """(row number as the user sees it, cells); blank rows are skipped."""
    if source.sheet is None:
        return _csv_rows(source.path, problems, source.data, source.skipped)
    try:
        with _opened(source.path, source.data) as handle:  # closed even when openpyxl fails
            workbook = _workbook(handle, data_only=False)
    except Exception as error:  # openpyxl raises many types for a broken file
        problems.append(Problem(source.label, f"cannot read workbook: {error}"))
        return []
    try:
        sheet = workbook[source.sheet]
        cells = [list(row) for row in sheet.iter_rows()]
        values = [[cell.value for cell in row] for row in cells]
        for row in cells:
            for cell in row:
                if cell.data_type == "f":
                    values[cell.row - 1][cell.column - 1] = _CellProblem(
                        f"holds a formula ({cell.value}); enter its value instead"
                    )
        for merged in sheet.merged_cells.ranges:
            values[merged.min_row - 1][merged.min_col - 1] = _CellProblem(
                f"cells {merged.coord} are merged; unmerge them and give each row its own value"
            )
    finally:
        workbook.close()
    return [
        (number, row)
        for number, row in enumerate(values, 1)
        if any(c is not None and str(c).strip() for c in row)
    ]


def _csv_rows(
    path: Path, problems: list[Problem], data: bytes | None = None, skipped: int = 0
) -> list[tuple[int, list[object]]]:
    """(line number in the file, cells) of each row that is not blank; `skipped` lines after
    the header are not in `data`."""
    data = path.read_bytes() if data is None else data
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        problems.append(Problem(str(path), "is UTF-16 text; save it as CSV UTF-8", row=1))
        return []
    text = data.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text and "\ufffd".encode() not in data:
        _report_encoding(path, text, problems)
        return []
    reader = csv.reader(io.StringIO(text, newline=""))

    def in_file(line: int) -> int:
        return line + skipped if line > 1 else line  # the header is line 1 in both

    rows = []
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):  # a blank line gives no cells
                rows.append((in_file(reader.line_num), list(cells)))
    except csv.Error as error:
        line = in_file(reader.line_num + 1)
        problems.append(Problem(str(path), f"cannot read the CSV: {error}", row=line))
        return []
    if "\0" in text:
        _report_nul(path, text, rows, problems)
        return []
    return rows


def _report_encoding(path: Path, text: str, problems: list[Problem]) -> None:
    """Every line with bytes that are not UTF-8, with the column they fall in."""
    lines = text.splitlines()
    header = next(csv.reader([lines[0]])) if lines else []
    for number, line in enumerate(lines, 1):
        if "\ufffd" not in line:
            continue
        cells = next(csv.reader([line]), [])
        position = next((i for i, c in enumerate(cells) if "\ufffd" in c), 0)
        column = _column(header, number, position)
        problems.append(
            Problem(
                str(path),
                "not UTF-8 text (Windows-1252 or Latin-1?); save the file as CSV UTF-8",
                row=number,
                column=column,
            )
        )


def _report_nul(
    path: Path, text: str, rows: list[tuple[int, list[str]]], problems: list[Problem]
) -> None:
    """Every cell holding a NUL character, which no program writes in CSV text: the file is
    UTF-16 without its byte-order mark (every other byte NUL) or damaged. Let in, it would
    reach the reports, and PostgreSQL cannot store it."""
    if text.count("\0") * 3 >= len(text):
        problems.append(
            Problem(
                str(path), "is UTF-16 text (without a byte-order mark); save it as CSV UTF-8", 1
            )
        )
        return
    header = rows[0][1] if rows and rows[0][0] == 1 else []
    for number, cells in rows:
        for position, cell in enumerate(cells):
            if "\0" in cell:
                problems.append(
                    Problem(
                        str(path),
                        "holds a NUL character (byte 0): the file is damaged; save it again as "
                        "CSV UTF-8",
                        row=number,
                        column=_column(header, number, position),
                    )
                )


def _column(header: list[str], row: int, position: int) -> str:
    """The column of a cell in a file that could not be read as a table: its header's name,
    or its place from 1 on the header row itself or where that name holds a NUL."""
    name = header[position] if row > 1 and position < len(header) else None
    return name if name is not None and "\0" not in name else str(position + 1)


def _parse(
    source: _Source, table: Table, problems: list[Problem]
) -> list[tuple[Origin, dict[str, object]]]:
    """Check the header and every cell's type; return typed rows (blank cells as None)."""
    label = source.label
    found: list[Problem] = []
    rows = iter(_rows(source, found))
    if found:
        problems.extend(found)
        return []
    header_row = next(rows, None)
    if header_row is None:
        problems.append(Problem(label, "file is empty; expected a header row"))
        return []
    header_number, header_cells = header_row
    layout = _columns(table, tuple(header_cells))
    if isinstance(layout, list):
        for message, column in layout:
            problems.append(Problem(label, message, row=header_number, column=column))
        return []
    names, width, plain_amounts = layout.names, len(layout.names), layout.plain_amounts
    csv_text = source.sheet is None  # every cell a str; a workbook's may be numbers or None
    readers = layout.csv_readers if csv_text else layout.cell_readers
    typed = []
    for number, cells in rows:
        amounts = plain_amounts(cells) if csv_text and len(cells) == width else None
        if amounts is not None:  # most rows: their amounts typed at once, the rest one by one
            record = dict.fromkeys(names)  # in the header's order, as below
            record.update(zip(layout.amount_names, map(Decimal, amounts), strict=True))
            rest = [(p, cells[p]) for p in layout.others if cells[p].strip()]  # blank: None
        else:
            record, rest = {}, enumerate(cells)
        for position, cell in rest:
            if position >= width:
                if cell is not None and str(cell).strip():
                    problems.append(
                        Problem(
                            label,
                            "value in a column with no header",
                            row=number,
                            column=str(position + 1),
                        )
                    )
                continue
            name = names[position]
            try:
                record[name] = readers[position](cell)
            except ValueError as error:
                problems.append(Problem(label, str(error), row=number, column=name))
                record[name] = _INVALID
        typed.append((Origin(label, number), record))
    return typed


_Wrong = list[tuple[str, str]]  # what is wrong with a header: each problem's message, column


class _Layout:
    """A valid header's columns, each with its kind, and what types a row of them fast: a
    portfolio's millions of cells are mostly amounts written as plain numbers."""

    def __init__(self, columns: tuple[tuple[str, Kind], ...]):
        self.names = [name for name, _ in columns]
        amounts = [i for i, (_, kind) in enumerate(columns) if kind is Kind.AMOUNT]
        self.amount_names = [columns[i][0] for i in amounts]
        self.others = [i for i in range(len(columns)) if i not in amounts]
        # itemgetter gives a tuple of two or more; a table of one amount is typed cell by cell
        self._amounts = itemgetter(*amounts) if len(amounts) > 1 else None
        self._commas = len(amounts) - 1
        # Each cell's reader: a workbook's is `_cell` of its kind; a CSV file's text has its
        # own, without the checks for numbers and dates (a date 141 ns, not 347 ns).
        self.cell_readers = [partial(_cell, kind=kind) for _, kind in columns]
        self.csv_readers = [_CSV_READERS[kind] for _, kind in columns]

    def plain_amounts(self, cells: list[str]) -> tuple[str, ...] | None:
        """A CSV row's amount cells if every one is a plain number (`Decimal` reads it as it
        is), else None: the row is typed cell by cell. Checked in one match of the cells
        joined by commas (a comma within a cell makes one too many)."""
        if self._amounts is None:
            return None
        amounts = self._amounts(cells)
        joined = ",".join(amounts)
        if plain_numbers(joined) and joined.count(",") == self._commas:
            return amounts
        return None


def _checked_columns(table: Table, cells: tuple[object, ...]) -> _Layout | _Wrong:
    """A header row's layout, or what is wrong with it."""
    names = [str(c).strip() if c is not None else "" for c in cells]
    while names and not names[-1]:
        names.pop()
    header = tuple(names)
    wrong: _Wrong = []
    for position, name in enumerate(header, 1):
        if name not in table.column_names:
            what = f"unknown column {name!r}" if name else f"column {position} has no name"
            if "\ufeff" in name:
                what += " (a byte-order mark inside the header: two files joined into one?)"
            wrong.append(
                (f"{what}; expected {', '.join(table.column_names)}", name or str(position))
            )
        elif header.index(name) != position - 1:
            wrong.append(("column appears twice", name))
    for column in table.columns:
        if column.required and column.name not in header:
            wrong.append(("required column is missing", column.name))
    return wrong or _Layout(tuple((name, table.column(name).kind) for name in header))


# A header's layout, or what is wrong with it, worked out once for each table and header row
# (its cells as read), which the facilities of a portfolio share.
_columns = ByIdentity(_checked_columns, most=256)


class _Invalid:
    """A cell already reported as bad: later checks must not report it again as blank."""


_INVALID = _Invalid()


def _cell(cell: object, kind: Kind) -> object:
    """A workbook's cell (a CSV file's have readers of their own, `_CSV_READERS`)."""
    if isinstance(cell, _CellProblem):
        raise ValueError(cell.message)
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if kind is Kind.DATE:
        return parse_date(cell)
    if kind in (Kind.AMOUNT, Kind.PERCENT):
        if isinstance(cell, bool):
            raise ValueError(f"{cell!r} is not a number")
        if isinstance(cell, int | float):
            return Decimal(str(cell))
        return parse_decimal(str(cell))
    if kind is Kind.QUARTER:
        return FiscalQuarter.parse(str(cell))
    return str(cell).strip()


def _csv_reader(read: Callable[[str], object]) -> Callable[[str], object]:
    """`_cell` of a CSV file's cell (always text) for a kind that `read` reads."""

    def reader(cell: str) -> object:
        return read(cell) if cell.strip() else None

    return reader


_CSV_READERS = {
    Kind.AMOUNT: _csv_reader(parse_decimal),
    Kind.PERCENT: _csv_reader(parse_decimal),
    Kind.DATE: _csv_reader(parse_date),
    Kind.QUARTER: _csv_reader(FiscalQuarter.parse),
    Kind.TEXT: _csv_reader(str.strip),
}


class _RowCheck:
    """Checks on one typed row that report with the row's file, number and column."""

    def __init__(self, origin: Origin, record: dict[str, object], problems: list[Problem]):
        self.origin, self.record, self.problems = origin, record, problems

    def problem(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.origin.file, message, row=self.origin.row, column=column))

    def get(self, column: str) -> object:
        value = self.record.get(column)
        return None if value is _INVALID else value

    def present(self, column: str) -> bool:
        return self.record.get(column) is not None

    def require(self, column: str, why: str = "required value is blank") -> object:
        if self.record.get(column) is None:
            self.problem(column, why)
        return self.get(column)

    def amounts(self, table: Table) -> dict[str, Decimal]:
        """The row's amounts in `table`'s columns, each that cannot be negative checked."""
        values, record, non_negative = {}, self.record, table.non_negative
        for column in table.amount_columns:
            value = record.get(column)  # a cell reported as bad is no Decimal
            if isinstance(value, Decimal):
                if column in non_negative and value < 0:
                    self.problem(column, f"{value} is negative; this amount cannot be")
                values[column] = value
        return values


def _unique(checks: list[tuple[_RowCheck, object]], column: str, what: str) -> None:
    first_row: dict[object, int] = {}
    for check, key in checks:
        if key is None:
            continue
        if key in first_row:
            check.problem(column, f"duplicate {what} {key} (also row {first_row[key]})")
        else:
            first_row[key] = check.origin.row


def _table(name: str, agreement: Agreement) -> Table:
    """A facts table's columns, financials.csv's as the agreement declares them."""
    return agreement.financials if name == "financials" else TABLES[name]


def _financials(
    rows, agreement: Agreement, problems: list[Problem], after: Tail | None = None
) -> tuple[tuple[FinancialRow, ...], Tail | None]:
    """The rows in date order, each with the agreement's sums over quarters, and the table's
    tail; `after`: the tail of earlier rows (not among these) that these carry on from."""
    table = agreement.financials
    quarter_end_columns, interim_columns = table.quarter_end_columns, table.interim_columns
    checked = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        period_end = check.require("period_end")
        quarter_end = check.present("fiscal_quarter") or any(
            check.present(f) for f in quarter_end_columns
        )
        quarter = None
        if quarter_end:
            quarter = check.get("fiscal_quarter")
            if (
                quarter is None
                and isinstance(period_end, date)
                and not check.present("fiscal_quarter")
            ):
                quarter = FiscalQuarter.of(period_end)
            if isinstance(quarter, FiscalQuarter) and isinstance(period_end, date):
                gap = abs((period_end - quarter.nominal_end).days)
                if gap > _FISCAL_SLACK_DAYS:
                    check.problem(
                        "fiscal_quarter",
                        f"{quarter} ends near {quarter.nominal_end}, but period_end is "
                        f"{period_end} ({gap} days away)",
                    )
        if not quarter_end and not any(check.present(f) for f in interim_columns):
            # An interim balance sheet: it reports a figure tested at any time (the net worth
            # Section 6.21 tests, or one the agreement declares).
            check.problem(
                interim_columns[0],
                "blank on a row with no quarterly figures"
                + (f" (it reports {' or '.join(interim_columns)})" if interim_columns[1:] else ""),
            )
        amounts = check.amounts(table)
        if quarter_end:
            amounts.setdefault("gain_on_sale_pcs", Decimal(0))
        checked.append((check, period_end, quarter, amounts))
    _unique([(c, p) for c, p, _, _ in checked], "period_end", "period_end")
    _unique([(c, q) for c, _, q, _ in checked], "fiscal_quarter", "fiscal quarter")
    result = []
    latest_nsp: tuple[Decimal, date | None] = (
        after.nsp if after is not None and after.nsp is not None else (Decimal(0), None)
    )
    ordered = sorted(
        (item for item in checked if isinstance(item[1], date)), key=lambda item: item[1]
    )
    quarters = _Quarters(agreement.sums, after.window if after is not None else ())
    for check, period_end, quarter, amounts in ordered:
        carried_from = None
        nsp = amounts.get("net_securities_proceeds")
        if nsp is None:
            amounts["net_securities_proceeds"], carried_from = latest_nsp
        elif nsp < latest_nsp[0]:
            check.problem(
                "net_securities_proceeds",
                f"{nsp} is less than the {latest_nsp[0]} reported on {latest_nsp[1]}; "
                "Net Securities Proceeds are cumulative",
            )
        else:
            latest_nsp = (nsp, period_end)
        note = check.get("note")
        sums = quarters.add(quarter, amounts) if quarters and quarter is not None else None
        result.append(
            FinancialRow(period_end, quarter, amounts, check.origin, note, carried_from, sums)
        )
    if not result:
        return (), after
    given = [r.fiscal_quarter for r in result if r.fiscal_quarter is not None]
    nsp, reported_on = latest_nsp
    return tuple(result), Tail(
        result[-1].period_end,
        given[-1] if given else (after.quarter if after else None),
        (nsp, reported_on) if reported_on is not None else None,
        quarters.window(),
    )


class _Quarters:
    """An agreement's sums over fiscal quarters (EBITDA for the four quarters then ended) and
    averages (Total Debt at their ends), made row by row from the quarter-end rows in date
    order and the quarters before them (an earlier run's tail). Each needs all its quarters'
    amounts: a quarter missing, or a blank cell, and it is not made, and says why."""

    def __init__(self, sums: tuple[Figure, ...], window: tuple[Quarterly, ...]):
        self.sums = sums
        self.columns = tuple(dict.fromkeys(f.sum_of for f in sums if f.sum_of is not None))
        self.reach = max((f.quarters for f in sums), default=1) - 1  # quarters before one
        self.reported: dict[FiscalQuarter, dict[str, Decimal]] = dict(window)

    def __bool__(self) -> bool:
        return bool(self.sums)

    def add(self, quarter: FiscalQuarter, amounts: dict[str, Decimal]) -> dict[str, str]:
        """Add the sums ending with `quarter` to its row's `amounts`; what each adds up, or
        why it cannot be made, by name."""
        self.reported[quarter] = {c: amounts[c] for c in self.columns if c in amounts}
        return {figure.name: self._sum(figure, quarter, amounts) for figure in self.sums}

    def _sum(self, figure: Figure, quarter: FiscalQuarter, amounts: dict[str, Decimal]) -> str:
        """One sum (or average) ending with `quarter`, added to `amounts`: how it was worked
        out, or why it could not be."""
        column, first = figure.sum_of, figure.annualized_from
        assert column is not None
        if first is not None and quarter < first:
            return f"{figure.name}: not measured before {first}, the first fiscal quarter it counts"
        span = [quarter]
        while len(span) < figure.quarters and span[-1] != first:
            span.append(span[-1].previous())
        span.reverse()
        if lacking := [str(q) for q in span if column not in self.reported.get(q, {})]:
            over = (
                f"{column} over the {len(span)} fiscal quarters {span[0]} to {quarter}"
                if span[1:]
                else f"{column} of the fiscal quarter {quarter}"
            )
            return f"{figure.name}, {over}: not reported for {', '.join(lacking)}"
        parts = [self.reported[q][column] for q in span]
        total = sum(parts, Decimal(0))
        added = f"{column} of " + " + ".join(
            f"{q} ({amount})" for q, amount in zip(span, parts, strict=True)
        )
        if figure.average:
            amounts[figure.name] = total / figure.quarters
            return f"{figure.name} = ({added}) / {figure.quarters}"
        if len(span) == figure.quarters:
            amounts[figure.name] = total
            return f"{figure.name} = {added}"
        # Times the quarters before dividing: exact whenever the quotient is.
        amounts[figure.name] = total * figure.quarters / len(span)
        if span[1:]:
            added = f"({added}) x {figure.quarters} / {len(span)}"
        else:
            added += f" x {figure.quarters}"
        return (
            f"{figure.name} = {added}, annualized from {first}, the first fiscal quarter it counts"
        )

    def window(self) -> tuple[Quarterly, ...]:
        """The last quarters a later quarter's sums reach back to, as a tail records them."""
        if not self.sums:
            return ()
        latest = sorted(self.reported)[-self.reach :]
        return tuple((q, self.reported[q]) for q in latest)


def _revolver(rows, problems: list[Problem]) -> tuple[RevolverRow, ...]:
    return _dated_amounts(rows, "revolver", problems)


def _dated_amounts(rows, table: str, problems: list[Problem]) -> tuple[RevolverRow, ...]:
    """A table of amounts by date, every amount required."""
    columns = sorted(TABLES[table].amount_fields)
    checked = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        day = check.require("date")
        for column in columns:
            check.require(column)
        amounts = check.amounts(TABLES[table])
        checked.append((check, day, amounts))
    _unique([(c, d) for c, d, _ in checked], "date", "date")
    return tuple(
        sorted(
            (
                RevolverRow(d, a, c.origin, c.get("note"))
                for c, d, a in checked
                if isinstance(d, date)
            ),
            key=lambda r: r.date,
        )
    )


def _notes(rows, problems: list[Problem]) -> tuple[Note, ...]:
    checked = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        holder = check.require("holder")
        check.require("initial_capitalized_interest_amount")
        amounts = check.amounts(TABLES["notes"])
        checked.append((check, holder, amounts))
    _unique([(c, h) for c, h, _ in checked], "holder", "holder")
    return tuple(
        Note(
            h,
            a["initial_capitalized_interest_amount"],
            c.origin,
            a.get("existing_outstanding_principal"),
        )
        for c, h, a in checked
        if isinstance(h, str) and "initial_capitalized_interest_amount" in a
    )


def _note_payments(rows, notes: tuple[Note, ...], problems: list[Problem]):
    holders = {n.holder for n in notes}
    found = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        day, holder = check.require("date"), check.require("holder")
        check.require("amount")
        amount = check.amounts(TABLES["note_payments"]).get("amount")
        if isinstance(holder, str) and holder not in holders:
            check.problem("holder", f"{holder!r} holds no Note in notes.csv")
        if amount == 0:  # a negative amount is already refused as negative
            check.problem("amount", "0 is not a payment; amounts must be positive")
        if isinstance(day, date) and isinstance(holder, str) and amount is not None:
            found.append(NotePayment(day, holder, amount, origin, check.get("note")))
    return tuple(found)


def _counsel_reserve(rows, problems: list[Problem]) -> tuple[ReserveRow, ...]:
    checked = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        day = check.require("date")
        check.require("balance")
        amounts = check.amounts(TABLES["counsel_reserve"])
        checked.append((check, day, amounts))
    _unique([(c, d) for c, d, _ in checked], "date", "date")
    return tuple(
        ReserveRow(d, a["balance"], c.origin, a.get("applied"), c.get("note"))
        for c, d, a in checked
        if isinstance(d, date) and "balance" in a
    )


def _filings(rows, problems: list[Problem]) -> tuple[Filing, ...]:
    checked = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        document, filed = check.require("document"), check.require("filed")
        delivered = check.get("delivered")
        if isinstance(filed, date) and isinstance(delivered, date) and delivered < filed:
            check.problem("delivered", f"{delivered} is before the filing date {filed}")
        checked.append((check, document, filed, delivered))
    _unique([(c, d) for c, d, _, _ in checked], "document", "document")
    return tuple(
        Filing(d, f, c.origin, v if isinstance(v, date) else None, c.get("note"))
        for c, d, f, v in checked
        if isinstance(d, str) and isinstance(f, date)
    )


def _nearest_dates(terms: InterestTerms, day: date) -> str:
    """Where the interest payment dates on which an election may be made run, and the nearest
    ones to `day`, which an election for it most likely meant."""
    dates = [d for d in terms.payment_dates if d >= terms.additional_from]
    if not dates:
        return f"there are none from {terms.additional_from} to maturity on {terms.maturity}"
    before = [d for d in dates if d < day][-1:]
    after = [d for d in dates if d > day][:1]
    nearest = " and ".join(d.isoformat() for d in [*before, *after])
    verb = "are" if len(before) + len(after) == 2 else "is"
    return f"they run from {dates[0]} to maturity on {terms.maturity}; the nearest {verb} {nearest}"


def _elections(rows, agreement: Agreement, problems: list[Problem]) -> tuple[Election, ...]:
    terms = agreement.interest
    checked = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        payment, notice = check.require("payment_date"), check.require("notice_date")
        if isinstance(payment, date) and terms is None:
            check.problem("payment_date", "the agreement declares no interest terms ([interest])")
        elif isinstance(payment, date) and (
            payment not in terms.payment_dates or payment < terms.additional_from
        ):
            check.problem(
                "payment_date",
                f"{payment} is not an interest payment date on which Additional Capitalized "
                f"Interest Amounts may be added ({_nearest_dates(terms, payment)}; "
                f"{Path(terms.file).name})",
            )
        if isinstance(payment, date) and isinstance(notice, date) and notice > payment:
            check.problem("notice_date", f"{notice} is after the payment date {payment}")
        checked.append((check, payment, notice))
    _unique([(c, p) for c, p, _ in checked], "payment_date", "payment_date")
    return tuple(
        Election(p, n, c.origin, c.get("note"))
        for c, p, n in checked
        if isinstance(p, date) and isinstance(n, date)
    )


def _prime_rates(rows, problems: list[Problem]) -> tuple[PrimeRate, ...]:
    checked = []
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        day = check.require("date")
        rate = check.require("rate_percent")
        if isinstance(rate, Decimal) and not Decimal(0) <= rate < Decimal(100):
            check.problem("rate_percent", f"{rate} is not a percentage between 0 and 100")
        checked.append((check, day, rate))
    _unique([(c, d) for c, d, _ in checked], "date", "date")
    return tuple(
        sorted(
            (
                PrimeRate(d, r, c.origin)
                for c, d, r in checked
                if isinstance(d, date) and isinstance(r, Decimal)
            ),
            key=lambda r: r.date,
        )
    )


def _events(rows, agreement: Agreement, problems: list[Problem]) -> tuple[FactEventRow, ...]:
    result, seen = [], {}
    known_events = ", ".join(e.value for e in FactEvent)
    for origin, record in rows:
        check = _RowCheck(origin, record, problems)
        day = check.require("date")
        name = check.require("event")
        covenant, instrument = check.get("covenant"), check.get("instrument")
        try:
            event = FactEvent(name) if isinstance(name, str) else None
        except ValueError:
            check.problem("event", f"unknown event {name!r}; expected one of {known_events}")
            event = None
        if event is FactEvent.REPORTED_BREACH:
            _check_reported_covenant(check, covenant, agreement)
        elif covenant is not None and event is not None:
            check.problem("covenant", f"only {FactEvent.REPORTED_BREACH} names a covenant")
        if event is FactEvent.CONDITIONS_SATISFIED:
            _check_instrument(check, instrument, agreement)
        elif instrument is not None and event is not None:
            check.problem(
                "instrument", f"only {FactEvent.CONDITIONS_SATISFIED} names an instrument"
            )
        if event is None or not isinstance(day, date):
            continue
        key = (day, event, covenant, instrument)
        if key in seen:
            check.problem("event", f"the same event is recorded twice (also row {seen[key]})")
            continue
        seen[key] = origin.row
        result.append(FactEventRow(day, event, origin, covenant, instrument, check.get("note")))
    _check_blockages(result, problems)
    return tuple(sorted(result, key=lambda e: e.date))


def _check_blockages(rows: list[FactEventRow], problems: list[Problem]) -> None:
    """Each blockage_end closes the blockage_start before it; a start may stay open."""
    open_start: FactEventRow | None = None
    for row in sorted(rows, key=lambda r: (r.date, r.origin.row)):
        if row.event is FactEvent.BLOCKAGE_START:
            if open_start is not None:
                problems.append(
                    Problem(
                        row.origin.file,
                        f"a blockage starts while the one started {open_start.date} (row "
                        f"{open_start.origin.row}) has not ended",
                        row.origin.row,
                        "event",
                    )
                )
            open_start = row
        elif row.event is FactEvent.BLOCKAGE_END:
            if open_start is None:
                problems.append(
                    Problem(
                        row.origin.file,
                        "blockage_end with no blockage_start before it",
                        row.origin.row,
                        "event",
                    )
                )
            elif row.date == open_start.date:
                problems.append(
                    Problem(
                        row.origin.file,
                        f"a blockage cannot end on the day it starts ({row.date})",
                        row.origin.row,
                        "date",
                    )
                )
            open_start = None


def _declared(check: _RowCheck, column: str, name: object, declared: dict, event: str):
    """The declaration `name` refers to, or None after reporting why it names none."""
    if name is None:
        check.require(column, f"{event} must name {'an' if column[0] in 'aeiou' else 'a'} {column}")
        return None
    found = declared.get(str(name))
    if found is None:
        check.problem(
            column,
            f"unknown {column} {name!r}; the agreement declares {', '.join(sorted(declared))}",
        )
    return found


def _check_reported_covenant(check: _RowCheck, covenant: object, agreement: Agreement) -> None:
    declared = _declared(
        check, "covenant", covenant, agreement.covenants, FactEvent.REPORTED_BREACH
    )
    if declared is not None and declared.test is not TestKind.REPORTED:
        check.problem(
            "covenant",
            f"covenant {covenant} is computed from the facts; report its figures, not its breach",
        )


def _check_instrument(check: _RowCheck, instrument: object, agreement: Agreement) -> None:
    declared = _declared(
        check, "instrument", instrument, agreement.instruments, FactEvent.CONDITIONS_SATISFIED
    )
    if declared is not None and declared.conditions_precedent is None:
        check.problem("instrument", f"instrument {instrument} has no conditions precedent")
