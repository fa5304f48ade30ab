"""A catalogue of malformed inputs. Each is a copy of the example with one thing broken (or a few,
to show they are reported together); each must be refused by `run` with exit 2 and a message
naming the file, the row and column (or the rule key), and leave the audit log byte for byte as
it was.

Rows of the example facts, for reading the cases: financials.csv has its header on row 1 and
one row per period_end from 1996-03-30 (row 2) to 1998-12-26 (row 21), 1997-09-27 on row 10;
revolver.csv runs from 1997-08-15 (row 2) to 1997-10-01 (row 9); events.csv has six rows.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from conftest import EXAMPLE_FACTS, RULES
from engine.cli import main

F, R, E = "facts/cerplex/financials.csv", "facts/cerplex/revolver.csv", "facts/cerplex/events.csv"
N, P = "facts/cerplex/notes.csv", "facts/cerplex/prime_rate.csv"
PIK, RES = "facts/cerplex/pik_elections.csv", "facts/cerplex/counsel_reserve.csv"
FIL, WF = "facts/cerplex/filings.csv", "facts/cerplex/wells_fargo.csv"
C620 = "rules/cerplex/covenant-6.20-current-ratio.toml"
HEADER = (
    "period_end,fiscal_quarter,net_income,gain_on_sale_pcs,accounts_receivable,inventory,"
    "wells_fargo_debt,current_assets,current_liabilities,tangible_net_worth,"
    "net_securities_proceeds,note"
)


@dataclass(frozen=True)
class Case:
    name: str
    breaks: Callable[[Path], None]  # given the root holding rules/ and facts/
    expected: tuple[tuple[str, str, str], ...]  # (file, "row 3, column x" or "key k", message)


def replace(file: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def breaks(root: Path) -> None:
        path = root / file
        text = path.read_text()
        assert old in text, (file, old)
        path.write_text(text.replace(old, new, count))

    return breaks


def cp1252(file: str, old: str, new: str) -> Callable[[Path], None]:
    """The file saved by a Windows program in its own code page, not UTF-8."""

    def breaks(root: Path) -> None:
        path = root / file
        path.write_bytes(path.read_text().replace(old, new).encode("cp1252"))

    return breaks


def write(file: str, content: bytes) -> Callable[[Path], None]:
    def breaks(root: Path) -> None:
        (root / file).write_bytes(content)

    return breaks


def copy(file: str, to: str) -> Callable[[Path], None]:
    def breaks(root: Path) -> None:
        shutil.copy(root / file, root / to)

    return breaks


def remove(*paths: str) -> Callable[[Path], None]:
    """Each file, or a folder with all it holds."""

    def breaks(root: Path) -> None:
        for path in paths:
            target = root / path
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()

    return breaks


def both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def breaks(root: Path) -> None:
        for step in steps:
            step(root)

    return breaks


def workbook(fill: Callable[[openpyxl.worksheet.worksheet.Worksheet], None]):
    """financials as an Excel workbook: the example's first three rows, then `fill` breaks it."""

    def breaks(root: Path) -> None:
        rows = (root / F).read_text().splitlines()[:4]
        (root / F).unlink()
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "financials"
        for row in csv.reader(rows):
            sheet.append([_number(cell) for cell in row])
        fill(sheet)
        book.save(root / "facts/cerplex/financials.xlsx")

    return breaks


def rezip(member: str, old: str, new: str) -> Callable[[Path], None]:
    """Edit one XML part of the financials workbook, as a program other than Excel might."""

    def breaks(root: Path) -> None:
        path = root / "facts/cerplex/financials.xlsx"
        with zipfile.ZipFile(path) as source:
            parts = {name: source.read(name) for name in source.namelist()}
        assert old.encode() in parts[member]
        parts[member] = parts[member].replace(old.encode(), new.encode())
        with zipfile.ZipFile(path, "w") as target:
            for name, data in parts.items():
                target.writestr(name, data)

    return breaks


def _number(cell: str) -> object:
    plain = cell.replace(",", "")
    if plain.startswith("(") and plain.endswith(")"):
        plain = "-" + plain[1:-1]
    try:
        return int(plain)
    except ValueError:
        return cell or None


XLSX = "facts/cerplex/financials.xlsx [sheet financials]"
A, C621 = (
    "rules/cerplex",
    "rules/cerplex/covenant-6.21-minimum-consolidated-tangible-net-worth.toml",
)
I41, W = "rules/cerplex/interest-4.1-notes.toml", "rules/cerplex/instrument-waiver-1996-10-31.toml"


def rule_replace(old: str, new: str) -> Callable[[Path], None]:
    return replace(C620, old, new)


CASES = [
    # Facts: types and values
    Case(
        "text where an amount belongs",
        replace(F, '"9,000,000"', '"9,000,OOO"'),
        ((F, "row 10, column accounts_receivable", "'9,000,OOO' is not a number"),),
    ),
    Case(
        "an unbalanced parenthesis",
        replace(F, '"(1,600,000)"', '"1,600,000)"'),
        ((F, "row 10, column net_income", "unbalanced parenthesis"),),
    ),
    Case(
        "NaN",
        replace(F, '"9,000,000"', "NaN"),
        ((F, "row 10, column accounts_receivable", "'NaN' is not a number"),),
    ),
    Case(
        "infinity",
        replace(F, '"4,500,000"', "inf"),
        ((F, "row 10, column inventory", "'inf' is not a number"),),
    ),
    Case(
        "an exponent",
        replace(F, '"13,000,000"', "1.3e7"),
        ((F, "row 10, column current_assets", "'1.3e7' is not a number"),),
    ),
    Case(
        "a NUL byte inside an amount",
        replace(F, '"9,000,000"', '"9,000\x00,000"'),
        ((F, "row 10, column accounts_receivable", "holds a NUL character (byte 0)"),),
    ),
    Case(
        "a negative current liability",
        replace(F, '"30,800,000"', '"(30,800,000)"'),
        ((F, "row 6, column current_liabilities", "-30800000 is negative"),),
    ),
    Case(
        "a negative receivable",
        replace(F, '"9,000,000"', "-9000000"),
        ((F, "row 10, column accounts_receivable", "-9000000 is negative"),),
    ),
    Case(
        "Net Securities Proceeds that fall",
        replace(F, '"(11,900,000)",,', '"(11,900,000)","2,000,000",'),
        ((F, "row 19, column net_securities_proceeds", "Net Securities Proceeds are cumulative"),),
    ),
    Case(
        "a fiscal quarter that is not one",
        replace(F, "1997-09-27,1997Q3", "1997-09-27,1997Q5"),
        ((F, "row 10, column fiscal_quarter", "'1997Q5' is not a fiscal quarter"),),
    ),
    Case(
        "a fiscal quarter far from its period_end",
        replace(F, "1997-09-27,1997Q3", "1997-09-27,1997Q1"),
        ((F, "row 10, column fiscal_quarter", "1997Q1 ends near 1997-03-31"),),
    ),
    Case(
        "an interim row without its one figure",
        replace(F, '1997-07-26,,,,,,,,,"(15,600,000)",,', "1997-07-26,,,,,,,,,,,"),
        ((F, "row 8, column tangible_net_worth", "blank on a row with no quarterly figures"),),
    ),
    # Facts: dates
    Case(
        "a date that does not exist",
        replace(F, "1997-03-29,1997Q1", "1997-02-30,1997Q1"),
        ((F, "row 6, column period_end", "'1997-02-30' is not a date; expected YYYY-MM-DD"),),
    ),
    Case(
        "a US-style date",
        replace(R, "1997-09-15", "09/15/1997"),
        ((R, "row 8, column date", "'09/15/1997' is not a date"),),
    ),
    Case(
        "a blank period_end",
        replace(F, "1997-10-25,", ","),
        ((F, "row 11, column period_end", "required value is blank"),),
    ),
    Case(
        "a duplicate period_end",
        replace(F, "1997-10-25,", "1997-09-27,"),
        ((F, "row 11, column period_end", "duplicate period_end 1997-09-27 (also row 10)"),),
    ),
    Case(
        "financials out of date order",
        both(
            replace(F, "1997-07-26,", "SWAP,"),
            replace(F, "1997-08-30,", "1997-07-26,"),
            replace(F, "SWAP,", "1997-08-30,"),
        ),
        ((F, "row 9, column period_end", "1997-07-26 comes after 1997-08-30 (row 8)"),),
    ),
    Case(
        "revolver out of date order",
        replace(R, "1997-09-02", "1997-08-01"),
        ((R, "row 7, column date", "1997-08-01 comes after 1997-08-29 (row 6)"),),
    ),
    Case(
        "a balance sheet before the agreement existed",
        replace(F, "1996-03-30,1996Q1", "1993-06-26,1993Q2"),
        (
            (
                F,
                "row 2, column period_end",
                "1993-06-26 is before the agreement is dated (1993-11-19)",
            ),
        ),
    ),
    Case(
        "a lender action before the agreement existed",
        replace(E, "1996-09-20,reported_breach,6.3", "1990-01-05,reported_breach,6.3"),
        ((E, "row 2, column date", "1990-01-05 is before the agreement is dated"),),
    ),
    Case(
        "a revolver date before the agreement existed",
        replace(R, "1997-08-15", "1992-08-15"),
        ((R, "row 2, column date", "1992-08-15 is before the agreement is dated"),),
    ),
    Case(
        "a duplicate revolver date",
        replace(R, "1997-08-21", "1997-08-20"),
        ((R, "row 4, column date", "duplicate date 1997-08-20 (also row 3)"),),
    ),
    # Facts: shape of the file
    Case(
        "a missing required column",
        write(R, b"date,revolving_loans_outstanding\n1997-09-02,4800000\n"),
        ((R, "row 1, column revolving_loans_available", "required column is missing"),),
    ),
    Case(
        "an unknown column",
        replace(F, ",note\n", ",note,ebitda\n"),
        ((F, "row 1, column ebitda", "unknown column 'ebitda'"),),
    ),
    Case(
        "a column given twice",
        replace(F, ",inventory,", ",inventory,inventory,"),
        ((F, "row 1, column inventory", "column appears twice"),),
    ),
    Case(
        "a value beyond the last header",
        replace(F, "Restructuring charges", "Restructuring charges,stray"),
        ((F, "row 7, column 13", "value in a column with no header"),),
    ),
    Case(
        "an empty file",
        write(F, b""),
        ((F, "", "file is empty; expected a header row"),),
    ),
    Case(
        "Windows-1252 text",
        cp1252(F, "Restructuring charges", "Restructuring charges \N{EURO SIGN}2m"),
        ((F, "row 7, column note", "not UTF-8 text (Windows-1252 or Latin-1?)"),),
    ),
    Case(
        "UTF-16 with its byte-order mark",
        lambda root: (root / F).write_bytes((root / F).read_text().encode("utf-16")),
        ((F, "row 1", "is UTF-16 text; save it as CSV UTF-8"),),
    ),
    Case(
        "a byte-order mark inside the header (two files joined)",
        replace(F, "period_end,fiscal_quarter", "period_end,\ufefffiscal_quarter"),
        ((F, "row 1, column \ufefffiscal_quarter", "a byte-order mark inside the header"),),
    ),
    Case(
        "an unknown facts file",
        write("facts/cerplex/forecast.csv", b"date\n1999-01-01\n"),
        (("facts/cerplex/forecast.csv", "", "unknown facts file"),),
    ),
    Case(
        "a spreadsheet in another format",
        write("facts/cerplex/financials.ods", b"PK"),
        (("facts/cerplex/financials.ods", "", "unknown file; facts are .csv or .xlsx"),),
    ),
    # Facts: names the agreement does not declare
    Case(
        "an unknown event",
        replace(E, "1996-11-22,senior_debt_action", "1996-11-22,covenant_breach"),
        ((E, "row 6, column event", "unknown event 'covenant_breach'"),),
    ),
    Case(
        "an unknown covenant",
        replace(E, "1996-11-15,reported_breach,6.4", "1996-11-15,reported_breach,6.99"),
        ((E, "row 5, column covenant", "unknown covenant '6.99'"),),
    ),
    Case(
        "a reported breach of a computed covenant",
        replace(E, "1996-11-15,reported_breach,6.4", "1996-11-15,reported_breach,6.20"),
        ((E, "row 5, column covenant", "covenant 6.20 is computed from the facts"),),
    ),
    Case(
        "an unknown instrument",
        replace(E, "waiver-1996-10-31", "waiver-1996-11-31"),
        ((E, "row 4, column instrument", "unknown instrument 'waiver-1996-11-31'"),),
    ),
    Case(
        "conditions satisfied of no instrument",
        replace(E, ",waiver-1996-10-31,", ",,"),
        ((E, "row 4, column instrument", "conditions_satisfied must name an instrument"),),
    ),
    Case(
        "a covenant named on a lender action",
        replace(E, "1996-11-22,senior_debt_action,,", "1996-11-22,senior_debt_action,6.3,"),
        ((E, "row 6, column covenant", "only reported_breach names a covenant"),),
    ),
    Case(
        "the same event twice",
        replace(E, "1998-04-01,blockage_start,,,", "1996-11-22,senior_debt_action,,,"),
        ((E, "row 7, column event", "the same event is recorded twice (also row 6)"),),
    ),
    Case(
        "a negative capitalized interest amount",
        replace(N, '"327,750.00"', '"(327,750.00)"'),
        ((N, "row 3, column initial_capitalized_interest_amount", "is negative"),),
    ),
    Case(
        "a holder listed twice",
        replace(
            N,
            "John Hancock Mutual Life Insurance Company",
            "The Northwestern Mutual Life Insurance Company",
        ),
        ((N, "row 3, column holder", "duplicate holder"),),
    ),
    Case(
        "a prime rate of 825%",
        replace(P, "1997-03-26,8.50", "1997-03-26,850"),
        ((P, "row 3, column rate_percent", "850 is not a percentage between 0 and 100"),),
    ),
    # Facts: Excel
    Case(
        "an Excel formula",
        workbook(lambda sheet: sheet.__setitem__("C3", "=C2*2")),
        ((XLSX, "row 3, column net_income", "holds a formula (=C2*2); enter its value instead"),),
    ),
    Case(
        "merged Excel cells",
        workbook(lambda sheet: sheet.merge_cells("E3:F3")),
        ((XLSX, "row 3, column accounts_receivable", "cells E3:F3 are merged"),),
    ),
    Case(
        "an Excel error value",
        workbook(lambda sheet: sheet.__setitem__("F3", "#DIV/0!")),
        ((XLSX, "row 3, column inventory", "'#DIV/0!' is not a number"),),
    ),
    Case(
        "a workbook whose sheet a program other than Excel broke",
        both(
            workbook(lambda sheet: sheet.__setitem__("F3", 1234567)),
            rezip("xl/worksheets/sheet1.xml", "<v>1234567</v>", "<v>inf</v>"),
        ),
        ((XLSX, "", "cannot read workbook"),),
    ),
    Case(
        "an Excel TRUE in an amount",
        workbook(lambda sheet: sheet.__setitem__("F3", True)),
        ((XLSX, "row 3, column inventory", "True is not a number"),),
    ),
    Case(
        "an Excel date with a time of day",
        workbook(lambda sheet: sheet.__setitem__("A3", datetime(1996, 6, 29, 9, 30))),
        ((XLSX, "row 3, column period_end", "has a time of day"),),
    ),
    Case(
        "a file named .xlsx that is not a workbook",
        write("facts/cerplex/revolver.xlsx", b"not a zip"),
        (("facts/cerplex/revolver.xlsx", "", "cannot read workbook"),),
    ),
    # Several problems in one file: all reported together
    Case(
        "three problems in one file",
        both(
            replace(F, '"9,000,000"', '"nine million"'),
            replace(F, "1997-03-29,1997Q1", "1997-02-30,1997Q1"),
            replace(F, '"30,800,000"', '"(30,800,000)"'),
        ),
        (
            (F, "row 10, column accounts_receivable", "'nine million' is not a number"),
            (F, "row 6, column period_end", "'1997-02-30' is not a date"),
            (F, "row 6, column current_liabilities", "is negative"),
        ),
    ),
    # Rules
    Case(
        "an unknown key in a covenant",
        rule_replace('breach_when = "below"', 'breach_when = "below"\nthresholds = "0.45"'),
        ((C620, "key covenant.thresholds", "unknown key"),),
    ),
    Case(
        "an unknown key in a schedule row",
        rule_replace('minimum = "0.47"', 'minimum = "0.47"\nmaximum = "2"'),
        ((C620, "key covenant.schedule[0].maximum", "unknown key"),),
    ),
    Case(
        "overlapping schedule rows",
        rule_replace('from = "1997Q3"\nthrough = "1997Q3"', 'from = "1997Q3"\nthrough = "1997Q4"'),
        ((C620, "key covenant.schedule[2].from", "overlaps the row before it"),),
    ),
    Case(
        "a gap in the schedule",
        rule_replace('from = "1998Q1"', 'from = "1998Q2"\n#'),
        ((C620, "key covenant.schedule[3].from", "a gap: the row before ends 1997Q4"),),
    ),
    Case(
        "a threshold without its citation",
        rule_replace(
            'source = "First Amendment Agreement (1997-08-20), Exhibit A item 5, Section 6.20 '
            "table, row 'March 31, 1998' (0.45 to 1.00)\"",
            "",
        ),
        ((C620, "key covenant.schedule[3].source", "required key is missing"),),
    ),
    Case(
        "a threshold that is not a number",
        rule_replace('minimum = "0.45"', 'minimum = "0.45x"'),
        ((C620, "key covenant.schedule[3].minimum", "is not a number"),),
    ),
    Case(
        "a schedule row that ends before it starts",
        rule_replace('from = "1997Q2"\nthrough = "1997Q2"', 'from = "1997Q2"\nthrough = "1997Q1"'),
        ((C620, "key covenant.schedule[0].through", "1997Q1 is before from 1997Q2"),),
    ),
    Case(
        "an unparseable metric",
        rule_replace(
            'metric = "current_assets / current_liabilities"',
            'metric = "current_assets / / current_liabilities"',
        ),
        ((C620, "key covenant.metric", ""),),
    ),
    Case(
        "a metric that names an undefined field",
        rule_replace(
            'metric = "current_assets / current_liabilities"',
            'metric = "current_assets / total_liabilities"',
        ),
        ((C620, "key covenant.metric", "total_liabilities"),),
    ),
    Case(
        "a metric that tries to run code",
        rule_replace(
            'metric = "current_assets / current_liabilities"',
            "metric = \"__import__('os').system('true')\"",
        ),
        ((C620, "key covenant.metric", ""),),
    ),
    Case(
        "an unknown kind of test",
        rule_replace('test = "fiscal_quarter_end"', 'test = "monthly"'),
        ((C620, "key covenant.test", "'monthly' is not one of"),),
    ),
    Case(
        "an amendment that no rule file declares",
        rule_replace(
            'amended_by = "first-amendment-1997-08-20"', 'amended_by = "second-amendment"'
        ),
        (
            (
                C620,
                "key covenant.amended_by",
                "names instrument 'second-amendment', which no rule file declares",
            ),
        ),
    ),
    Case(
        "a rule file saved as Windows-1252",
        cp1252(C620, 'title = "Current Ratio"', 'title = "Current Ratio \N{EN DASH} 6.20"'),
        ((C620, "row 3", "not UTF-8 text (Windows-1252 or Latin-1?); save it as UTF-8"),),
    ),
    Case(
        "a rule file that is not TOML",
        rule_replace('minimum = "0.45"', "minimum = 0.45 0.46"),
        ((C620, "", "not valid TOML"),),
    ),
    Case(
        # Once let into a text, it reached the reports, and PostgreSQL refused to store it.
        "a NUL byte in a note",
        replace(E, "Section 4 conditions met at closing", "Section 4 conditions\0 met at closing"),
        ((E, "row 4, column note", "holds a NUL character (byte 0): the file is damaged"),),
    ),
    Case(
        "a NUL byte in the header",
        replace(E, "date,event,covenant", "date,event,\0covenant"),
        ((E, "row 1, column 3", "holds a NUL character (byte 0)"),),
    ),
    Case(
        "a UTF-16 file without its byte-order mark",
        lambda root: (root / E).write_bytes((root / E).read_text().encode("utf-16-le")),
        ((E, "row 1", "is UTF-16 text (without a byte-order mark); save it as CSV UTF-8"),),
    ),
    # Rules: the folders, their files and the kinds of value
    Case("no rules folder", remove("rules"), (("rules", "", "rules folder not found"),)),
    Case(
        "a rules folder without agreement folders",
        remove(A),
        (("rules", "", "no agreement folders (rules/<agreement>/)"),),
    ),
    Case(
        "an agreement folder without rule files",
        remove(*(f"{A}/{p.name}" for p in sorted(RULES.glob("cerplex/*.toml")))),
        ((A, "", "no rule files (*.toml)"),),
    ),
    Case(
        "an agreement folder without its [agreement] file",
        remove(f"{A}/agreement.toml"),
        ((A, "", "expected one [agreement] file, found 0"),),
    ),
    Case(
        "a rule file of two tables",
        rule_replace("[covenant]\n", '[agreement]\nname = "Cerplex"\n\n[covenant]\n'),
        (
            (
                C620,
                "",
                "holds exactly one table: [agreement], [covenant], [instrument] or [interest]; "
                "found agreement, covenant",
            ),
        ),
    ),
    Case(
        "a rule file of comments only",
        write(f"{A}/notes.toml", b"# Section 6.22 to come\n"),
        (
            (
                f"{A}/notes.toml",
                "",
                "holds exactly one table: [agreement], [covenant], [instrument] or "
                "[interest]; found nothing",
            ),
        ),
    ),
    Case(
        "a covenant that is a value, not a table",
        write(C620, b'covenant = "6.20"\n'),
        ((C620, "key covenant", "must be a table"),),
    ),
    Case(
        "a covenant's section declared in two files",
        copy(C620, f"{A}/covenant-6.20-copy.toml"),
        # Read in name order: the copy first, so the original is the second declaration.
        (
            (
                C620,
                "key covenant.section",
                f"section 6.20 is already declared in {{root}}/{A}/covenant-6.20-copy.toml",
            ),
        ),
    ),
    Case(
        "an instrument declared in two files",
        copy(W, f"{A}/instrument-waiver-copy.toml"),
        (
            (
                f"{A}/instrument-waiver-copy.toml",
                "key instrument.id",
                f"instrument waiver-1996-10-31 is already declared in {{root}}/{W}",
            ),
        ),
    ),
    Case(
        "interest terms declared in two files",
        copy(I41, f"{A}/interest-copy.toml"),
        ((f"{A}/interest-copy.toml", "key interest", f"already declared in {{root}}/{I41}"),),
    ),
    Case(
        "a title of spaces",
        rule_replace('title = "Current Ratio"', 'title = "  "'),
        ((C620, "key covenant.title", "must not be empty"),),
    ),
    Case(
        "a metric over two facts tables",
        rule_replace(
            'metric = "current_assets / current_liabilities"',
            'metric = "current_assets / revolving_loans_outstanding"',
        ),
        ((C620, "key covenant.metric", "a metric must read the amounts of one facts table only"),),
    ),
    Case(
        "an amount added to the metric from another facts table",
        replace(C621, 'plus = "net_securities_proceeds"', 'plus = "revolving_loans_available"'),
        ((C621, "key covenant.plus", "must read the same table as the metric (financials)"),),
    ),
    Case(
        "two schedule rows starting the same quarter",
        rule_replace('from = "1997Q3"\nthrough = "1997Q3"', 'from = "1997Q2"\nthrough = "1997Q3"'),
        ((C620, "key covenant.schedule[1].from", "duplicate row starting 1997Q2"),),
    ),
    Case(
        "a schedule written as one value, not rows",
        lambda root: (root / C620).write_text(
            (root / C620).read_text().split("[[covenant.schedule]]")[0] + 'schedule = "0.47"\n'
        ),
        ((C620, "key covenant.schedule", "expected an array of tables ([[...]])"),),
    ),
    Case(
        "a date with a time of day",
        replace(I41, "monthly_from = 1998-03-19", "monthly_from = 1998-03-19T00:00:00"),
        ((I41, "key interest.payments.monthly_from", "expected a date without a time of day"),),
    ),
    Case(
        "a quoted date in a list of dates",
        replace(
            I41,
            "semi_annual = [1997-08-19, 1998-02-19]",
            'semi_annual = [1997-08-19, "1998-02-19"]',
        ),
        (
            (
                I41,
                "key interest.payments.semi_annual",
                "expected a list of dates such as [1997-08-19]",
            ),
        ),
    ),
    Case(
        "an empty name among a waiver's covenants",
        replace(W, 'covenants = ["6.3", "6.4"]', 'covenants = ["6.3", ""]'),
        ((W, "key instrument.waiver.covenants", "expected a list of non-empty text"),),
    ),
    # Section 4.1, the counsel fee reserve, filings and the Senior Debt cap.
    Case(
        "an election for a date that is not a capitalization date",
        replace(PIK, "1998-02-19,1998-02-13", "1998-02-18,1998-02-13"),
        ((PIK, "row 2, column payment_date", "is not an interest payment date"),),
    ),
    Case(
        "an election notice after its payment date",
        replace(PIK, "1998-02-19,1998-02-13", "1998-02-19,1998-02-20"),
        ((PIK, "row 2, column notice_date", "is after the payment date 1998-02-19"),),
    ),
    Case(
        "a blockage that ends before it starts",
        replace(E, "1998-04-01,blockage_start", "1998-05-07,blockage_start"),
        ((E, "row 8, column event", "blockage_end with no blockage_start before it"),),
    ),
    Case(
        "a negative reserve balance",
        replace(RES, '1998-01-15,"32,500"', '1998-01-15,"(32,500)"'),
        ((RES, "row 3, column balance", "is negative"),),
    ),
    Case(
        "a filing delivered before it was filed",
        replace(FIL, "1997-11-14,1997-12-05", "1997-11-14,1997-11-13"),
        ((FIL, "row 3, column delivered", "is before the filing date 1997-11-14"),),
    ),
    Case(
        "a Senior Debt row without its Permanent Reductions",
        replace(WF, '1997-09-27,"30,000,000","1,500,000"', '1997-09-27,"30,000,000",'),
        ((WF, "row 2, column term_loan_permanent_reductions", "required value is blank"),),
    ),
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> Path:
    """An audit log of a good run, copied into each case."""
    db = tmp_path_factory.mktemp("log") / "log.db"
    assert main(["run", "--rules", str(RULES), "--facts", str(EXAMPLE_FACTS), "--db", str(db)]) == 1
    return db


def test_the_catalogue_holds_at_least_forty_cases():
    assert len({c.name for c in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused_with_file_row_and_column_and_nothing_written(case, tmp_path, logged, capsys):
    shutil.copytree(RULES, tmp_path / "rules")
    shutil.copytree(EXAMPLE_FACTS, tmp_path / "facts")
    db = tmp_path / "log.db"
    shutil.copy(logged, db)
    before = digest(db)
    case.breaks(tmp_path)
    capsys.readouterr()
    code = main(
        [
            "run",
            "--rules",
            str(tmp_path / "rules"),
            "--facts",
            str(tmp_path / "facts"),
            "--db",
            str(db),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert digest(db) == before
    assert "Traceback" not in err
    for file, where, message in case.expected:
        place = f"{tmp_path / file.split(' [')[0]}" + (
            f" [{file.split(' [')[1]}" if " [" in file else ""
        )
        head = f"{place}, {where}: " if where else f"{place}: "
        message = message.format(root=tmp_path)
        assert any(line.startswith(head) and message in line for line in err.splitlines()), (
            f"expected a line starting {head!r} containing {message!r} in:\n{err}"
        )
