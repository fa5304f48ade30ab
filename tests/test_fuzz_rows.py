"""Property-based tests with valid rows: the example's facts with some tables replaced by rows a
controller could give (dates from 1996 to the last date there is, amounts of any size), run at
any as-of date, run again, and reported in every format. Whatever the rows, the run exits 0, 1
or 2, the rerun records nothing, and each report is written: never a traceback (exit 6), never
a warning. A longer run of this found a report that tripped on a prepayment quote, a chart
that warned, and a blockage before the Default Rate is declared."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLE_FACTS, RULES, write_table
from engine.cli import main
from engine.values import FiscalQuarter

# Mostly the years the agreement covers, sometimes any year up to the last date there is.
DAY = st.one_of(st.dates(date(1996, 1, 1), date(2003, 12, 31)), st.dates(date(1996, 1, 1)))
AMOUNT = st.decimals(-(10**9), 10**9, places=0).map(str)
POSITIVE = st.decimals(0, 10**9, places=2).map(str)
HOLDERS = [
    "The Northwestern Mutual Life Insurance Company",
    "John Hancock Mutual Life Insurance Company",
    "North Atlantic Smaller Companies Investment Trust PLC",
]
INSTRUMENTS = [
    "waiver-1996-10-31",
    "first-amendment-1997-08-20",
    "warrant-second-amendment-1997-04-09",
]


def days(draw, most: int) -> list[date]:
    return sorted(set(draw(st.lists(DAY, min_size=1, max_size=most))))


@st.composite
def financials(draw) -> tuple[str, list[dict]]:
    """Quarter-end rows, each on its quarter's nominal end."""
    quarters = draw(st.lists(st.integers(1996 * 4, 9999 * 4 + 3), min_size=1, max_size=10))
    rows = []
    for number in sorted(set(quarters)):
        quarter = FiscalQuarter(number // 4, number % 4 + 1)
        amounts = ["accounts_receivable", "inventory", "wells_fargo_debt", "current_assets"]
        rows.append(
            {
                "period_end": quarter.nominal_end.isoformat(),
                "fiscal_quarter": str(quarter),
                "net_income": draw(AMOUNT),
                "tangible_net_worth": draw(AMOUNT),
                "current_liabilities": draw(POSITIVE),
                **{name: draw(POSITIVE) for name in amounts},
            }
        )
    return "financials", rows


@st.composite
def revolver(draw) -> tuple[str, list[dict]]:
    return "revolver", [
        {
            "date": day.isoformat(),
            "revolving_loans_outstanding": draw(POSITIVE),
            "revolving_loans_available": draw(POSITIVE),
        }
        for day in days(draw, 8)
    ]


@st.composite
def counsel_reserve(draw) -> tuple[str, list[dict]]:
    return "counsel_reserve", [
        {"date": day.isoformat(), "balance": draw(POSITIVE)} for day in days(draw, 6)
    ]


@st.composite
def filings(draw) -> tuple[str, list[dict]]:
    rows = []
    for number, day in enumerate(days(draw, 6)):
        after = draw(st.one_of(st.none(), st.integers(0, 60)))  # days; None: not delivered
        late = after is None or (date.max - day).days < after
        delivered = "" if late else (day + timedelta(days=after)).isoformat()
        rows.append(
            {"document": f"10-Q {number}", "filed": day.isoformat(), "delivered": delivered}
        )
    return "filings", rows


@st.composite
def events(draw) -> tuple[str, list[dict]]:
    rows, blocked = [], False
    for day in sorted(draw(st.lists(DAY, min_size=1, max_size=8))):
        kind = draw(
            st.sampled_from(["reported_breach", "senior_debt_action", "conditions", "block"])
        )
        row = {"date": day.isoformat()}
        if kind == "reported_breach":
            row |= {"event": kind, "covenant": draw(st.sampled_from(["6.3", "6.4"]))}
        elif kind == "conditions":
            row |= {
                "event": "conditions_satisfied",
                "instrument": draw(st.sampled_from(INSTRUMENTS)),
            }
        elif kind == "block":
            row["event"], blocked = ("blockage_end" if blocked else "blockage_start"), not blocked
        else:
            row["event"] = kind
        rows.append(row)
    return "events", rows


@st.composite
def note_payments(draw) -> tuple[str, list[dict]]:
    return "note_payments", [
        {
            "date": day.isoformat(),
            "holder": draw(st.sampled_from(HOLDERS)),
            "amount": draw(POSITIVE),
        }
        for day in days(draw, 6)
    ]


@st.composite
def pik_elections(draw) -> tuple[str, list[dict]]:
    """Elections for the 19th of a month from February 1998 to the Notes' maturity."""
    rows = []
    for months in sorted(set(draw(st.lists(st.integers(0, 45), min_size=1, max_size=4)))):
        year, month = divmod(1 + months, 12)
        payment = date(1998 + year, month + 1, 19)
        notice = payment - timedelta(days=draw(st.integers(0, 40)))
        rows.append({"payment_date": payment.isoformat(), "notice_date": notice.isoformat()})
    return "pik_elections", rows


TABLES_DRAWN = st.one_of(
    financials(),
    revolver(),
    counsel_reserve(),
    filings(),
    events(),
    note_payments(),
    pik_elections(),
)


# What a longer run found: a quote open on the as-of date (Section 4.1(e), through August 19,
# 1998); a chart of 49 months; a blockage before the Default Rate is declared (1997-02-19).
QUOTE = [("pik_elections", [{"payment_date": "1998-02-19", "notice_date": "1998-02-17"}])]
CHART = [("filings", [{"document": "10-Q", "filed": "2000-04-01", "delivered": ""}])]
BLOCKAGE = [("events", [{"date": "1997-01-01", "event": "blockage_start"}])]


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@example(QUOTE, ["--as-of", "1998-03-01"])
@example(CHART, [])
@example(BLOCKAGE, [])
@given(
    st.lists(TABLES_DRAWN, min_size=1, max_size=3, unique_by=lambda drawn: drawn[0]),
    st.one_of(st.just([]), DAY.map(lambda day: ["--as-of", day.isoformat()])),
)
def test_valid_rows_run_rerun_and_report(tmp_path_factory, capsys, tables, as_of) -> None:
    root = tmp_path_factory.mktemp("rows")
    shutil.copytree(EXAMPLE_FACTS, root / "facts")
    for table, rows in tables:
        write_table(root / "facts" / "cerplex", table, rows)
    db = str(root / "log.db")
    run = ["run", "--rules", str(RULES), "--facts", str(root / "facts"), "--db", db, *as_of]
    code = main(run)
    assert code in (0, 1, 2), capsys.readouterr().err
    if code != 2:
        assert main(run) == 0, capsys.readouterr().err
        for kind in ("md", "html", "xlsx"):
            out = str(root / f"report.{kind}")
            report = ["report", "--db", db, "--format", kind, "--out", out]
            assert main(report) == 0, capsys.readouterr().err
    capsys.readouterr()
