"""The report as an Excel workbook: real numbers and dates in cells, frozen headers.

Sheets: Portfolio (one row per facility, when there are several), Summary (status of every
covenant, totals per agreement, step-ups coming), Tests (one row per covenant test), Events
(the audit-log events the report rests on), Amounts and notices.
Text is always stored as text: a borrower's note that begins with "=" never becomes a formula.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

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
_TITLE_FONT = Font(bold=True, size=14)
_MAX_WIDTH = 60


def to_xlsx(model: dict[str, Any]) -> bytes:
    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    _summary(summary, model)
    if len(model["portfolio"]) > 1:
        _portfolio(book.create_sheet("Portfolio", 0), model)
    _tests(book.create_sheet("Tests"), model)
    _events(book.create_sheet("Events"), model)
    _amounts_and_notices(book.create_sheet("Amounts and notices"), model)
    for sheet in book.worksheets:
        _fit_columns(sheet)
    book.properties.creator = "covenant-monitor"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class _Cell:
    """A value with the number format it is shown in."""

    def __init__(self, value: Any, number_format: str | None = None):
        self.value, self.number_format = value, number_format


def _day(text: str | None) -> _Cell:
    return _Cell(date.fromisoformat(text) if text else None, DAY)


def _number(value: str | None, unit: str | None) -> _Cell:
    fmt = RATIO if unit == "ratio" else USD
    return _Cell(Decimal(value) if value is not None else None, fmt)


def _cents(value: str | None) -> _Cell:
    return _Cell(Decimal(value) if value is not None else None, CENTS)


def _share(percent: str | None) -> _Cell:
    return _Cell(Decimal(percent) / 100 if percent is not None else None, SHARE)


def _write(sheet: Worksheet, row: int, values: list[Any]) -> None:
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column)
        if isinstance(value, _Cell):
            cell.value = value.value
            if value.number_format:
                cell.number_format = value.number_format
        elif isinstance(value, str):
            cell.value = value
            cell.data_type = "s"  # never a formula, whatever the text starts with
        else:
            cell.value = value


def _header(sheet: Worksheet, row: int, names: list[str]) -> None:
    _write(sheet, row, names)
    for column in range(1, len(names) + 1):
        cell = sheet.cell(row=row, column=column)
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        cell.alignment = Alignment(vertical="top", wrap_text=False)


def _table(sheet: Worksheet, first_row: int, names: list[str], rows: list[list[Any]]) -> int:
    """A header and its rows from `first_row`; the next free row."""
    _header(sheet, first_row, names)
    for offset, row in enumerate(rows, start=1):
        _write(sheet, first_row + offset, row)
    return first_row + len(rows) + 2


def _portfolio(sheet: Worksheet, model: dict[str, Any]) -> None:
    """One row per facility, the most serious first, then the nearest to a limit."""
    rows = []
    for r in model["portfolio"]:
        t = r["nearest"] or {}
        rows.append(
            [
                r["facility"],
                r["name"],
                r["package"],
                r["status_label"],
                r["in_breach"],
                r["open_defaults"],
                r["events_of_default"],
                t.get("covenant"),
                _share(t.get("headroom_percent")),
                _day(t.get("date")),
                "yes" if r["detailed"] else "no (compliant, nothing open)",
            ]
        )
    names = ["Facility", "Name", "Agreement", "Status", "Covenants in breach", "Open defaults"]
    names += ["Events of default", "Nearest limit", "Its headroom", "Tested", "In full here"]
    _table(sheet, 1, names, rows)
    sheet.freeze_panes = "B2"


def _summary(sheet: Worksheet, model: dict[str, Any]) -> None:
    source = model["generated_from"]
    sheet["A1"] = "Covenant report"
    sheet["A1"].font = _TITLE_FONT
    _write(sheet, 2, ["State on", _day(model["state_on"])])
    _write(
        sheet,
        3,
        [
            "Built from audit-log events",
            f"{source['first_seq']}-{source['last_seq']} ({source['events']} of "
            f"{source['log_events']} in the log)",
        ],
    )
    _write(sheet, 4, ["Thin headroom below", _share(model["thin_headroom_percent"])])
    covenants = []
    for a in model["agreements"]:
        thin = {w["covenant"] for w in a["summary"]["thin_headroom"]}
        for c in a["covenants"]:
            t = c["latest_test"] or {}
            unit = c["unit"]
            covenants.append(
                [
                    a["agreement"],
                    c["section"],
                    c["title"],
                    c["status_label"],
                    "; ".join(c["status_notes"]),
                    "yes" if c["bucket"] == "in_breach" else "no",
                    _day(t.get("date")),
                    t.get("period"),
                    _number(t.get("value"), unit),
                    _number(t.get("threshold"), unit),
                    _number(t.get("headroom"), unit),
                    _share(t.get("headroom_percent")),
                    "thin" if c["section"] in thin else "",
                    c["clause"],
                    t.get("seq"),
                ]
            )
    row = _table(
        sheet,
        6,
        [
            "Agreement",
            "Section",
            "Covenant",
            "Status",
            "Status detail",
            "In breach",
            "Latest test",
            "Period",
            "Value",
            "Minimum",
            "Headroom",
            "Headroom %",
            "Warning",
            "Clause",
            "Seq",
        ],
        covenants,
    )
    sheet.freeze_panes = "D7"
    row = _table(
        sheet,
        row,
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
            "Notices owed",
        ],
        [
            [
                a["agreement"],
                a["borrower"],
                a["summary"]["covenants"],
                a["summary"]["compliant"],
                a["summary"]["in_breach"],
                a["summary"]["other"],
                a["summary"]["open_defaults"],
                a["summary"]["events_of_default"],
                _cents(a["summary"]["amounts_due_total"]),
                len(a["notices_owed"]),
            ]
            for a in model["agreements"]
        ],
    )
    steps = []
    for a in model["agreements"]:
        for up in a["summary"]["step_ups"]:
            latest = up["latest"] or {}
            steps.append(
                [
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
            )
    _write(
        sheet, row, [f"Step-ups through {model['horizon']['through']}" if model["horizon"] else ""]
    )
    sheet.cell(row=row, column=1).font = _HEADER_FONT
    _table(
        sheet,
        row + 1,
        [
            "Agreement",
            "Section",
            "Covenant",
            "Takes effect",
            "Table row",
            "Minimum now",
            "Minimum then",
            "Plus (so far)",
            "Required",
            "Latest test",
            "Latest value",
            "Improvement needed",
            "Clause",
        ],
        steps,
    )


def _tests(sheet: Worksheet, model: dict[str, Any]) -> None:
    tests = [(a, c, t) for a in model["agreements"] for c in a["covenants"] for t in c["tests"]]
    inputs = sorted({name for _, _, t in tests for name in t["inputs"]})
    rows = []
    for a, c, t in tests:
        unit = t["unit"]
        rows.append(
            [
                a["agreement"],
                c["section"],
                c["title"],
                _day(t["date"]),
                t["period"],
                *(_number(t["inputs"].get(name), None) for name in inputs),
                t["metric"],
                _number(t["value"], unit),
                _number(t["minimum"], unit),
                _number(t["plus_value"], unit),
                _number(t["threshold"], unit),
                _number(t["headroom"], unit),
                _share(t["headroom_percent"]),
                t["result"],
                t["clause"],
                t["source_row"],
                t["seq"],
                t["breach_seq"],
            ]
        )
    _table(
        sheet,
        1,
        [
            "Agreement",
            "Section",
            "Covenant",
            "Date",
            "Period",
            *inputs,
            "Metric",
            "Value",
            "Minimum",
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
        rows,
    )
    sheet.freeze_panes = "D2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(sheet.max_column)}{max(sheet.max_row, 1)}"


def _events(sheet: Worksheet, model: dict[str, Any]) -> None:
    _table(
        sheet,
        1,
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
        [
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
        ],
    )
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:I{max(sheet.max_row, 1)}"


def _amounts_and_notices(sheet: Worksheet, model: dict[str, Any]) -> None:
    rows = []
    for a in model["agreements"]:
        for x in a["amounts_due"]:
            rows.append(
                [
                    "amount due",
                    a["agreement"],
                    x["covenant"],
                    x["holder"],
                    _cents(x["amount"]),
                    _cents(x["principal"]),
                    _cents(x["interest"]),
                    _day(x["due_date"]),
                    x["days"],
                    x["day_count"],
                    None,
                    x["clause"],
                    x["seq"],
                ]
            )
        for n in a["notices_owed"]:
            rows.append(
                [
                    "notice",
                    a["agreement"],
                    n["covenant"],
                    n["to"],
                    None,
                    None,
                    None,
                    _day(n["deadline"]),
                    None,
                    None,
                    n["reason"],
                    n["clause"],
                    n["seq"],
                ]
            )
    _table(
        sheet,
        1,
        [
            "Kind",
            "Agreement",
            "Covenant",
            "Holder or addressee",
            "Amount",
            "Principal",
            "Interest",
            "Due date or deadline",
            "Days",
            "Day count",
            "Notice",
            "Clause",
            "Seq",
        ],
        rows,
    )
    sheet.freeze_panes = "A2"


def _fit_columns(sheet: Worksheet) -> None:
    """Each column as wide as its longest entry, within reason."""
    widths: dict[int, int] = {}
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            if isinstance(cell.value, date):
                length = 10
            elif isinstance(cell.value, Decimal | int | float):
                length = len(f"{cell.value:,}") + 2
            else:
                length = max(len(line) for line in str(cell.value).split("\n"))
            widths[cell.column] = max(widths.get(cell.column, 0), length)
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = min(
            max(width + 2, 8), _MAX_WIDTH
        )
