"""The Excel report, read back with openpyxl: sheets, real numbers and dates, frozen headers."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from conftest import EXAMPLE_FACTS, RULES
from engine.cli import main
from engine.report import xlsx


def workbook_of(
    tmp_path: Path,
    facts: Path = EXAMPLE_FACTS,
    as_of: str = "1998-03-31",
    run_as_of: str | None = None,
):
    db, out = tmp_path / "log.db", tmp_path / "report.xlsx"
    run = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    main(run + (["--as-of", run_as_of] if run_as_of else []))
    args = ["report", "--db", str(db), "--format", "xlsx", "--out", str(out), "--as-of", as_of]
    assert main(args) == 0
    return load_workbook(out)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return workbook_of(tmp_path_factory.mktemp("xlsx"))


def rows(sheet, header_row: int = 1) -> list[dict]:
    values = list(sheet.iter_rows(min_row=header_row, values_only=True))
    names = values[0]
    out = []
    for row in values[1:]:
        if all(v is None for v in row):
            break
        out.append(dict(zip(names, row, strict=True)))
    return out


def test_the_sheets_and_their_frozen_headers(book):
    # As of March 31, 1998 the Notes have a ledger but no position: each run records one on
    # its own as-of date (here the day the tests run), which is after the report's date.
    assert book.sheetnames == [
        "Summary",
        "Tests",
        "Events",
        "Amounts and notices",
        "Dates ahead",
        "Notes",
    ]
    assert book["Summary"].freeze_panes == "D7"
    assert book["Dates ahead"].freeze_panes == "C2"
    assert book["Tests"].freeze_panes == "D2"
    assert book["Events"].freeze_panes == "B2"
    assert book["Amounts and notices"].freeze_panes == "A2"
    assert book["Tests"]["A1"].font.bold
    width = book["Summary"].column_dimensions["C"].width
    assert 20 < width <= 60  # covenant titles are long; the cap keeps the sheet usable


def test_dates_ahead_are_dates_with_their_clause(book):
    """Through September 30, 1998: the monthly interest dates on the 19th from April (Section
    4.1(a)(y), First Amendment, Exhibit A item 1) among the step-ups; 6.21's to $5,000,000
    from May 2, 1998 (Exhibit A item 6)."""
    ahead = rows(book["Dates ahead"])
    interest = [r["Date"] for r in ahead if r["Kind"] == "interest payment"]
    assert interest == [datetime(1998, month, 19) for month in range(4, 10)]
    (may,) = [r for r in ahead if r["Date"] == datetime(1998, 5, 2)]
    assert (may["Agreement"], may["Covenant"], may["Kind"]) == ("cerplex", "6.21", "step up")
    assert may["Clause"].endswith("row 'May 2, 1998 and thereafter'")
    assert isinstance(may["Seq"], int)


def test_summary_holds_the_state_date_and_each_covenant_as_numbers(book):
    sheet = book["Summary"]
    assert sheet["B2"].value == datetime(1998, 3, 31)
    assert sheet["B2"].number_format == "yyyy-mm-dd"
    covenants = {r["Section"]: r for r in rows(sheet, header_row=6)}
    assert list(covenants) == [
        "4.2",
        "5.2",
        "6.3",
        "6.4",
        "6.18",
        "6.19",
        "6.20",
        "6.21",
        "9.1",
        "SPA 5(a)",
    ]
    # Section 6.20, 1998Q1: 13,650,000 / 30,000,000 = 0.455 against 0.45; 0.005 / 0.45 = 1.11%.
    ratio = covenants["6.20"]
    assert (ratio["Value"], ratio["Threshold"]) == (0.455, 0.45)
    assert ratio["Headroom %"] == pytest.approx(0.0111)
    assert ratio["Warning"] == "thin"
    assert ratio["Latest test"] == datetime(1998, 3, 28)
    # Section 6.18, 1998Q1: a $350,000 loss against a $391,000 loss floor: compliant by 41,000.
    profit = covenants["6.18"]
    assert (profit["Value"], profit["Threshold"], profit["Headroom"]) == (-350000, -391000, 41000)
    assert isinstance(profit["Value"], int | float)
    # Section 6.3's only breach in the example (1996-09-20) was waived.
    assert covenants["6.3"]["In breach"] == "no"


def test_summary_lists_the_june_1998_step_up(book):
    sheet = book["Summary"]
    label_row = next(
        cell.row for cell in sheet["A"] if str(cell.value).startswith("Step-ups through")
    )
    steps = rows(sheet, header_row=label_row + 1)
    june = next(s for s in steps if s["Section"] == "6.18")
    # (391,000) to 5,000,000; from the 1998Q1 loss of 350,000 it needs 5,350,000 more.
    assert june["Takes effect"] == datetime(1998, 6, 30)
    assert (june["Limit now"], june["Limit then"]) == (-391000, 5000000)
    assert june["Improvement needed"] == 5350000


def test_tests_sheet_has_one_row_per_test_with_its_inputs(book):
    tests = rows(book["Tests"])
    # To March 31, 1998: 4.2 seven revolver dates; 6.18 and 6.20 1997Q2-1998Q1 (four each);
    # 6.19 1997Q3-1998Q1 (three); 6.21 nine balance-sheet dates from July 26, 1997.
    counts = {}
    for t in tests:
        counts[t["Section"]] = counts.get(t["Section"], 0) + 1
    # 5.2: funded by 1997-08-22, and the January 1998 shortfall; SPA 5(a): two 10-Qs by then.
    assert counts == {
        "4.2": 7,
        "5.2": 2,
        "6.18": 4,
        "6.19": 3,
        "6.20": 4,
        "6.21": 9,
        "9.1": 3,
        "SPA 5(a)": 2,
    }
    breach = next(t for t in tests if t["Section"] == "6.21" and t["Date"] == datetime(1998, 1, 31))
    # Section 6.21, December 31, 1997 through March 30, 1998: (14,642,000) plus NSP of 0.
    assert breach["tangible_net_worth"] == -14700000
    assert (breach["Threshold"], breach["Headroom"], breach["Result"]) == (
        -14642000,
        -58000,
        "breach",
    )
    assert breach["Facts row"].endswith("facts/cerplex/financials.csv row 14")
    assert isinstance(breach["Seq"], int) and isinstance(breach["Breach seq"], int)


def test_events_and_amounts(book):
    events = rows(book["Events"])
    seqs = [e["Seq"] for e in events]
    assert seqs == sorted(seqs) and all(isinstance(s, int) for s in seqs)
    assert all(e["Date"] <= datetime(1998, 3, 31) or e["Event"].endswith("terms") for e in events)
    money = rows(book["Amounts and notices"])
    due = [m for m in money if m["Kind"] == "amount due" and m["Covenant"] == "4.2"]
    assert {m["For"] for m in due} == {"acceleration (Section 4.2)"}
    # Section 4.2: each Initial Capitalized Interest Amount plus 13 days (30/360) at 17%.
    assert sorted(m["Amount"] for m in due) == [82440.51, 329762.02, 412202.53]
    # note_payments.csv: each paid in full on September 15, 1997, 13 days late.
    assert all((m["Paid"], m["Unpaid"]) == (m["Amount"], 0) for m in due)
    assert all(m["Due date or deadline"] == datetime(1997, 9, 2) for m in due)
    assert book["Amounts and notices"]["E2"].number_format == "#,##0.00;(#,##0.00)"
    (notice,) = [m for m in money if m["Kind"] == "notice" and m["Covenant"] == "4.2"]
    assert notice["Due date or deadline"] == datetime(1997, 9, 2)


def test_the_notes_ledger_as_numbers(book):
    notes = rows(book["Notes"])
    # Section 4.1(b)(ii): no capitalization while the Section 6.18 default of 1997-09-27 is
    # continuing, on the payment dates of February 19 and March 19, 1998.
    blocked = [n["Date"] for n in notes if n["Entry"].startswith("capitalization not allowed")]
    assert blocked == [datetime(1998, 2, 19), datetime(1998, 3, 19)]
    northwestern = [n for n in notes if n["Holder"] == HOLDER]
    # 4.1(a)(i): $8,625,000 x 9.50% x 180/360 = $409,687.50, the Initial Capitalized Interest
    # Amount, added to principal; 4.1(a)(ii): August 19, 1997 to February 19, 1998 at 15% on
    # 8,625,000 (the initial amount was accelerated by Section 4.2 on September 2) = 646,875.00
    # in cash.
    paid = {n["Date"]: n for n in northwestern if n["Entry"].startswith("interest payment")}
    first, february = paid[datetime(1997, 8, 19)], paid[datetime(1998, 2, 19)]
    assert (first["Date"], first["Days"], first["Interest"]) == (
        datetime(1997, 8, 19),
        180,
        409687.5,
    )
    assert (first["Capitalized"], first["Principal after"]) == (409687.5, 9034687.5)
    assert (february["Period from"], february["Period to (excluding)"]) == (
        datetime(1997, 8, 19),
        datetime(1998, 2, 19),
    )
    assert (february["Principal"], february["Interest"], february["Cash"]) == (
        8625000,
        646875,
        646875,
    )
    amounts = [c for c in book["Notes"]["H"][1:] if c.value is not None]
    assert amounts and {c.number_format for c in amounts} == {"#,##0.00;(#,##0.00)"}


def test_where_each_note_stands_and_what_is_overdue(tmp_path):
    """As of June 1, 1998 (note_payments.csv: nothing paid after May 19, 1998). The Northwestern
    Note: principal 8,625,000 + the 62,890.62 capitalized by the blockage settlement of May 6
    (Section 4.1(d)(ii)) = 8,687,890.62; interest at 15% from May 19, 12 days (30/360):
    8,687,890.62 x 0.15 x 12/360 = 43,439.45. Nothing is yet due unpaid: May 19's 47,059.41
    was paid that day."""
    book = workbook_of(tmp_path, as_of="1998-06-01", run_as_of="1998-06-01")
    (position,) = [p for p in rows(book["Note positions"]) if p["Holder"] == HOLDER]
    assert (position["On"], position["Principal"]) == (datetime(1998, 6, 1), 8687890.62)
    assert (position["Accrued since"], position["Accrued interest"]) == (
        datetime(1998, 5, 19),
        43439.45,
    )
    assert (position["Overdue"], position["Unpaid"], position["Payments"]) == (0, 0, "tracked")
    assert "Overdue" not in book.sheetnames
    sheet = book["Summary"]
    header = next(c.row for c in sheet["B"] if c.value == "Borrower")  # the agreements' table
    (agreement,) = rows(sheet, header_row=header)
    assert (agreement["Unpaid to the Notes' holders"], agreement["Unpaid on"]) == (
        0,
        datetime(1998, 6, 1),
    )
    assert agreement["Of which unpaid"] == 0 < agreement["Amounts due"]


HOLDER = "The Northwestern Mutual Life Insurance Company"


@pytest.mark.parametrize(
    ("written", "name"),
    [('"=HYPERLINK(""http://x"",""y"")"', '=HYPERLINK("http://x","y")'), ("#N/A", "#N/A")],
)
def test_a_holder_name_that_looks_like_a_formula_or_an_error_stays_text(tmp_path, written, name):
    """Excel would read the first as a formula, the second as its error value."""
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    for table in ("notes.csv", "note_payments.csv"):
        path = facts / "cerplex" / table
        path.write_text(
            path.read_text().replace("John Hancock Mutual Life Insurance Company", written)
        )
    sheet = workbook_of(tmp_path, facts)["Amounts and notices"]
    cells = [c for c in sheet["D"] if c.value == name]
    assert cells and all(c.data_type == "s" for c in cells)


def test_xlsx_needs_an_output_file(tmp_path, capsys):
    db = tmp_path / "log.db"
    main(["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db)])
    assert main(["report", "--db", str(db), "--format", "xlsx"]) == 2
    assert "--format xlsx needs --out" in capsys.readouterr().err


def test_a_sheet_longer_than_excel_opens_goes_on_in_another(tmp_path, monkeypatch, book):
    """Excel opens at most 1,048,576 rows in a worksheet (its specifications and limits); a
    book's Events or Tests in full run to millions. Here the limit is made 50 rows: the 137
    events as of March 1998 (one row each, under the header; three of them the Section 4.2
    accelerations overdue from September 3, 1997) go on in "Events (2)" and "Events (3)", each
    sheet of at most 50 rows beginning with the header, the events in the same order."""
    assert xlsx.MOST_ROWS == 1_048_576
    header, *events = book["Events"].values
    assert len(events) == 137
    monkeypatch.setattr(xlsx, "MOST_ROWS", 50)
    split = workbook_of(tmp_path)
    names = ["Events", "Events (2)", "Events (3)"]  # 49, 49 and 39 events
    assert [n for n in split.sheetnames if n.startswith("Events")] == names
    sheets = [list(split[name].values) for name in names]
    assert [len(rows) for rows in sheets] == [50, 50, 40]
    assert all(rows[0] == header for rows in sheets)
    assert [row for rows in sheets for row in rows[1:]] == events
    assert all(split[name].freeze_panes == "B2" for name in names)
    assert split["Events (3)"].auto_filter.ref == f"A1:{get_column_letter(len(header))}40"


def test_a_ratio_just_short_of_its_minimum_is_shown_to_the_place_where_it_falls_short(tmp_path):
    """Section 6.20, 1998Q1 (minimum 0.45): current assets of 13,499,997 against current
    liabilities of 30,000,000 give 0.4499999, headroom -0.0000001. To four places both would
    read as the minimum and as zero; their cells show seven."""
    facts = tmp_path / "facts"
    shutil.copytree(EXAMPLE_FACTS, facts)
    path = facts / "cerplex" / "financials.csv"
    text = path.read_text()
    assert '"13,650,000","30,000,000","(14,000,000)"' in text  # 1998Q1: 0.455
    path.write_text(text.replace('"13,650,000"', '"13,499,997"'))
    sheet = workbook_of(tmp_path, facts)["Tests"]
    names = [c.value for c in sheet[1]]
    (row,) = [
        r
        for r in sheet.iter_rows(min_row=2)
        if r[names.index("Section")].value == "6.20" and r[names.index("Result")].value == "breach"
    ]
    value, threshold, headroom = (row[names.index(n)] for n in ("Value", "Threshold", "Headroom"))
    assert (value.number_format, threshold.number_format) == ("0.0000000", "0.0000")
    assert headroom.number_format == "0.0000000"
    assert round(value.value, 7) == 0.4499999 and round(headroom.value, 7) == -0.0000001
    complied = [
        r
        for r in sheet.iter_rows(min_row=2)
        if r[names.index("Section")].value == "6.20"
        and r[names.index("Result")].value == "compliant"
    ]
    assert len(complied) == 3  # 1997Q2 to 1997Q4, four places each
    assert {r[names.index("Value")].number_format for r in complied} == {"0.0000"}
