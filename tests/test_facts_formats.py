"""The controller's formats: accounting notation, and Excel workbooks with the CSV's columns."""

import csv
import shutil
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest

from conftest import EXAMPLE_FACTS, RULES, run
from engine.facts import load_facts
from engine.rules import load_agreement
from engine.schema import TABLES
from engine.values import FiscalQuarter, parse_decimal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("(1,458,000)", "-1458000"),
        ("$(16,609,000)", "-16609000"),
        ("$ 5,000,000", "5000000"),
        ("-838,000", "-838000"),
        ("409,687.50", "409687.50"),
        ("0.425", "0.425"),
        (" 4886984 ", "4886984"),
        ("8.50%", "8.50"),
    ],
)
def test_accounting_notation(text, value):
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize("text", ["1,458,000)", "(1,458,000", "1,45,8000", "12x", "", "-(5)"])
def test_malformed_amounts_are_refused(text):
    with pytest.raises(ValueError):
        parse_decimal(text)


def test_fiscal_quarter_names_the_calendar_quarter_end_of_the_tables():
    assert FiscalQuarter.parse("1997q4").nominal_end == date(1997, 12, 31)
    assert FiscalQuarter.parse("2000Q1").nominal_end == date(2000, 3, 31)
    assert FiscalQuarter(9999, 4).nominal_end == date(9999, 12, 31)  # the last date there is
    assert FiscalQuarter.of(date(1997, 12, 27)) == FiscalQuarter(1997, 4)


def _workbook_from_csvs(target, separate: bool):
    """The example facts as Excel: numbers as numbers and dates as dates, as Excel keeps them."""
    books = {}
    for name in TABLES:
        with (EXAMPLE_FACTS / "cerplex" / f"{name}.csv").open() as handle:
            rows = list(csv.reader(handle))
        if separate:
            book = books[name] = openpyxl.Workbook()
            sheet = book.active
            sheet.title = "Sheet1"
        else:
            book = books.setdefault("facts", openpyxl.Workbook())
            sheet = book.create_sheet(name)
        sheet.append(rows[0])
        for row in rows[1:]:
            cells = []
            for column, cell in zip(rows[0], row, strict=True):
                kind = TABLES[name].column(column).kind.value
                if kind == "date":
                    cells.append(datetime.fromisoformat(cell))
                elif kind in ("amount", "percent") and cell:
                    cells.append(float(parse_decimal(cell)))
                else:
                    cells.append(cell or None)
            sheet.append(cells)
    for name, book in books.items():
        if "Sheet" in book.sheetnames and len(book.sheetnames) > 1:
            del book["Sheet"]
        book.save(target / f"{name}.xlsx")


@pytest.mark.parametrize("separate", [True, False], ids=["one-workbook-per-table", "one-workbook"])
def test_xlsx_with_the_same_columns_gives_the_same_result_as_csv(tmp_path, separate):
    folder = tmp_path / "facts" / "cerplex"
    folder.mkdir(parents=True)
    _workbook_from_csvs(folder, separate)
    agreement = load_agreement(RULES / "cerplex")
    from_csv = load_facts(EXAMPLE_FACTS / "cerplex", agreement)
    from_xlsx = load_facts(folder, agreement)
    assert [(r.period_end, r.fiscal_quarter, r.amounts) for r in from_xlsx.financials] == [
        (r.period_end, r.fiscal_quarter, r.amounts) for r in from_csv.financials
    ]
    assert [n.initial_capitalized_interest_amount for n in from_xlsx.notes] == [
        Decimal("409687.5"),
        Decimal("327750"),
        Decimal("81937.5"),
    ]

    def strip(events):
        return [(e.event, e.covenant, e.date, e.details.get("value")) for e in events]

    assert strip(run(tmp_path / "facts")) == strip(run(EXAMPLE_FACTS))


def test_a_table_given_both_as_csv_and_xlsx_is_refused(tmp_path):
    folder = tmp_path / "cerplex"
    folder.mkdir()
    (folder / "notes.csv").write_text("holder,initial_capitalized_interest_amount\nA,1\n")
    book = openpyxl.Workbook()
    book.active.append(["holder", "initial_capitalized_interest_amount"])
    book.save(folder / "notes.xlsx")
    with pytest.raises(Exception, match="table notes is given more than once"):
        load_facts(folder, load_agreement(RULES / "cerplex"))


def test_xlsx_errors_name_the_sheet_row_and_column(tmp_path):
    folder = tmp_path / "cerplex"
    folder.mkdir()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "revolver"
    sheet.append(["date", "revolving_loans_outstanding", "revolving_loans_available"])
    sheet.append([datetime(1997, 9, 2), 4800000, "lots"])
    book.save(folder / "facts.xlsx")
    with pytest.raises(
        Exception,
        match=r"facts.xlsx \[sheet revolver\], row 2, column "
        r"revolving_loans_available: 'lots' is not a number",
    ):
        load_facts(folder, load_agreement(RULES / "cerplex"))


def test_amounts_written_plain_read_as_the_same_amounts_in_accounting_notation(tmp_path):
    """A CSV row whose amounts are all plain numbers is typed at once, any other row cell by
    cell (most of a portfolio's rows are plain). Both must give the same rows: the example's
    financials and revolver, in accounting notation (`"(2,150,000)"`), rewritten plain."""
    folder = tmp_path / "cerplex"
    shutil.copytree(EXAMPLE_FACTS / "cerplex", folder)
    for name in ("financials", "revolver"):
        with (folder / f"{name}.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        amounts = TABLES[name].amount_columns
        with (folder / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: str(parse_decimal(v)) if k in amounts and v else v for k, v in row.items()}
                )
    assert (
        (folder / "financials.csv")
        .read_text()
        .splitlines()[1]
        .startswith("1996-03-30,1996Q1,-2150000,,12400000,")
    )
    agreement = load_agreement(RULES / "cerplex")
    notation, plain = (
        load_facts(EXAMPLE_FACTS / "cerplex", agreement),
        load_facts(folder, agreement),
    )
    assert [(r.period_end, r.fiscal_quarter, r.amounts, r.note) for r in plain.financials] == [
        (r.period_end, r.fiscal_quarter, r.amounts, r.note) for r in notation.financials
    ]
    assert [(r.date, r.amounts) for r in plain.revolver] == [
        (r.date, r.amounts) for r in notation.revolver
    ]
    assert plain.financials[0].amounts["net_income"] == Decimal("-2150000")
    assert plain.financials[1].note == "Series B Preferred Stock issued June 1996"


@pytest.mark.parametrize(
    ("outstanding", "read", "problem"),
    [
        ('"4,650,000"', Decimal("4650000"), None),  # thousands grouped: still 4,650,000
        ('"4,65"', None, "row 3, column revolving_loans_outstanding: '4,65' is not a number"),
    ],
)
def test_a_comma_within_an_amount_among_plain_ones_is_read_as_written(
    tmp_path, outstanding, read, problem
):
    """A row of plain amounts is checked in one match of its cells joined by commas: a cell
    holding a comma of its own must not pass for two plain numbers. The revolver's second
    row (its outstanding loans $4,650,000 as written in the example) among plain rows."""
    folder = tmp_path / "cerplex"
    folder.mkdir()
    (folder / "revolver.csv").write_text(
        "date,revolving_loans_outstanding,revolving_loans_available,note\n"
        "1997-08-15,4600000,300000,\n"
        f"1997-08-20,{outstanding},250000,\n"
    )
    agreement = load_agreement(RULES / "cerplex")
    if problem is None:
        rows = load_facts(folder, agreement).revolver
        assert [r.amounts["revolving_loans_outstanding"] for r in rows] == [
            Decimal("4600000"),
            read,
        ]
        assert rows[1].amounts["revolving_loans_available"] == Decimal("250000")
    else:
        with pytest.raises(Exception, match=problem):
            load_facts(folder, agreement)
