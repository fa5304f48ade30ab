"""The report as an Excel workbook: real numbers and dates in cells, frozen headers.

Sheets: Portfolio (one row per facility, when there are several) and By status (how many
facilities stand at each), Summary (status of every covenant, totals per agreement, step-ups
coming), Tests (one row per covenant test), Events (the audit-log events the report rests on),
Amounts and notices, Dates ahead (the calendar through the next two quarter-ends), and where
there are Notes (Section 4.1) Notes (each one's ledger), Note positions (where each stands,
what is unpaid, the prepayment quote) and Overdue.
A sheet longer than Excel's limit goes on in "Events (2)", "Events (3)"..., each with the
table's header.
Text is always stored as text: a borrower's note that begins with "=" never becomes a formula.

The workbook is written in openpyxl's write-only mode, a row at a time (each sheet's rows wait
in a temporary file until it is saved), so a portfolio's report takes the memory of one
facility. Each sheet's rows are made twice: once to measure its columns, whose widths the file
states before the rows, and once to write them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from functools import partial
from itertools import chain, islice
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from .text import CHANGES, headroom_share, ratio_places, reported, share_places, unlike

USD, CENTS, RATIO, SHARE, DAY = (
    "#,##0;(#,##0)",
    "#,##0.00;(#,##0.00)",
    "0.0000",
    "0.00%",
    "yyyy-mm-dd",
)
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E8EBEF")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="7F7F7F"))
_HEADER_ALIGNMENT = Alignment(vertical="top", wrap_text=False)
_TITLE_FONT = Font(bold=True, size=14)
_MAX_WIDTH = 60

# A row of a sheet: how it is styled (a table's HEADER, the sheet's TITLE, a BOLD first cell,
# or None), and its values.
Line = tuple[str | None, list[Any]]
HEADER, TITLE, BOLD = "header", "title", "bold"
_BLANK: Line = (None, [])
_Lines = Callable[[dict[str, Any]], Iterator[Line]]


def to_xlsx(model: dict[str, Any], out: BinaryIO) -> None:
    sheets: list[tuple[str, _Lines, str, bool]] = [  # title, rows, frozen panes, filtered
        ("Summary", _summary, "D7", False),
        ("Tests", partial(_tests, inputs=_inputs(model)), "D2", True),
        ("Events", _events, "B2", True),
        ("Amounts and notices", _amounts_and_notices, "A2", False),
        ("Dates ahead", _dates_ahead, "C2", True),
        ("Notes", _notes, "D2", True),
        ("Note positions", _note_positions, "C2", True),
        ("Overdue", _overdue, "D2", True),
    ]
    if len(model["portfolio"]) > 1:
        sheets[:0] = [("Portfolio", _portfolio, "B2", True), ("By status", _by_status, "A2", False)]
    book = Workbook(write_only=True)
    for title, lines, frozen, filtered in sheets:
        widths = _widths(lines(model))
        if not widths:  # nothing to show: the sheet is left out
            continue
        for part, part_lines in enumerate(_parts(lines(model)), start=1):
            sheet = book.create_sheet(title if part == 1 else f"{title} ({part})")
            for column, width in widths.items():
                sheet.column_dimensions[get_column_letter(column)].width = width
            sheet.freeze_panes = frozen
            written = widest = 0
            for style, values in part_lines:
                sheet.append([_cell(sheet, value, style) for value in values])
                written, widest = written + 1, max(widest, len(values))
            if filtered:
                sheet.auto_filter.ref = f"A1:{get_column_letter(widest)}{written}"
    book.properties.creator = "covenant-monitor"
    book.save(out)


MOST_ROWS = 1_048_576  # in a worksheet: Excel opens no more ("Excel specifications and limits")


def _parts(lines: Iterator[Line]) -> Iterator[Iterator[Line]]:
    """A sheet's lines in parts of at most MOST_ROWS, a worksheet each: a book's Events or Tests
    in full run to millions. A part after the first begins with the table's header again.
    Each part is to be read whole before the next is asked for."""
    first = next(lines, None)
    header = [first] if first is not None and first[0] == HEADER else []
    yield chain([first] if first is not None else [], islice(lines, MOST_ROWS - 1))
    while (line := next(lines, None)) is not None:
        yield chain(header, [line], islice(lines, MOST_ROWS - 1 - len(header)))


class _Cell:
    """A value with the number format it is shown in."""

    def __init__(self, value: Any, number_format: str | None = None):
        self.value, self.number_format = value, number_format


def _day(text: str | None) -> _Cell:
    return _Cell(date.fromisoformat(text) if text else None, DAY)


def _number(value: str | None, unit: str | None, unlike: str | None = None) -> _Cell:
    """A ratio is shown to as many places as the text reports show it (`ratio_places`), so a
    breach never reads as equal to its threshold, nor its headroom as zero."""
    amount = Decimal(value) if value is not None else None
    if unit != "ratio":
        return _Cell(amount, USD)
    places = ratio_places(amount, unlike) if amount is not None else 4
    return _Cell(amount, RATIO + "0" * (places - 4) if places else _EVERY_PLACE)


_EVERY_PLACE = RATIO + "#" * 26  # Excel shows at most 30 places


def _cents(value: str | None) -> _Cell:
    return _Cell(Decimal(value) if value is not None else None, CENTS)


def _share(test: dict[str, Any]) -> _Cell:
    """A test's headroom share, to as many places as the text reports show it."""
    percent = headroom_share(test)
    if percent is None:
        return _Cell(None, SHARE)
    return _Cell(percent / 100, "0." + "0" * share_places(percent) + "%")


def _cell(sheet: WriteOnlyWorksheet, value: Any, style: str | None) -> WriteOnlyCell | Any:
    """The cell of `value`, or `value` itself where openpyxl makes the same plain cell from it:
    a cell of ours costs it a failed conversion (an exception) each, a tenth of a report."""
    if style is None and not isinstance(value, _Cell) and not _not_text(value):
        return value
    cell = WriteOnlyCell(sheet, value.value if isinstance(value, _Cell) else value)
    if isinstance(value, _Cell):
        if value.number_format:
            cell.number_format = value.number_format
    elif isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    if style == HEADER:
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        cell.alignment = _HEADER_ALIGNMENT
    elif style is not None:
        cell.font = _TITLE_FONT if style == TITLE else _HEADER_FONT
    return cell


def _not_text(value: Any) -> bool:
    """A text openpyxl would store as a formula (=...) or an error (#N/A...)."""
    return isinstance(value, str) and value.startswith(("=", "#"))


def _widths(lines: Iterator[Line]) -> dict[int, float]:
    """Each column as wide as its longest entry, within reason."""
    widths: dict[int, int] = {}
    for _, values in lines:
        for column, value in enumerate(values, start=1):
            if isinstance(value, _Cell):
                value = value.value
            if value is None:
                continue
            if isinstance(value, date):
                length = 10
            elif isinstance(value, Decimal | int | float):
                length = len(f"{value:,}") + 2
            else:
                length = max(len(line) for line in str(value).split("\n"))
            widths[column] = max(widths.get(column, 0), length)
    return {column: min(max(width + 2, 8), _MAX_WIDTH) for column, width in widths.items()}


def _table(names: list[str], rows: Iterable[list[Any]]) -> Iterator[Line]:
    yield HEADER, names
    for row in rows:
        yield None, row


def _portfolio(model: dict[str, Any]) -> Iterator[Line]:
    """One row per facility, the most serious first, then the nearest to a limit."""
    then = model["compared_to"]
    names = ["Facility", "Name", "Agreement", "Status"]
    names += [f"Status on {then}", "Change"] if then else []
    names += ["Covenants in breach", "Open defaults"]
    names += ["Events of default", "Unpaid", "Nearest limit", "Its headroom", "Tested"]
    names += ["Step-up short", "From", "Short by"]
    names += ["Tested through"]
    names += ["In full here"]
    rows = (_portfolio_row(r, then is not None) for r in model["portfolio"])
    yield from _table(names, rows)


def _by_status(model: dict[str, Any]) -> Iterator[Line]:
    """How many facilities stand at each status, the most serious first: the book at a glance,
    as the other formats' portfolio view opens with it."""
    then = model["compared_to"]
    counts = [
        [s["label"], s["facilities"], *([s["facilities_before"]] if then else [])]
        for s in model["by_status"]
    ]
    yield from _table(["Status", "Facilities", *([f"On {then}"] if then else [])], counts)
    keys = ["facilities", *(["facilities_before"] if then else [])]
    yield BOLD, ["All facilities", *(sum(s[key] for s in model["by_status"]) for key in keys)]


def _portfolio_row(r: dict[str, Any], comparing: bool) -> list[Any]:
    t, short = r["nearest"] or {}, r["step_up_short"] or {}
    why_not = "monitoring ended" if r["ended"] else "compliant, nothing open"
    return [
        r["facility"],
        r["name"],
        r["package"],
        r["status_label"],
        *([r["status_before_label"], CHANGES[r["change"]]] if comparing else []),
        r["in_breach"],
        r["open_defaults"],
        r["events_of_default"],
        _cents(r["unpaid"]),
        t.get("covenant"),
        _share(t),
        _day(t.get("date")),
        short.get("covenant"),
        _day(short.get("takes_effect")),
        _number(short.get("improvement_needed"), short.get("unit")),
        _day(r["tested_through"]),
        "yes" if r["detailed"] else f"no ({why_not})",
    ]


def _summary(model: dict[str, Any]) -> Iterator[Line]:
    source, then = model["generated_from"], model["compared_to"]
    yield TITLE, ["Covenant report"]
    yield None, ["State on", _day(model["state_on"])]
    yield (
        None,
        [
            "Built from audit-log events",
            f"{source['first_seq']}-{source['last_seq']} ({source['events']} of "
            f"{source['log_events']} in the log)",
        ],
    )
    yield None, ["Thin headroom below", _Cell(Decimal(model["thin_headroom_percent"]) / 100, SHARE)]
    yield _BLANK
    yield from _table(
        [
            "Agreement",
            "Section",
            "Covenant",
            "Status",
            "Status detail",
            *([f"Status on {then}"] if then else []),
            "In breach",
            "Latest test",
            "Period",
            "Value",
            "Threshold",
            "Headroom",
            "Headroom %",
            "Warning",
            "Clause",
            "Seq",
        ],
        (row for a in model["agreements"] for row in _covenant_rows(a, then is not None)),
    )
    yield _BLANK
    yield from _table(
        [
            "Agreement",
            "Borrower",
            "Covenants",
            "Compliant",
            "In breach",
            "Other",
            "Open defaults",
            "Events of default",
            "Amounts due",
            "Of which unpaid",
            "Notices owed",
            "Unpaid to the Notes' holders",
            "Unpaid on",
        ],
        (_agreement_row(a) for a in model["agreements"]),
    )
    yield from _figures(model)
    yield _BLANK
    yield BOLD, [f"Step-ups through {model['horizon']['through']}" if model["horizon"] else ""]
    yield from _table(
        [
            "Agreement",
            "Section",
            "Covenant",
            "Takes effect",
            "Table row",
            "Limit now",
            "Limit then",
            "Plus (so far)",
            "Required",
            "Latest test",
            "Latest value",
            "Improvement needed",
            "Clause",
        ],
        (row for a in model["agreements"] for row in _step_up_rows(a)),
    )
    if then:
        yield _BLANK
        yield BOLD, [f"Breaches since {then}"]
        yield from _table(
            ["Agreement", "Section", "Covenant", "Breach", "Status", "Seq"],
            (
                [
                    a["agreement"],
                    b["covenant"],
                    b["title"],
                    _day(b["breach_date"]),
                    b["status_text"],
                    b["breach_seq"],
                ]
                for a in model["agreements"]
                for b in a["before"]["breaches"]
            ),
        )


def _figures(model: dict[str, Any]) -> Iterator[Line]:
    """The columns of financials.csv the agreements define, where any does."""
    rows = [
        [a["agreement"], f["name"], f["title"], reported(f), f["source"]]
        for a in model["agreements"]
        for f in a["figures"]
    ]
    if rows:
        yield _BLANK
        yield BOLD, ["Figures the agreements define (columns of financials.csv, or sums of them)"]
        yield from _table(["Agreement", "Name", "Figure", "Reported", "Clause"], rows)


def _agreement_row(a: dict[str, Any]) -> list[Any]:
    s, unpaid = a["summary"], a["summary"]["unpaid"] or {}
    return [
        a["agreement"],
        a["borrower"],
        s["covenants"],
        s["compliant"],
        s["in_breach"],
        s["other"],
        s["open_defaults"],
        s["events_of_default"],
        _cents(s["amounts_due_total"]),
        _cents(s["amounts_unpaid_total"]),
        len(a["notices_owed"]),
        _cents(unpaid.get("total")),
        _day(unpaid.get("date")),
    ]


def _covenant_rows(a: dict[str, Any], comparing: bool) -> Iterator[list[Any]]:
    thin = {w["covenant"] for w in a["summary"]["thin_headroom"]}
    for c in a["covenants"]:
        t = c["latest_test"] or {}
        unit = c["unit"]
        yield [
            a["agreement"],
            c["section"],
            c["title"],
            c["status_label"],
            "; ".join(c["status_notes"]),
            *([c["status_before_text"]] if comparing else []),
            "yes" if c["bucket"] == "in_breach" else "no",
            _day(t.get("date")),
            t.get("period"),
            _number(t.get("value"), unit, unlike(t, "value")),
            _number(t.get("threshold"), unit),
            _number(t.get("headroom"), unit, unlike(t, "headroom")),
            _share(t),
            "thin" if c["section"] in thin else "",
            c["clause"],
            t.get("seq"),
        ]


def _step_up_rows(a: dict[str, Any]) -> Iterator[list[Any]]:
    for up in a["summary"]["step_ups"]:
        latest = up["latest"] or {}
        yield [
            a["agreement"],
            up["covenant"],
            up["title"],
            _day(up["takes_effect"]),
            up["table_row"],
            _number(up["from_minimum"], up["unit"]),
            _number(up["to_minimum"], up["unit"]),
            _number(up["plus_value"], up["unit"]),
            _number(up["required"], up["unit"]),
            _day(latest.get("date")),
            _number(latest.get("value"), up["unit"]),
            _number(up["improvement_needed"], up["unit"]),
            up["source"],
        ]


def _inputs(model: dict[str, Any]) -> list[str]:
    """The Tests sheet's input columns: every input any test has, named in order (found once,
    not on each of the sheet's two passes)."""
    return sorted(
        {
            name
            for a in model["agreements"]
            for c in a["covenants"]
            for t in c["tests"]
            for name in t["inputs"]
        }
    )


def _tests(model: dict[str, Any], inputs: list[str]) -> Iterator[Line]:
    yield from _table(
        [
            "Agreement",
            "Section",
            "Covenant",
            "Date",
            "Period",
            *inputs,
            "Metric",
            "Value",
            "Limit",
            "Plus",
            "Threshold",
            "Headroom",
            "Headroom %",
            "Result",
            "Clause",
            "Facts row",
            "Seq",
            "Breach seq",
        ],
        (
            _test_row(a, c, t, inputs)
            for a in model["agreements"]
            for c in a["covenants"]
            for t in c["tests"]
        ),
    )


def _test_row(
    a: dict[str, Any], c: dict[str, Any], t: dict[str, Any], inputs: list[str]
) -> list[Any]:
    unit = t["unit"]
    return [
        a["agreement"],
        c["section"],
        c["title"],
        _day(t["date"]),
        t["period"],
        *(_number(t["inputs"].get(name), None) for name in inputs),
        t["metric"],
        _number(t["value"], unit, unlike(t, "value")),
        _number(t["minimum"], unit),
        _number(t["plus_value"], unit),
        _number(t["threshold"], unit),
        _number(t["headroom"], unit, unlike(t, "headroom")),
        _share(t),
        t["result"],
        t["clause"],
        t["source_row"],
        t["seq"],
        t["breach_seq"],
    ]


def _events(model: dict[str, Any]) -> Iterator[Line]:
    yield from _table(
        [
            "Seq",
            "Run",
            "Run as of",
            "Date",
            "Event",
            "Agreement",
            "Covenant",
            "What it records",
            "Clause",
        ],
        (
            [
                e["seq"],
                e["run"],
                _day(e["run_as_of"]),
                _day(e["date"]),
                e["event"],
                e["agreement"],
                e["covenant"],
                e["summary"],
                e["clause"],
            ]
            for e in model["events"]
        ),
    )


def _amounts_and_notices(model: dict[str, Any]) -> Iterator[Line]:
    yield from _table(
        [
            "Kind",
            "Agreement",
            "Covenant",
            "Holder or addressee",
            "Amount",
            "Paid",
            "Unpaid",
            "For",
            "Principal",
            "Interest",
            "Due date or deadline",
            "Days",
            "Day count",
            "Notice",
            "Clause",
            "Seq",
        ],
        (row for a in model["agreements"] for row in _amounts_and_notices_rows(a)),
    )


def _amounts_and_notices_rows(a: dict[str, Any]) -> Iterator[list[Any]]:
    for x in a["amounts_due"]:
        yield [
            "amount due",
            a["agreement"],
            x["covenant"],
            x["holder"],
            _cents(x["amount"]),
            _cents(x["paid"]),
            _cents(x["unpaid"]),
            x["what"],
            _cents(x["principal"]),
            _cents(x["interest"]),
            _day(x["due_date"]),
            x["days"],
            x["day_count"],
            None,
            x["clause"],
            x["seq"],
        ]
    for n in a["notices_owed"]:
        yield [
            "notice",
            a["agreement"],
            n["covenant"],
            n["to"],
            *[None] * 6,  # no amount
            _day(n["deadline"]),
            None,
            None,
            n["reason"],
            n["clause"],
            n["seq"],
        ]


def _dates_ahead(model: dict[str, Any]) -> Iterator[Line]:
    yield from _rows_if_any(
        ["Agreement", "Date", "Covenant", "Title", "Kind", "What", "Clause", "Seq"],
        (
            [
                a["agreement"],
                _day(x["date"]),
                x["covenant"],
                x["title"],
                x["kind"].replace("_", " "),
                x["text"],
                x["clause"],
                x["seq"],
            ]
            for a in model["agreements"]
            for x in a["dates_ahead"]
        ),
    )


def _rows_if_any(names: list[str], rows: Iterable[list[Any]]) -> Iterator[Line]:
    """A table whose header comes only with its first row, so that a sheet with no rows is
    left out of the workbook (a book without Notes has no Notes sheets)."""
    rows = iter(rows)
    first = next(rows, None)
    if first is not None:
        yield from _table(names, chain([first], rows))


def _notes(model: dict[str, Any]) -> Iterator[Line]:
    """Section 4.1's ledger of each Note (interest and what was capitalized, postponements,
    blockage settlements, accelerations, payments applied), after the payment dates on which
    capitalization was not allowed."""
    names = ["Agreement", "Holder", "Date", "Entry", "Period from", "Period to (excluding)"]
    names += ["Days", "Principal", "Interest", "Cash", "Capitalized", "Principal after"]
    rows = (row for a in model["agreements"] for row in _notes_rows(a))
    yield from _rows_if_any([*names, "Clause", "Seq"], rows)


def _notes_rows(a: dict[str, Any]) -> Iterator[list[Any]]:
    for b in a["pik_blocked"]:
        yield [
            a["agreement"],
            None,
            _day(b["payment_date"]),
            f"capitalization not allowed: {b['reason']}",
            *[None] * 8,  # no period, days or amounts
            b["clause"],
            b["seq"],
        ]
    for note in a["notes_ledger"]:
        for r in note["rows"]:
            entry = r["event"].replace("_", " ")
            if r["capitalized_as"]:
                entry += f" ({r['capitalized_as']})"
            yield [
                a["agreement"],
                note["holder"],
                _day(r["date"]),
                entry,
                _day(r["period_from"]),
                _day(r["period_to_excluding"]),
                r["days"],
                *(_cents(r[key]) for key in _LEDGER_AMOUNTS),
                r["clause"],
                r["seq"],
            ]


_LEDGER_AMOUNTS = ("principal", "interest", "cash", "capitalized", "principal_after")


def _note_positions(model: dict[str, Any]) -> Iterator[Line]:
    """Where each Note stands on the report's date: principal, interest accrued, what is
    unpaid with its Default Rate interest, and the Section 4.1(e) prepayment quote."""
    names = ["Agreement", "Holder", "On", "Principal", "Accrued interest", "Accrued since"]
    names += ["In a blockage since", "Blockage Default Rate interest", "Overdue"]
    names += ["Falling due that day", "Default Rate interest on what is overdue", "Unpaid"]
    names += ["Payments", "Prepayment quote", "Quote: Base Principal Amount", "Quote: interest"]
    names += ["Quote: interest from", "Quote: amounts unpaid, with Default Rate interest"]
    names += ["Quote: forgiven", "Quote open through", "Quote assumes", "Clause", "Seq"]
    rows = (
        _position_row(a["agreement"], note["holder"], note["position"])
        for a in model["agreements"]
        for note in a["notes_ledger"]
        if note["position"]
    )
    yield from _rows_if_any(names, rows)


def _position_row(agreement: str, holder: str, p: dict[str, Any]) -> list[Any]:
    unpaid, quote = p["unpaid"] or {}, p["prepayment"] or {}
    return [
        agreement,
        holder,
        _day(p["date"]),
        _cents(p["principal"]),
        _cents(p["accrued_interest"]),
        _day(p["accrued_from"]),
        _day(p["in_blockage_since"]),
        _cents(p.get("blockage_default_rate_interest")),
        _cents(unpaid.get("overdue")),
        _cents(unpaid.get("due_that_day")),
        _cents(unpaid.get("default_rate_interest")),
        _cents(unpaid.get("total")),
        "tracked" if p["unpaid"] else p["payments"],
        _cents(quote.get("amount")),
        _cents(quote.get("base_principal_amount")),
        _cents(quote.get("interest")),
        _day(quote.get("interest_from")),
        _cents(quote.get("other_amounts_due")),
        _cents(quote.get("forgiven")),
        _day(quote.get("available_through")),
        quote.get("assumes"),
        p["clause"],
        p["seq"],
    ]


def _overdue(model: dict[str, Any]) -> Iterator[Line]:
    """Each amount unpaid after its due date on the report's date, with its Default Rate
    interest: the rows the Note positions sheet's Overdue and Default Rate interest add up."""
    names = ["Agreement", "Holder", "On", "Due date", "For", "Unpaid", "Days"]
    names += ["Default Rate interest", "Seq"]
    rows = (
        [
            a["agreement"],
            note["holder"],
            _day(note["position"]["date"]),
            _day(o["due_date"]),
            o["for"],
            _cents(o["unpaid"]),
            o["days"],
            _cents(o["default_rate_interest"]),
            note["position"]["seq"],
        ]
        for a in model["agreements"]
        for note in a["notes_ledger"]
        if note["position"]
        for o in note["position"]["overdue"] or ()
    )
    yield from _rows_if_any(names, rows)
