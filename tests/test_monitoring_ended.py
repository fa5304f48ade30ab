"""A facility whose monitoring ended (repaid, refinanced, its notes sold): its facility.toml says
on what day (`ended`) and why (`ended_reason`). It is evaluated as of that day at the latest, the
log records the end, its folder may then go without a run noting it, and a report lists it last.

Figures follow the Cerplex package as the portfolio tests use it: from the quarter ending June
30, 1998 "and thereafter", Section 6.20's minimum current ratio is 1.00 (First Amendment
Agreement, Exhibit A item 5), here current assets over current liabilities of 20,000,000; 6.18
needs $5,000,000 of net income, 6.19 a ratio of 0.670 and 6.21 $5,000,000 of tangible net
worth, which every quarter below meets.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

from openpyxl import load_workbook

from conftest import RULES, ratio_quarter, write_table
from engine import audit, cli

SOLD = """\
[facility]
agreement = "cerplex"
borrower = "Sold Holdings, Inc."
ended = 1998-08-31
ended_reason = "Notes sold to another holder"
"""
# Current assets in June and September 1998
CURRENT_ASSETS = {"sold": (19000000, 19000000), "kept": (21000000, 22000000)}
KEPT = '[facility]\nagreement = "cerplex"\nborrower = "Kept Manufacturing Co."\n'


def book(root: Path, sold: str = SOLD) -> Path:
    """Sold's current ratio is 19,000,000 / 20,000,000 = 0.95 < 1.00 in both quarters: a breach
    in June 1998, and one in September if it were still monitored. Kept's is 1.05 and 1.10."""
    for name, declared in (("sold", sold), ("kept", KEPT)):
        june, september = CURRENT_ASSETS[name]
        rows = [ratio_quarter("1998-06-30", june), ratio_quarter("1998-09-30", september)]
        write_table(root / name, "financials", rows)
        (root / name / "facility.toml").write_text(declared)
    return root


def run(facts: Path, db, as_of: str = "2026-01-01") -> int:
    args = ["run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)]
    return cli.main([*args, "--as-of", as_of])


def ratio_days(events, facility: str, kind: str) -> list[date]:
    return sorted(
        e.date for e in events if (e.agreement, e.covenant, e.event) == (facility, "6.20", kind)
    )


def test_a_facility_is_evaluated_as_of_the_day_its_monitoring_ended(
    tmp_path: Path, store_log, capsys, loads
) -> None:
    """Run as of 2026: sold's June 1998 quarter is tested and breaches; its September quarter
    comes after August 31, 1998, the end of its monitoring, and is not tested; kept's is. The
    end is recorded once, with its reason; later runs do not evaluate sold again, and once its
    folder is gone, do not name it (kept's, gone too, they do)."""
    facts, db = book(tmp_path / "facts"), store_log.db
    assert run(facts, db) == 1
    out = capsys.readouterr().out
    assert re.search(r"1998-08-31 +sold +- +monitoring_ended +Notes sold to another holder", out)
    events = audit.read(db)
    assert ratio_days(events, "sold", "test") == [date(1998, 6, 30)]
    assert ratio_days(events, "sold", "breach") == [date(1998, 6, 30)]
    assert ratio_days(events, "kept", "test") == [date(1998, 6, 30), date(1998, 9, 30)]
    [ended] = [e for e in events if e.event == "monitoring_ended"]
    assert (ended.agreement, ended.date) == ("sold", date(1998, 8, 31))
    assert ended.details["reason"] == "Notes sold to another holder"
    held = {e.key: e.version for e in events}

    loads.clear()
    assert run(facts, db, "2026-02-01") == 0
    assert loads == Counter()  # neither is evaluated again: nothing changed by its own date
    for name in ("sold", "kept"):
        (facts / name).rename(tmp_path / name)
    capsys.readouterr()
    assert run(facts, db, "2026-03-01") == 0
    err = capsys.readouterr().err
    assert "facility kept, which the audit log holds" in err
    assert "sold" not in err
    assert {e.key: e.version for e in audit.read(db)} == held


def test_monitoring_ends_in_a_later_run_once_its_day_comes(
    tmp_path: Path, store_log, capsys
) -> None:
    """As of August 1, 1998 sold is monitored (its June quarter tested, no end recorded); a run
    as of 2026 records the end and leaves September untested: the log then holds what a single
    run as of 2026 records."""
    facts, db = book(tmp_path / "facts"), store_log.db
    assert run(facts, db, "1998-08-01") == 1
    assert not [e for e in audit.read(db) if e.event == "monitoring_ended"]
    assert run(facts, db) == 0  # nothing that needs attention: an end, kept's September test
    events = audit.read(db)
    assert [(e.agreement, e.date) for e in events if e.event == "monitoring_ended"] == [
        ("sold", date(1998, 8, 31))
    ]
    assert ratio_days(events, "sold", "test") == [date(1998, 6, 30)]
    fresh = tmp_path / "fresh.db"
    assert run(facts, fresh) == 1
    assert {(e.key, e.version) for e in events} == {(e.key, e.version) for e in audit.read(fresh)}


def test_a_report_lists_a_facility_whose_monitoring_ended_last(
    tmp_path: Path, store_log, capsys
) -> None:
    """Sold is in default after its June quarter, kept compliant: as of 2026 sold comes after
    kept all the same, its status saying when monitoring ended, and is not detailed as needing
    attention; as of August 30, 1998, before the end, it comes first and is detailed. The
    view counts its facilities by status: sold's June 1998 current ratio of 0.95 was an Event
    of Default that day (Section 6.20 has no grace period), and kept complied."""
    facts, db = book(tmp_path / "facts"), store_log.db
    assert run(facts, db) == 1
    capsys.readouterr()
    assert cli.main(["report", "--db", str(db), "--format", "json"]) == 0
    model = json.loads(capsys.readouterr().out)
    rows = model["portfolio"]
    assert [(s["label"], s["facilities"]) for s in model["by_status"]] == [
        ("compliant", 1),
        ("monitoring ended", 1),
    ]
    assert [r["facility"] for r in rows] == ["kept", "sold"]
    sold = rows[1]
    assert (sold["ended"], sold["tested_through"], sold["detailed"]) == (
        "1998-08-31",
        "1998-06-30",
        False,
    )
    assert sold["status_label"].endswith("; monitoring ended 1998-08-31")
    assert sold["status"] != "compliant"
    assert cli.main(["report", "--db", str(db), "--facility", "sold"]) == 0
    assert "**Monitoring ended on 1998-08-31** [" in capsys.readouterr().out
    assert cli.main(["report", "--db", str(db), "--format", "json", "--as-of", "1998-08-30"]) == 0
    model = json.loads(capsys.readouterr().out)
    assert [(r["facility"], r["ended"], r["detailed"]) for r in model["portfolio"]] == [
        ("sold", None, True),
        ("kept", None, False),
    ]
    # Its calendar, while it is monitored: the Notes' interest on the 19th (Section 4.1(a)(y))
    (detailed,) = model["agreements"]
    assert [x["date"] for x in detailed["dates_ahead"]][:2] == ["1998-09-19", "1998-10-19"]
    # and none once it has ended, when kept's goes on
    args = ["report", "--db", str(db), "--format", "json", "--as-of", "1998-09-01"]
    assert cli.main([*args, "--detail", "all"]) == 0
    ahead = {
        a["agreement"]: a["dates_ahead"] for a in json.loads(capsys.readouterr().out)["agreements"]
    }
    assert (ahead["sold"], ahead["kept"][0]["date"]) == ([], "1998-09-19")
    assert cli.main(["report", "--db", str(db), "--as-of", "1998-08-30"]) == 0
    assert "\nBy status: 1 event of default; 1 compliant.\n" in capsys.readouterr().out
    # In Excel, a sheet of its own, with the facilities counted in all; the Portfolio's rows
    # can be filtered (by status, say).
    out = tmp_path / "book.xlsx"
    for as_of, counts in [
        ("1998-08-30", [("event of default", 1), ("compliant", 1)]),
        ("2026-01-01", [("compliant", 1), ("monitoring ended", 1)]),
    ]:
        options = ["--format", "xlsx", "--out", str(out), "--as-of", as_of]
        assert cli.main(["report", "--db", str(db), *options]) == 0
        workbook = load_workbook(out)
        assert workbook.sheetnames[:3] == ["Portfolio", "By status", "Summary"]
        assert list(workbook["By status"].values) == [
            ("Status", "Facilities"),
            *counts,
            ("All facilities", 2),
        ]
        assert workbook["Portfolio"].auto_filter.ref == "A1:P3"  # sixteen columns, two facilities


def test_an_end_withdrawn_from_facility_toml_tests_what_followed(
    tmp_path: Path, store_log, capsys
) -> None:
    """The end of monitoring declared by mistake and taken out: the next run tests sold's
    September quarter (0.95 < 1.00, a breach) and withdraws the recorded end."""
    facts, db = book(tmp_path / "facts"), store_log.db
    assert run(facts, db) == 1
    book(facts, SOLD.split("ended =")[0])
    assert run(facts, db) == 1
    events = audit.read(db)
    assert not [e for e in events if e.event == "monitoring_ended"]
    assert ratio_days(events, "sold", "breach") == [date(1998, 6, 30), date(1998, 9, 30)]
