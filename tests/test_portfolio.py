"""A portfolio: facilities that follow one shared agreement (the Cerplex covenant package) with
overrides of their own, run, logged and reported together or one at a time.

The package's Section 6.20 minimum is 1.00 from the fiscal quarter ending June 30, 1998
"and thereafter" (First Amendment Agreement, Exhibit A item 5). The facility `acme` overrides
it with 1.10 for 1998Q2 and 1998Q3 and gives 6.20 a 30-day grace period; `plain` follows the
package as it is. Every other covenant is met by the figures below (1998Q2 onwards: 6.18 needs
$5,000,000 of net income, 6.19 a ratio of 0.670, 6.21 $5,000,000 of tangible net worth).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys
import weakref
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook

from conftest import LATE, RULES, write_table
from engine import audit, cli, pipeline, restate, runner
from engine import portfolio as portfolio_module
from engine.errors import InputError
from engine.facts import load_facts
from engine.lifecycle import canonical
from engine.pipeline import evaluate_portfolio, monitor
from engine.portfolio import FACILITY_FILE, in_partition, load_portfolio, splice
from engine.report import build, render, write_pages
from engine.report.html import page_files
from engine.report.text import followed, tally
from engine.rules import Threshold
from engine.snapshot import folder_files
from engine.values import FiscalQuarter

ACME = """\
[facility]
agreement = "cerplex"
borrower = "Acme Holdings, Inc."
name = "Acme Holdings Senior Notes"

[[facility.override]]
covenant = "6.20"
from = "1998Q2"
through = "1998Q3"
minimum = "1.10"
source = "Acme Note Agreement (1998-05-01), Section 6.20"

[[facility.override]]
covenant = "6.20"
grace_days = 30
source = "Acme Note Agreement (1998-05-01), Section 7.1(c)"
"""
PLAIN = """\
[facility]
agreement = "cerplex"
borrower = "Plain Manufacturing Co."
"""


def compliant_quarter(period_end: str, current_assets: str) -> dict[str, object]:
    """A quarter that meets 6.18, 6.19 and 6.21; 6.20 is current_assets / 20,000,000."""
    return {
        "period_end": period_end,
        "net_income": "6,000,000",
        "accounts_receivable": "8,000,000",
        "inventory": "2,000,000",
        "wells_fargo_debt": "10,000,000",
        "current_assets": current_assets,
        "current_liabilities": "20,000,000",
        "tangible_net_worth": "9,000,000",
    }


QUARTERS = [
    compliant_quarter("1998-06-30", "21,000,000"),  # 1.05
    compliant_quarter("1998-09-30", "22,000,000"),  # 1.10
    compliant_quarter("1998-12-31", "20,500,000"),  # 1.025
]


@pytest.fixture
def portfolio(tmp_path: Path) -> Path:
    facts = tmp_path / "facts"
    for name, declared in (("acme", ACME), ("plain", PLAIN)):
        write_table(facts / name, "financials", QUARTERS)
        (facts / name / "facility.toml").write_text(declared)
    return facts


def covenant_tests(events, facility: str, section: str):
    return {
        e.date: e
        for e in events
        if e.agreement == facility and e.event == "test" and e.covenant == section
    }


def test_override_applies_to_its_facility_and_quarters_only(portfolio: Path) -> None:
    events = monitor(RULES, portfolio, LATE).events
    acme, plain = covenant_tests(events, "acme", "6.20"), covenant_tests(events, "plain", "6.20")
    # 1998Q2: 21,000,000 / 20,000,000 = 1.05, less than acme's 1.10: a breach.
    q2 = acme[date(1998, 6, 30)]
    assert (q2.details["value"], q2.details["threshold"]) == ("1.05", "1.10")
    assert q2.details["result"] == "breach"
    assert q2.details["clause"] == "Acme Note Agreement (1998-05-01), Section 6.20"
    # 1998Q3: 22,000,000 / 20,000,000 = 1.10, equal to the minimum: compliant.
    assert acme[date(1998, 9, 30)].details["result"] == "compliant"
    # 1998Q4: the override has ended; the package's 1.00 applies to 1.025.
    q4 = acme[date(1998, 12, 31)]
    assert (q4.details["threshold"], q4.details["result"]) == ("1.00", "compliant")
    assert "June 30, 1998 and thereafter" in q4.details["clause"]
    # The same figures under the package alone: 1.05 is not less than 1.00.
    assert plain[date(1998, 6, 30)].details["result"] == "compliant"
    assert not [e for e in events if e.agreement == "plain" and e.event == "breach"]


TERMS = ("covenant_terms", "interest_terms")


def test_a_packages_terms_are_stored_once_for_every_facility_that_follows_it(
    portfolio: Path, tmp_path: Path
) -> None:
    """A package's terms are the same for each facility that follows it, 1 to 3 KB a covenant
    (a quarter of a portfolio's log): each facility's terms events name one file that holds
    them, by its digest. acme's Section 6.20, overridden, has a file of its own. Every reader
    gives them whole, as the evaluation made them."""
    db = tmp_path / "log.db"
    args = ["run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert cli.main([*args, "--workers", "2"]) == 1
    with contextlib.closing(sqlite3.connect(db)) as connection:
        named = {
            (agreement, covenant): json.loads(details)
            for agreement, covenant, details in connection.execute(
                "SELECT agreement, covenant, details FROM events WHERE event IN (?, ?)", TERMS
            )
        }
        files = dict(connection.execute("SELECT sha256, content FROM files"))
    covenants = {covenant for _, covenant in named}
    assert len(covenants) == 11  # ten covenants and Section 4.1's interest terms
    assert [c for c in covenants if named["acme", c] != named["plain", c]] == ["6.20"]
    assert len(set(named.values())) == len(covenants) + 1
    made = {
        (e.agreement, e.covenant): e.details
        for e in monitor(RULES, portfolio, LATE).events
        if e.event in TERMS
    }
    for where, sha in named.items():
        assert hashlib.sha256(files[sha]).hexdigest() == sha
        assert json.loads(files[sha]) == made[where]
    read = {(e.agreement, e.covenant): e.details for e in audit.read(db) if e.event in TERMS}
    assert read == made


def test_a_packages_test_shapes_are_stored_once_for_every_facility_that_follows_it(
    portfolio: Path, tmp_path: Path
) -> None:
    """A covenant test's shape (its terms: clause, table row, metric, minimum, title) is the
    same for each facility that follows the package, 0.5 to 0.7 KB each, 8.5 KB of a 40-quarter
    facility's tests row before schema 7: each facility's tests row names the file that holds
    each of its shapes, by digest. acme's Section 6.20 override (1.10 for 1998Q2 and 1998Q3) gives
    the one shape plain's tests do not have; its 1998Q4 test is on the package's row. Every
    reader gives the tests whole, as the evaluation made them."""
    db = tmp_path / "log.db"
    args = ["run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert cli.main([*args, "--workers", "2"]) == 1
    with contextlib.closing(sqlite3.connect(db)) as connection:
        named = {
            agreement: json.loads(details)["shapes"]
            for agreement, details in connection.execute(
                "SELECT agreement, details FROM events WHERE event = 'tests'"
            )
        }
        files = dict(connection.execute("SELECT sha256, content FROM files"))
    acme, plain = set(named["acme"]), set(named["plain"])
    assert len(named["acme"]) == len(acme) and plain < acme and len(acme - plain) == 1
    [override] = [json.loads(files[sha]) for sha in acme - plain]
    assert override["covenant"] == "6.20" and override["fixed"]["minimum"] == "1.10"
    assert override["fixed"]["clause"] == "Acme Note Agreement (1998-05-01), Section 6.20"
    for sha in acme:
        assert hashlib.sha256(files[sha]).hexdigest() == sha
    made = [(e.key, e.version, e.details) for e in monitor(RULES, portfolio, LATE).events]
    read = [(e.key, e.version, e.details) for e in audit.read(db) if e.event == "test"]
    assert read == [m for m in made if m[0].split("|")[1] == "test"]


def test_grace_override_dates_the_event_of_default(portfolio: Path) -> None:
    # Breach on June 30, 1998; 30 days of grace: Event of Default on July 30, 1998.
    during = monitor(RULES, portfolio, date(1998, 7, 15), only=["acme"]).events
    grace = [e for e in during if e.event == "grace_period" and e.covenant == "6.20"]
    assert [e.details["event_of_default_on"] for e in grace] == ["1998-07-30"]
    assert not [e for e in during if e.event == "event_of_default"]
    after = monitor(RULES, portfolio, LATE, only=["acme"]).events
    eod = [e for e in after if e.event == "event_of_default" and e.covenant == "6.20"]
    assert [(e.date, e.details["grace_days"]) for e in eod] == [(date(1998, 7, 30), 30)]


ACME_WAIVER = """
[[facility.instrument]]
id = "acme-waiver-1998-08-14"
title = "Acme Waiver Letter"
dated = 1998-08-14
document = "Acme waiver letter of August 14, 1998"
effective = 1998-08-14
text = "The holders waive the Event of Default under Section 6.20 for the June 1998 quarter."
waiver = { covenants = ["6.20"], breaches_before = "effective", source = "Acme waiver, para. 1" }
"""


def test_a_facility_waiver_of_its_own_waives_its_breach_only(portfolio: Path) -> None:
    """acme's breach of 6.20 on June 30, 1998 (1.05 < 1.10) is dated before its own waiver
    takes effect on August 14, 1998: waived, so neither a Default nor, after 30 days' grace,
    an Event of Default on July 30. The package's instruments still apply to it."""
    path = portfolio / "acme" / "facility.toml"
    path.write_text(ACME + ACME_WAIVER)
    events = monitor(RULES, portfolio, LATE, only=["acme"]).events
    on_620 = {(e.event, e.date) for e in events if e.covenant == "6.20"} - {
        (e.event, e.date) for e in events if e.event in ("test", "covenant_terms")
    }
    assert on_620 == {("breach", date(1998, 6, 30)), ("waived", date(1998, 6, 30))}
    waived = next(e for e in events if e.event == "waived")
    assert waived.details["instrument"] == "acme-waiver-1998-08-14"
    assert waived.details["clause"] == "Acme waiver, para. 1"
    effective = {e.details["instrument"] for e in events if e.event == "instrument_effective"}
    assert effective == {
        "acme-waiver-1998-08-14",
        "first-amendment-1997-08-20",
        "warrant-second-amendment-1997-04-09",
    }  # the package's 1996 waiver waits on conditions precedent acme's facts do not record


def test_a_waiver_added_to_a_facility_withdraws_its_event_of_default(
    portfolio: Path, store_log, capsys
) -> None:
    """The log holds acme's Event of Default of July 30, 1998; the waiver letter, added to its
    facility.toml, withdraws the default and the Event of Default in a restatement that names
    the file, and the portfolio view no longer shows acme in default."""
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    before = {(e.event, e.seq) for e in audit.read(db) if e.agreement == "acme"}
    (portfolio / "acme" / "facility.toml").write_text(ACME + ACME_WAIVER)
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    (notice,) = [e for e in audit.read(db) if e.event == "restatement"]
    assert notice.agreement == "acme"
    assert {"facility_file": "facility.toml", "change": "edited"} in notice.details["changes"]
    withdrawn = {event for event, seq in before if seq in notice.details["withdrawn"]}
    assert withdrawn == {"default", "event_of_default"}
    rows = build(audit.read(db))["portfolio"]
    assert [(r["facility"], r["open_defaults"]) for r in rows if r["facility"] == "acme"] == [
        ("acme", 0)
    ]


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ('covenants = ["6.20"]', 'covenants = ["9.99"]', "waiver.covenants", "'9.99' is not"),
        ('covenants = ["6.20"]', 'covenants = ["6.3"]', "waiver.covenants", "waiver-1996-10-31"),
        ('id = "acme-waiver-1998-08-14"', 'id = "waiver-1996-10-31"', "id", "declared already"),
        ("effective = 1998-08-14", 'effective = "soon"', "effective", "date"),
    ],
)
def test_a_bad_facility_instrument_is_refused_naming_file_and_key(
    portfolio: Path, old: str, new: str, key: str, says: str
) -> None:
    path = portfolio / "acme" / "facility.toml"
    path.write_text(ACME + ACME_WAIVER.replace(old, new))
    with pytest.raises(InputError) as refused:
        load_portfolio(RULES, portfolio)
    (problem,) = refused.value.problems
    assert problem.file == str(path) and problem.key == f"facility.instrument[0].{key}"
    assert says in problem.message


def test_schedule_is_spliced_and_recorded_in_the_facilitys_terms(portfolio: Path) -> None:
    events = monitor(RULES, portfolio, LATE, only=["acme"]).events
    terms = next(e for e in events if e.event == "covenant_terms" and e.covenant == "6.20")
    rows = [(r["from"], r["through"], r["minimum"]) for r in terms.details["schedule"]]
    assert rows[-3:] == [
        ("1998Q1", "1998Q1", "0.45"),
        ("1998Q2", "1998Q3", "1.10"),
        ("1998Q4", None, "1.00"),  # "June 30, 1998 and thereafter", from after the override
    ]
    agreement = next(e for e in events if e.event == "agreement_terms")
    assert agreement.agreement == "acme"
    assert agreement.details["package"] == "cerplex"
    assert agreement.details["borrower"] == "Acme Holdings, Inc."
    assert agreement.details["facility_name"] == "Acme Holdings Senior Notes"


def test_rules_are_shared_not_copied(portfolio: Path) -> None:
    loaded = load_portfolio(RULES, portfolio)
    acme, plain = loaded.facilities
    assert (acme.id, plain.id) == ("acme", "plain")
    assert acme.agreement.folder == plain.agreement.folder == str(RULES / "cerplex")
    assert acme.rules is plain.rules is loaded.packages["cerplex"].snapshot  # read once
    # The package itself is untouched by acme's override.
    assert loaded.packages["cerplex"].covenants["6.20"].threshold_for(
        FiscalQuarter(1998, 2)
    ).minimum == Decimal("1.00")
    assert plain.agreement.covenants["6.20"] is loaded.packages["cerplex"].covenants["6.20"]


def test_facilities_share_one_object_for_each_quarter(portfolio: Path) -> None:
    """A facility with a covenant table of its own keeps the quarters it was asked about
    (`Covenant.threshold_for`): one object for each quarter, not one for each facility's row,
    which at ten thousand facilities left 57,000 for the garbage collector to walk."""
    facilities = load_portfolio(RULES, portfolio).facilities
    quarters = [
        [row.fiscal_quarter for row in load_facts(f.folder, f.agreement).financials]
        for f in facilities
    ]
    assert quarters[0] == [FiscalQuarter(1998, 2), FiscalQuarter(1998, 3), FiscalQuarter(1998, 4)]
    assert all(a is b for a, b in zip(*quarters, strict=True))
    assert FiscalQuarter.parse(" 1998q2") is FiscalQuarter.parse("1998Q2") is quarters[1][0]


def test_what_a_run_holds_is_out_of_the_collectors_way_only_while_it_runs(
    portfolio: Path,
) -> None:
    """The portfolio is kept out of the garbage collector's generations while it is evaluated
    and recorded (`gc.freeze`), and the collector's automatic collections are paused while the
    facilities are evaluated, on again to record them; all is given back after, also when bad
    input stops the run: a process that goes on (a scheduler, these tests) must not keep it
    frozen, or the collector off."""
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    paused = []
    evaluating = evaluate_portfolio(
        RULES, portfolio, LATE, progress=lambda done, total: paused.append(not gc.isenabled())
    )
    with evaluating as evaluated:
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()  # recording
        assert evaluated.count == 2
    assert paused == [True, True]
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    write_table(portfolio / "plain", "financials", [{**QUARTERS[0], "net_income": "six"}])
    with pytest.raises(InputError), evaluate_portfolio(RULES, portfolio, LATE):
        pass
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_a_run_holds_no_facilitys_description_once_it_is_evaluated(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each facility is read where it is evaluated and let go: what the run goes on to hold
    while it compares with the log and writes is its facilities' names, not their agreements,
    so that its memory does not grow with theirs. The terms of acme's own Section 6.20 (its
    override) go with it too; those of the package's, which plain follows, are made once."""
    read: list[weakref.ref] = []
    original = portfolio_module.Listing.read

    def kept_an_eye_on(*args, **kwargs):
        found = original(*args, **kwargs)
        read.extend(map(weakref.ref, (found.facility, found.facility.agreement.covenants["6.20"])))
        return found

    monkeypatch.setattr(portfolio_module.Listing, "read", kept_an_eye_on)
    with evaluate_portfolio(RULES, portfolio, LATE) as evaluated:
        assert evaluated.facilities == ["acme", "plain"]
        package = evaluated.listing.packages["cerplex"].covenants["6.20"]
        assert len(read) == 4 and read[3]() is package
        assert [ref() for ref in read[:3]] == [None, None, None]


def test_a_run_of_some_facilities_reads_only_their_facility_files(
    portfolio: Path, tmp_path: Path
) -> None:
    """A facility file that is not sound stops the runs that evaluate its facility, not those
    of other facilities (--facility, or another machine's --partition), which never read it."""
    (portfolio / "acme" / "facility.toml").write_text(ACME.replace("[facility]", "[facility\n"))
    db = tmp_path / "log.db"
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--facility", "plain") == 0
    holder = next(i for i in (1, 2) if in_partition("acme", (i, 2)))
    other = 3 - holder
    assert not in_partition("plain", (holder, 2))  # each has a slice of its own
    assert run("run", *common, "--partition", f"{other}/2") == 0
    assert {e.agreement for e in audit.read(db)} == {"plain"}
    with pytest.raises(InputError) as refused:
        runner.execute(RULES, portfolio, db, LATE, partition=(holder, 2))
    assert [p.file for p in refused.value.problems] == [str(portfolio / "acme" / FACILITY_FILE)]


class _Cycle:
    """An object in a reference cycle: only the garbage collector frees it."""

    def __init__(self) -> None:
        self.itself = self


def test_the_cycles_a_facility_leaves_are_freed_between_facilities(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With automatic collections paused while facilities are evaluated, what an evaluation
    leaves in reference cycles (about a hundred objects a facility evaluated whole) is freed
    by a collection between facilities (here after each one), so that a run's memory does not
    grow with the number of facilities."""
    left: list[weakref.ref] = []
    assess = pipeline.assess_facility

    def leaving_a_cycle(*args, **kwargs):
        left.append(weakref.ref(_Cycle()))
        return assess(*args, **kwargs)

    monkeypatch.setattr(pipeline, "assess_facility", leaving_a_cycle)
    monkeypatch.setattr(pipeline, "_COLLECT_EVERY", 1)
    alive = []
    evaluating = evaluate_portfolio(
        RULES, portfolio, LATE, progress=lambda done, total: alive.append(left[-1]() is not None)
    )
    with evaluating as evaluated:
        assert evaluated.count == 2
    assert alive == [False, False]  # freed as each facility was done


def test_a_chunk_reads_its_facilities_before_evaluating_them_unless_their_files_are_large(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process takes a chunk of facilities through the steps of their evaluation together:
    the files of each are read before any is evaluated. A facility whose files are larger than
    `_STEPPED_FILES` is evaluated as soon as they are read, so that a chunk does not hold many
    large files at once."""
    done: list[tuple[str, str]] = []
    snapshot, load = portfolio_module.Facility.snapshot, pipeline.load_facts

    def reading(facility, **options):
        done.append(("read", facility.id))
        return snapshot(facility, **options)

    def loading(folder, *args):
        done.append(("evaluated", folder.name))
        return load(folder, *args)

    monkeypatch.setattr(portfolio_module.Facility, "snapshot", reading)
    monkeypatch.setattr(pipeline, "load_facts", loading)
    read, evaluated = (
        [("read", "acme"), ("read", "plain")],
        [("evaluated", n) for n in ("acme", "plain")],
    )
    for most, expected in (
        (1 << 20, [*read, *evaluated]),
        (0, [read[0], evaluated[0], read[1], evaluated[1]]),
    ):
        monkeypatch.setattr(pipeline, "_STEPPED_FILES", most)
        done.clear()
        with evaluate_portfolio(RULES, portfolio, LATE) as evaluation:
            assert evaluation.count == 2
        assert done == expected


Q = FiscalQuarter.parse


def row(start: str, end: str | None, minimum: str) -> Threshold:
    return Threshold(Q(start), Q(end) if end else None, Decimal(minimum), "t", "s")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # Inside one row: that row is cut in two around it.
        (
            row("1998Q3", "1998Q4", "2"),
            [
                ("1998Q1", "1998Q2", "1"),
                ("1998Q3", "1998Q4", "2"),
                ("1999Q1", "1999Q4", "1"),
                ("2000Q1", None, "5"),
            ],
        ),
        # Across a boundary, to the end of the table.
        (row("1999Q2", None, "3"), [("1998Q1", "1999Q1", "1"), ("1999Q2", None, "3")]),
        # Covering a row whole.
        (row("1998Q1", "1999Q4", "4"), [("1998Q1", "1999Q4", "4"), ("2000Q1", None, "5")]),
    ],
)
def test_splice(override: Threshold, expected: list[tuple]) -> None:
    schedule = (row("1998Q1", "1999Q4", "1"), row("2000Q1", None, "5"))
    got = [
        (str(r.start), str(r.end) if r.end else None, str(r.minimum))
        for r in splice(schedule, override)
    ]
    assert got == expected


def run(*args: str) -> int:
    return cli.main(list(args))


# A Note of $1,000,000 for plain (Section 4.1): the $47,500.00 Initial Capitalized Interest
# Amount added on August 19, 1997 (1,000,000 x 9.50% x 180/360), then 15% on 1,047,500.00 in
# cash: 78,562.50 on February 19, 1998 (180 days), 13,093.75 on each monthly date after it
# (30 days), March 19 to December 19, 1998.
PLAIN_NOTE_PAID = [("1998-02-19", "78,562.50")] + [
    (f"1998-{month:02d}-19", "13,093.75") for month in range(3, 13)
]


@pytest.mark.parametrize(("payments", "detailed"), [(PLAIN_NOTE_PAID, False), ([], True)])
def test_amounts_due_all_paid_need_no_attention(
    portfolio: Path, store_log, capsys, payments, detailed
) -> None:
    """plain complies throughout; its Note's eleven amounts due by December 31, 1998, paid on
    their dates, leave it a row of the portfolio view. Left unpaid, they need attention."""
    plain = portfolio / "plain"
    write_table(
        plain,
        "notes",
        [
            {
                "holder": "Holder A",
                "existing_outstanding_principal": "1,000,000",
                "initial_capitalized_interest_amount": "47,500.00",
            }
        ],
    )
    write_table(plain, "prime_rate", [{"date": "1996-02-01", "rate_percent": "8.25"}])
    write_table(
        plain,
        "note_payments",
        [{"date": d, "holder": "Holder A", "amount": a} for d, a in payments],
    )
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "1998-12-31") == 1
    (row,) = [r for r in build(audit.read(db))["portfolio"] if r["facility"] == "plain"]
    assert (row["status"], row["amounts_due"]) == ("compliant", 11)
    assert row["amounts_unpaid"] == (11 if detailed else 0)
    capsys.readouterr()
    assert run("report", "--db", str(db)) == 0
    text = capsys.readouterr().out
    assert ("## Plain Manufacturing Co.:" in text) == detailed
    # The portfolio view's Unpaid: none of plain's, or all eleven, 78,562.50 + 10 x 13,093.75
    # = 209,500.00; acme's payments are not tracked.
    unpaid = "$209,500.00" if detailed else "$0.00"
    assert re.search(rf"\| plain \|.*\| compliant \| 0 \| 0 \| {re.escape(unpaid)} \|", text)
    assert re.search(r"\| acme \|.*\| 1 \(1 event of default\) \| - \|", text)


def test_run_log_and_report_filter_by_facility(portfolio: Path, store_log, capsys) -> None:
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01", "--facility", "plain") == 0
    capsys.readouterr()
    assert run("log", "--db", str(db), "--json") == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["agreement"] for e in first} == {"plain"}
    # acme's breach of its own 1.10 needs attention: exit 1; plain's events are already there.
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    already = re.search(r"; (\d+) already in the log", capsys.readouterr().out)
    assert already and int(already[1]) == len(first)
    assert run("log", "--db", str(db), "--json", "--facility", "acme") == 0
    acme = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["agreement"] for e in acme} == {"acme"}
    assert len(first) + len(acme) == len(audit.read(db))
    assert run("report", "--db", str(db)) == 0
    text = capsys.readouterr().out
    table = text[text.index("## Portfolio") : text.index("## Acme")]
    assert table.index("| acme |") < table.index("| plain |")  # event of default first
    assert "6.20 Current Ratio: 2.50% on 1998Q4" in table  # plain: (1.025 - 1.00) / 1.00
    assert run("report", "--db", str(db), "--facility", "plain") == 0
    alone = capsys.readouterr().out
    assert "## Portfolio" not in alone and "Acme" not in alone
    assert run("report", "--db", str(db), "--facility", "nobody") == 2
    assert "no facility 'nobody'" in capsys.readouterr().err


def test_portfolio_model_orders_by_status_then_nearest(portfolio: Path, store_log) -> None:
    db = store_log.db
    assert run("run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)) == 1
    rows = build(audit.read(db))["portfolio"]
    assert [(r["facility"], r["status"]) for r in rows] == [
        ("acme", "event_of_default"),
        ("plain", "compliant"),
    ]
    assert rows[1]["nearest"]["covenant"] == "6.20"
    assert rows[1]["nearest"]["headroom_percent"] == "2.50"


def test_a_portfolio_report_details_the_facilities_needing_attention(
    portfolio: Path, store_log, capsys
) -> None:
    """acme's 1998Q2 current ratio, 1.05 against its own 1.10, became an Event of Default;
    plain complied throughout (its least headroom 2.50%), so by default it is a row of the
    portfolio view only, and `--detail all` or `--facility plain` show it in full. Its
    "Open defaults" say acme's one default is an event of default, and plain's 0 no more."""
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    capsys.readouterr()
    sections = ("## Acme Holdings, Inc.:", "## Plain Manufacturing Co.:")
    assert run("report", "--db", str(db)) == 0
    attention = capsys.readouterr().out
    assert "| plain |" in attention and "the other 1, compliant" in attention
    assert re.search(r"\| acme \|.*\| 1 \(1 event of default\) \|", attention)
    assert re.search(r"\| plain \|.*\| compliant \| 0 \| 0 \|", attention)
    assert run("report", "--db", str(db), "--format", "html") == 0
    assert '<td class="num">1 (1 event of default)</td>' in capsys.readouterr().out
    assert sections[0] in attention and sections[1] not in attention
    # The appendix lists the events of the facilities shown in full, and only theirs.
    appendix = attention[attention.index("## Appendix") :]
    assert "| acme |" in appendix and "| plain |" not in appendix
    assert run("report", "--db", str(db), "--detail", "all") == 0
    everything = capsys.readouterr().out
    assert all(section in everything for section in sections)
    assert "Each facility's sections follow." in everything
    assert run("report", "--db", str(db), "--facility", "plain") == 0
    assert sections[1] in capsys.readouterr().out


def test_the_portfolio_view_shows_how_far_each_facility_is_tested(
    portfolio: Path, tmp_path: Path, capsys
) -> None:
    """A facility behind the book (its financials not delivered, its folder gone) shows it in
    "Tested through", its latest quarter-end test by the report's date: plain reports the
    quarter ended March 31, 1999 (current ratio 21,000,000 / 20,000,000 = 1.05, at least 1.00);
    acme's latest stays December 31, 1998, though its revolver is reported and tested on April
    15, 1999 (Section 4.2: 3,000,000 + 2,000,000 = 5,000,000, not less than $4,886,984). As of
    February 1, 1999, both are tested through 1998-12-31."""
    quarters = [*QUARTERS, compliant_quarter("1999-03-31", "21,000,000")]
    write_table(portfolio / "plain", "financials", quarters)
    revolver = {
        "revolving_loans_outstanding": "3,000,000",
        "revolving_loans_available": "2,000,000",
    }
    write_table(portfolio / "acme", "revolver", [{"date": "1999-04-15", **revolver}])
    db, out = tmp_path / "log.db", tmp_path / "book.xlsx"
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "1999-06-01") == 1
    capsys.readouterr()
    assert run("report", "--db", str(db), "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)["portfolio"]
    assert {r["facility"]: r["tested_through"] for r in rows} == {
        "acme": "1998-12-31",
        "plain": "1999-03-31",
    }
    assert run("report", "--db", str(db)) == 0
    table = capsys.readouterr().out
    assert "| Nearest limit | Tested through |" in table
    assert re.search(r"\| acme \|.*\| 1998-12-31 \|\n", table)
    assert re.search(r"\| plain \|.*\| 1999-03-31 \|\n", table)
    assert run("report", "--db", str(db), "--format", "html") == 0
    html = capsys.readouterr().out
    assert "<th>Tested through</th>" in html and "<td>1999-03-31</td>" in html
    assert run("report", "--db", str(db), "--format", "xlsx", "--out", str(out)) == 0
    header, *cells = load_workbook(out)["Portfolio"].values
    through = header.index("Tested through")
    assert {c[0]: c[through] for c in cells} == {
        "acme": datetime(1998, 12, 31),
        "plain": datetime(1999, 3, 31),
    }
    assert run("report", "--db", str(db), "--format", "json", "--as-of", "1999-02-01") == 0
    rows = json.loads(capsys.readouterr().out)["portfolio"]
    assert {r["tested_through"] for r in rows} == {"1998-12-31"}


@pytest.mark.parametrize("form", ["md", "json", "html", "xlsx"])
def test_a_portfolio_report_is_written_a_facility_at_a_time_and_the_same(
    form: str, portfolio: Path, store_log, tmp_path: Path
) -> None:
    """`report` keeps each facility's section, and the events its appendix lists, in a
    temporary file while it writes (`Shelf`), so a book of thousands is never in memory whole:
    what it writes is, byte for byte, the report rendered from the whole model in memory
    (a workbook, cell for cell: its zip records the time it was written).
    plain is recorded first, so the appendix (in sequence order) lists plain's events before
    acme's, though the facilities' sections go acme first."""
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01", "--facility", "plain") == 0
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    out = tmp_path / f"report.{form}"
    assert (
        run("report", "--db", str(db), "--detail", "all", "--format", form, "--out", str(out)) == 0
    )
    whole = build(audit.read(db))
    assert [a["agreement"] for a in whole["agreements"]] == ["acme", "plain"]
    listed = [e["agreement"] for e in whole["events"]]
    assert listed.index("plain") < listed.index("acme")
    if form != "xlsx":
        assert out.read_bytes() == render(whole, form)
        return
    kept, rendered = load_workbook(out), load_workbook(io.BytesIO(render(whole, form)))
    assert (
        kept.sheetnames
        == rendered.sheetnames
        == [
            "Portfolio",
            "By status",
            "Summary",
            "Tests",
            "Events",
            "Amounts and notices",
        ]
    )
    for name in kept.sheetnames:
        cells = [list(book[name].values) for book in (kept, rendered)]
        assert cells[0] == cells[1]
    seqs = [row[0] for row in list(kept["Events"].values)[1:]]
    assert seqs == sorted(seqs) and len(seqs) == len(whole["events"])


def test_an_html_reports_charts_drawn_in_several_processes_are_the_same(
    portfolio: Path, store_log, tmp_path: Path
) -> None:
    """`report --workers 2` draws the charts ahead in two processes; each lands in its own
    covenant's section, and the page is byte for byte the one drawn in this process."""
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    out = tmp_path / "report.html"
    options = ["--detail", "all", "--format", "html", "--out", str(out), "--workers", "2"]
    assert run("report", "--db", str(db), *options) == 0
    page = out.read_text()
    # Each facility's four financial covenants, 6.18 to 6.21: only financials are reported.
    assert page.count("<svg") == 2 * 4
    assert out.read_bytes() == render(build(audit.read(db)), "html")


def test_a_portfolio_reports_title_counts_its_facilities(
    portfolio: Path, store_log, capsys
) -> None:
    """A browser tab shows the page's title: for a portfolio, how many facilities (not the
    name of every borrower detailed, thousands in a bank's book); for one, its borrower."""
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    capsys.readouterr()
    titles = []
    for only in ([], ["--facility", "acme"]):
        assert run("report", "--db", str(db), "--format", "html", *only) == 0
        titles += re.findall(r"<title>(.*)</title>", capsys.readouterr().out)
    assert titles == [
        "Covenant report: portfolio of 2 facilities, 2026-01-01",
        "Covenant report: Acme Holdings, Inc., 2026-01-01",
    ]


def test_a_report_that_fails_part_way_leaves_the_file_as_it_was(
    portfolio: Path, store_log, tmp_path: Path, monkeypatch, capsys
) -> None:
    db = store_log.db
    assert run("run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)) == 1
    (tmp_path / "reports").mkdir()
    out = tmp_path / "reports" / "report.html"
    out.write_text("the report a reviewer has open")

    def broken(*args: object) -> str:
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr("engine.report.html.covenant_chart", broken)
    capsys.readouterr()
    assert run("report", "--db", str(db), "--format", "html", "--out", str(out)) == 6
    assert "RuntimeError('the disk filled up')" in capsys.readouterr().err
    assert out.read_text() == "the report a reviewer has open"
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def after_header(page: str) -> str:
    """A page of the HTML report from its summary on: all but its title and header."""
    return page[page.index('<section id="summary">') :]


def test_an_html_report_to_a_folder_has_a_page_for_each_facility_detailed(
    portfolio: Path, store_log, tmp_path: Path, capsys
) -> None:
    """`--out book/` writes the portfolio view to book/index.html, and each facility it
    details to a page of its own, which is that facility's own report but for its header: its
    sections and the events they rest on. acme's 1998Q2 current ratio, 1.05 against its own
    1.10, became an Event of Default, so acme is detailed; plain complied throughout, a row of
    the view only, until `--detail all`. A facility's folder name may be any file name: its
    page's file is the name percent-encoded, and the view's link encodes that again."""
    (portfolio / "plain").rename(portfolio / "plain & co #2")
    db, book = store_log.db, tmp_path / "book"
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    assert run("report", "--db", str(db), "--format", "html", "--out", f"{book}/") == 0
    assert f"report written to {book / 'index.html'}" in capsys.readouterr().err
    assert sorted(p.name for p in book.iterdir()) == [
        ".covenant-monitor-report",
        "facilities",
        "index.html",
    ]
    assert [p.name for p in (book / "facilities").iterdir()] == ["acme.html"]
    index = (book / "index.html").read_text()
    assert re.findall(r"<title>(.*)</title>", index) == [
        "Covenant report: portfolio of 2 facilities, 2026-01-01"
    ]
    rows = dict(re.findall(r'<tr data-facility="([^"]+)".*?<td>(.*?)</td>', index))
    assert rows == {
        "acme": '<a href="facilities/acme.html">acme</a>',
        "plain &amp; co #2": "plain &amp; co #2",
    }
    assert "The 1 needing attention have a page each" in index
    assert '<p class="tally">By status: 1 event of default; 1 compliant.</p>' in index
    assert '<section id="summary">' not in index and 'id="event-' not in index
    page = (book / "facilities" / "acme.html").read_text()
    assert re.findall(r"<title>(.*)</title>", page) == [
        "Covenant report: Acme Holdings, Inc., 2026-01-01"
    ]
    assert '<a href="../index.html">Portfolio</a>' in page
    assert run("report", "--db", str(db), "--format", "html", "--facility", "acme") == 0
    assert after_header(page) == after_header(capsys.readouterr().out)
    assert len(re.findall(r'<tr id="event-\d+">', page)) == len(
        [e for e in audit.read(db) if e.agreement == "acme"]
    )
    # Written again, the folder is replaced whole: with --detail all, and then without.
    options = ["--format", "html", "--out", str(book), "--detail", "all"]
    assert run("report", "--db", str(db), *options) == 0
    hrefs = re.findall(r'<a href="(facilities/[^"]+)">', (book / "index.html").read_text())
    assert hrefs == ["facilities/acme.html", "facilities/plain%2520%2526%2520co%2520%25232.html"]
    assert sorted(p.name for p in (book / "facilities").iterdir()) == [
        "acme.html",
        "plain%20%26%20co%20%232.html",
    ]
    assert all((book / unquote(href)).is_file() for href in hrefs)  # as a browser follows it
    # Written a facility at a time, the pages are those of the whole model in memory.
    (tmp_path / "whole").mkdir()
    write_pages(build(audit.read(db)), tmp_path / "whole")
    assert files_in(tmp_path / "whole") == files_in(book)
    assert run("report", "--db", str(db), "--format", "html", "--out", str(book)) == 0
    assert [p.name for p in (book / "facilities").iterdir()] == ["acme.html"]
    assert not list(tmp_path.glob(".book*"))  # nothing left of the folders written and replaced


def test_an_html_report_replaces_only_a_folder_a_report_wrote(
    portfolio: Path, store_log, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A folder with other files is refused before any work (exit 2), and so is a folder of
    pages in another format; a report that fails part way leaves the folder as it was."""
    db = store_log.db
    assert run("run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)) == 1
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a reviewer's notes")
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        run("report", "--db", str(db), "--format", "html", "--out", str(mine))
    assert refused.value.code == 2
    assert "is a folder with files no report wrote" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(SystemExit) as refused:
        run("report", "--db", str(db), "--format", "html", "--out", f"{mine / 'notes.txt'}/")
    assert refused.value.code == 2
    assert "notes.txt/' is a file, not a folder" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "a reviewer's notes"
    book = tmp_path / "book"
    assert run("report", "--db", str(db), "--format", "md", "--out", f"{book}/") == 2
    assert "which needs --format html" in capsys.readouterr().err
    assert not book.exists()
    assert run("report", "--db", str(db), "--format", "html", "--out", str(book) + "/") == 0
    written = files_in(book)
    # Nor a folder holding the current one: replaced, it would leave the shell in none.
    empty = tmp_path / "empty"
    empty.mkdir()
    for here, out in [(empty, "./"), (empty, "."), (book / "facilities", "../")]:
        capsys.readouterr()
        with monkeypatch.context() as there, pytest.raises(SystemExit) as refused:
            there.chdir(here)
            run("report", "--db", str(db), "--format", "html", "--out", out)
        assert refused.value.code == 2
        assert f"{out!r} holds the current folder" in capsys.readouterr().err
    assert not list(empty.iterdir()) and files_in(book) == written

    def broken(*args: object) -> str:
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr("engine.report.html.covenant_chart", broken)
    options = ["--format", "html", "--out", str(book), "--detail", "all"]
    assert run("report", "--db", str(db), *options) == 6
    assert files_in(book) == written
    assert not list(tmp_path.glob(".book*"))  # nothing left of the folders written and replaced


def test_a_large_html_page_of_a_portfolio_points_to_a_folder_of_pages(
    portfolio: Path, store_log, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A page of more than 20 MB takes a browser long to open (Chromium: 17 s for 19 MB, 189 s
    for 76 MB): the report says so and names the folder that would hold a page a facility.
    Made to think a page of more than 1,000 bytes large, it says so of this small book."""
    db = store_log.db
    assert run("run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)) == 1
    out = tmp_path / "report.html"
    capsys.readouterr()
    assert run("report", "--db", str(db), "--format", "html", "--out", str(out)) == 0
    assert capsys.readouterr().err == f"report written to {out}\n"
    monkeypatch.setattr(cli, "LARGE_PAGE", 1000)
    assert run("report", "--db", str(db), "--format", "html", "--out", str(out)) == 0
    folder = tmp_path / "report"
    assert f"slow for a browser to open: --out {folder}/ writes a folder" in capsys.readouterr().err
    assert run("report", "--db", str(db), "--format", "html", "--out", f"{folder}/") == 0
    assert capsys.readouterr().err == f"report written to {folder / 'index.html'}\n"
    # A page written to a name without a suffix: the folder cannot take the same name.
    assert run("report", "--db", str(db), "--format", "html", "--out", str(tmp_path / "book")) == 0
    named = tmp_path / "book-pages"
    assert f"slow for a browser to open: --out {named}/ writes a folder" in capsys.readouterr().err
    assert run("report", "--db", str(db), "--format", "md", "--out", str(tmp_path / "r.md")) == 0
    assert "slow for a browser" not in capsys.readouterr().err


def test_the_portfolio_views_counts_separate_thousands() -> None:
    statuses = [("event of default", 3), ("default (in grace)", 12), ("compliant", 1725)]
    by_status = [{"label": label, "facilities": n} for label, n in statuses]
    assert (
        tally(by_status) == "By status: 3 event of default; 12 default (in grace); 1,725 compliant."
    )
    assert tally([]) == ""
    assert followed(12000, 10275, paged=True).startswith(
        "The 1,725 needing attention have a page each: follow the name; the other 10,275, "
    )


@pytest.mark.parametrize(
    ("names", "files"),
    [
        (["acme", "f000001"], ["acme.html", "f000001.html"]),
        # Characters beyond letters, digits and _.-~ are percent-encoded.
        (["Société: A/B"], ["Soci%C3%A9t%C3%A9%3A%20A%2FB.html"]),
        # One file where case is not told apart (macOS, Windows): "+" is never left by the
        # encoding, so no other name makes "acme+2".
        (
            ["acme", "ACME", "Acme", "acme%2B2"],
            ["acme.html", "ACME+2.html", "Acme+3.html", "acme%252B2.html"],
        ),
    ],
)
def test_each_facility_page_has_a_file_name_of_its_own(names, files) -> None:
    assert list(page_files(names).values()) == files


NAMED = 'name = "Acme Holdings Senior Notes"\n'
BAD = [
    ('agreement = "cerplex"', 'agreement = "nobody"', "facility.agreement", "no agreement"),
    ('covenant = "6.20"\nfrom', 'covenant = "9.99"\nfrom', "facility.override[0].covenant", "9.99"),
    ('minimum = "1.10"', 'maximum = "1.10"', "facility.override[0].maximum", "unknown key"),
    ('through = "1998Q3"', 'through = "1997Q3"', "facility.override[0].through", "before"),
    ('from = "1998Q2"', 'from = "June 1998"', "facility.override[0].from", "fiscal quarter"),
    ("grace_days = 30", "grace_days = -1", "facility.override[1].grace_days", "negative"),
    # An override changes a threshold or the grace period: one that does neither says which.
    (
        "grace_days = 30\n",
        "",
        "facility.override[1].minimum",
        "an override sets minimum (with from) or grace_days",
    ),
    # Sections 6.3 and 6.4 are reported, not tested against a schedule.
    (
        'covenant = "6.20"\nfrom',
        'covenant = "6.3"\nfrom',
        "facility.override[0].from",
        "covenant 6.3 has no schedule to override",
    ),
    (
        "[facility]\n",
        '[borrower]\nname = "Acme"\n\n[facility]\n',
        "facility.toml",
        "expected one [facility] table; found borrower, facility",
    ),
    ('borrower = "Acme Holdings, Inc."\n', "", "facility.borrower", "missing"),
    ("[facility]", "[facility\n", "facility.toml", "not valid TOML"),
    (NAMED, f"{NAMED}ended = 1998-12-31\n", "facility.ended_reason", "missing"),
    (NAMED, f'{NAMED}ended_reason = "Repaid"\n', "facility.ended_reason", "without ended"),
    (NAMED, f'{NAMED}ended = "1998-12-31"\nended_reason = "Repaid"\n', "facility.ended", "date"),
    # The Note Agreement is dated November 19, 1993 (First Amendment Agreement, Recital B)
    (
        NAMED,
        f'{NAMED}ended = 1993-11-18\nended_reason = "Repaid"\n',
        "facility.ended",
        "1993-11-19",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "says"), BAD)
def test_bad_facility_file_is_refused_naming_file_and_key(
    portfolio: Path, tmp_path: Path, capsys, old: str, new: str, where: str, says: str
) -> None:
    db = tmp_path / "log.db"  # refused before any store is touched: SQLite serves
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--facility", "plain") == 0
    before = db.read_bytes()
    path = portfolio / "acme" / "facility.toml"
    assert old in ACME
    path.write_text(ACME.replace(old, new, 1))
    capsys.readouterr()
    assert run("run", *common) == 2
    err = capsys.readouterr().err
    assert str(path) in err and where in err and says in err, err
    assert db.read_bytes() == before
    with pytest.raises(InputError):
        load_portfolio(RULES, portfolio)


def test_unknown_facility_is_refused(portfolio: Path, tmp_path: Path, capsys) -> None:
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(tmp_path / "l.db")]
    assert run("run", *common, "--facility", "x") == 2
    assert "no facility folder named 'x'" in capsys.readouterr().err
    missing = tmp_path / "fatcs"
    assert run("run", "--rules", str(RULES), "--facts", str(missing), *common[4:]) == 2
    assert f"{missing}: facts folder not found" in capsys.readouterr().err
    assert not (tmp_path / "l.db").exists()


def test_corrected_override_restates_its_facility_alone(portfolio: Path, store_log, capsys) -> None:
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    # acme's 6.20 minimum was mistyped: 1.10 should have been 1.05, which 1.05 meets.
    path = portfolio / "acme" / "facility.toml"
    path.write_text(ACME.replace('minimum = "1.10"', 'minimum = "1.05"'))
    assert run("run", *common, "--as-of", "2026-01-01") == 1  # a restatement needs attention
    current = audit.read(db)
    notice = [e for e in current if e.event == "restatement"]
    assert [(e.agreement, e.details["changes"]) for e in notice] == [
        ("acme", [{"facility_file": "facility.toml", "change": "edited"}])
    ]
    assert not [e for e in current if e.event in ("breach", "default", "event_of_default")]
    assert {e.agreement for e in current if e.supersedes} == {"acme"}
    # The log as known before the correction is replayed from the stored inputs, the
    # facility's file and the shared package's files laid out again.
    capsys.readouterr()
    first_run = audit.runs(db)[0].recorded_at
    assert run("run", "--db", str(db), "--known-as-of", first_run) == 0
    assert "holds every one of them" in capsys.readouterr().out


def test_a_replay_takes_facilities_a_partition_and_workers(
    portfolio: Path, store_log, capsys
) -> None:
    """`run --known-as-of` replays the latest run's facilities, or those named (--facility),
    or one slice of them (--partition), in --workers processes: each gives what the run
    recorded of those facilities, event for event."""
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01") == 1
    replay = ["run", "--db", str(db), "--known-as-of", audit.runs(db)[0].recorded_at]
    recorded = {name: len(audit.read(db, agreements=[name])) for name in ("acme", "plain")}

    def replayed(*options: str) -> int:
        capsys.readouterr()
        assert run(*replay, *options) == 0
        out = capsys.readouterr().out
        assert "holds every one of them" in out
        found = re.search(r"inputs: (\d+) event", out)
        assert found
        return int(found[1])

    whole = recorded["acme"] + recorded["plain"]
    assert replayed() == whole
    assert replayed("--workers", "2") == whole
    assert replayed("--facility", "acme") == recorded["acme"]
    assert replayed("--facility", "plain", "--workers", "2") == recorded["plain"]
    halves = [replayed("--partition", f"{i}/2") for i in (1, 2)]
    assert sum(halves) == whole and set(halves) <= {0, whole, *recorded.values()}
    # Of more slices than facilities, some slice holds none: it replays nothing.
    slices = [replayed("--partition", f"{i}/3") for i in (1, 2, 3)]
    assert sum(slices) == whole and 0 in slices
    ticks = []
    runner.replay(db, datetime.now().astimezone(), tick=lambda *tick: ticks.append(tick))
    assert ticks == [("replaying", 1, 2), ("replaying", 2, 2)]
    capsys.readouterr()
    assert run(*replay, "--facility", "nobody") == 2
    assert "read facility 'nobody'" in capsys.readouterr().err
    assert run(*replay, "--as-of", "2026-01-01") == 2
    assert "--as-of cannot be given with --known-as-of" in capsys.readouterr().err


def test_a_replay_takes_each_facility_from_the_latest_run_that_read_it(
    portfolio: Path, store_log, capsys
) -> None:
    """Runs of some facilities (--facility, or each machine's --partition) each read only some
    of the book: a replay of what the monitor knew takes each facility's inputs from the latest
    run by then that read it, at that run's as-of date, not the latest run's alone."""
    db = store_log.db
    common = ["--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)]
    assert run("run", *common, "--as-of", "2026-01-01", "--facility", "plain") == 0
    assert run("run", *common, "--as-of", "2026-02-01", "--facility", "acme") == 1
    first, second = audit.runs(db)
    capsys.readouterr()
    assert run("run", "--db", str(db), "--known-as-of", second.recorded_at) == 0
    out = capsys.readouterr().out
    assert "replayed runs 1, 2, each the latest by then to read some facility" in out
    assert "(as of 2026-01-01, 2026-02-01)" in out
    assert f"stored inputs: {len(audit.read(db))} event(s)" in out  # both facilities' events
    assert run("run", "--db", str(db), "--known-as-of", first.recorded_at) == 0
    out = capsys.readouterr().out
    assert "replayed run 1 (" in out
    assert f"stored inputs: {len(audit.read(db, agreements=['plain']))} event(s)" in out


def many(facts: Path, count: int) -> list[str]:
    """`count` facilities on the package; every third one's 1998Q2 current ratio is 0.95,
    below the 1.00 of 'June 30, 1998 and thereafter': a breach, a default, an event of default."""
    names = []
    for n in range(count):
        name = f"f{n:02d}"
        rows = [compliant_quarter("1998-06-30", "19,000,000" if n % 3 == 0 else "21,000,000")]
        write_table(facts / name, "financials", rows)
        (facts / name / "facility.toml").write_text(
            f'[facility]\nagreement = "cerplex"\nborrower = "Borrower {n}"\n'
        )
        names.append(name)
    return names


def run_in_process(facts: Path, db, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "engine", "run", "--rules", str(RULES), "--facts"]
    command += [str(facts), "--db", str(db), "--as-of", "2026-01-01", "--wait", "60", *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def current(db) -> dict[str, str]:
    """{key: version} of the current view, checking no key is there twice."""
    events = audit.read(db)
    keys = [e.key for e in events]
    assert len(keys) == len(set(keys)), "an event recorded twice"
    return {e.key: e.version for e in events}


def test_partitions_run_at_once_record_each_facility_once(tmp_path: Path, store_log) -> None:
    """Three machines each run a slice of nine facilities against one log, at the same time,
    and one of them twice over (a retried job): the log ends as one run of the whole
    portfolio would leave it, every event once, the chain intact."""
    names = many(tmp_path / "facts", 9)
    slices = [{f for f in names if in_partition(f, (i, 3))} for i in (1, 2, 3)]
    assert set().union(*slices) == set(names) and sum(map(len, slices)) == len(names)
    runs = [
        run_in_process(tmp_path / "facts", store_log.db, "--partition", f"{i}/3")
        for i in (1, 2, 3, 2)
    ]
    for process in runs:
        _, err = process.communicate(timeout=120)
        assert process.returncode in (0, 1), err.decode()
    # Three runs recorded; the retried slice found its events there and recorded none.
    assert len(audit.runs(store_log.db)) == 3
    whole = tmp_path / "whole.db"
    assert run_whole(tmp_path / "facts", whole) == 1
    assert current(store_log.db) == current(whole)
    assert audit.verify(store_log.db).ok
    defaults = {e.agreement for e in audit.read(store_log.db) if e.event == "event_of_default"}
    assert defaults == {"f00", "f03", "f06"}
    # A whole run after the slices finds every event already there.
    assert run_whole(tmp_path / "facts", store_log.db) == 0


def test_a_run_names_the_facilities_of_the_log_whose_folders_are_gone(
    tmp_path: Path, store_log, capsys
) -> None:
    """A facility's folder moved, renamed or removed leaves its events in the log as its last
    run left them, and a report shows it so: every run says it did not evaluate it, with the
    as-of date of the latest run that recorded its events, until the folder is back. A run of
    one slice names only those of its slice; a run of named facilities, none."""
    facts = tmp_path / "facts"
    names = many(facts, 4)
    assert run_whole(facts, store_log.db) == 1  # as of 2026-01-01; f00 and f03 in default
    held = current(store_log.db)
    (facts / "f01").rename(tmp_path / "f01")
    capsys.readouterr()
    later = ["--as-of", "2026-02-01", "--log-format", "json"]
    assert run_whole(facts, store_log.db, *later) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [note] = [line for line in lines if line["level"] == "warning"]
    assert (note["facility"], note["last_recorded_as_of"]) == ("f01", "2026-01-01")
    assert note["message"] == (
        f"no facts folder {facts / 'f01'} for facility f01, which the audit log holds: not "
        "evaluated; its events stand as recorded, the latest as of 2026-01-01"
    )
    assert current(store_log.db) == held  # nothing recorded, nothing withdrawn
    holder = next(i for i in (1, 2) if in_partition("f01", (i, 2)))
    for i in (1, 2):
        assert run_whole(facts, store_log.db, "--partition", f"{i}/2") == 0
        noted = "facility f01, which the audit log holds" in capsys.readouterr().err
        assert noted == (i == holder)
    assert run_whole(facts, store_log.db, "--facility", names[0]) == 0
    assert capsys.readouterr().err == ""
    (tmp_path / "f01").rename(facts / "f01")
    assert run_whole(facts, store_log.db) == 0
    assert capsys.readouterr().err == ""


def run_whole(facts: Path, db, *extra: str) -> int:
    common = ["--rules", str(RULES), "--facts", str(facts), "--as-of", "2026-01-01"]
    return run("run", *common, "--db", str(db), *extra)


def test_workers_give_the_same_log_as_one_process(tmp_path: Path, store_log) -> None:
    # 50 facilities over 3 workers go out two at a time (an eighth of a worker's share).
    many(tmp_path / "facts", 50)
    assert run_whole(tmp_path / "facts", store_log.db, "--workers", "3") == 1
    assert run_whole(tmp_path / "facts", tmp_path / "one.db") == 1
    assert current(store_log.db) == current(tmp_path / "one.db")
    seqs = [e.seq for e in audit.read(store_log.db)]
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.parametrize("form", ["md", "json"])
def test_a_report_read_in_several_processes_is_the_same(
    form: str, tmp_path: Path, store_log
) -> None:
    """`report --workers 3` reads and models the facilities in three processes, a few chunks
    ahead (50 facilities go out two at a time): the report is byte for byte the one made in
    this process, the 17 facilities in default (every third) detailed, the rest rows."""
    many(tmp_path / "facts", 50)
    assert run_whole(tmp_path / "facts", store_log.db) == 1
    reports = []
    for workers in ("1", "3"):
        out = tmp_path / f"report-{workers}.{form}"
        options = ["--format", form, "--out", str(out), "--workers", workers]
        assert run("report", "--db", str(store_log.db), *options) == 0
        reports.append(out.read_bytes())
    assert reports[0] == reports[1]
    if form == "json":
        model = json.loads(reports[0])
        assert (len(model["portfolio"]), model["not_detailed"]) == (50, 50 - 17)


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_partition_must_be_a_slice(bad: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        run("run", "--partition", bad, "--db", str(tmp_path / "l.db"))
    assert exit_.value.code == 2
    assert "is not a slice such as 1/4" in capsys.readouterr().err


def test_a_run_records_each_packages_rule_files_once(portfolio: Path, store_log) -> None:
    assert run_whole(portfolio, store_log.db) == 1
    (recorded,) = audit.runs(store_log.db)
    inputs = recorded.inputs
    rules, _ = load_portfolio(RULES, portfolio).facilities[0].snapshot()
    assert inputs["packages"] == {"cerplex": rules["rules"]}
    # "view": each facility's view is just the events its inputs gave (a first run leaves no
    # other), and how many; "tails": where the financials end, for rows appended later (the
    # last quarter of QUARTERS; no Net Securities Proceeds reported)
    assert all(
        set(entry) == {"facts", "package", "view", "tails"}
        for entry in inputs["agreements"].values()
    )
    tail = "1998-12-31 1998Q4"
    assert all(e["tails"] == {"financials": tail} for e in inputs["agreements"].values())
    assert audit.verify(store_log.db).ok


def test_a_run_rows_manifest_is_the_canonical_text_of_its_entries() -> None:
    """What a run read is recorded facility by facility as the facilities come (a run evaluates
    them by name), each package's rule files once; the chain links it as the one canonical text
    of the whole: names sorted as JSON sorts keys (upper case first, accented last), quoted as
    JSON quotes them. A facility out of that order is refused."""
    inputs, packages = audit.RunInputs(io.StringIO()), {}
    rules = {"covenants.toml": "a" * 64}
    names = ["zeta", "Alpha", '\u00e9t\u00e9 "2"', "beta"]
    entries = {}
    for number, name in enumerate(sorted(names)):
        entry = {"rules": rules, "facts": {"financials.csv": f"{number:064}"}, "package": "p"}
        inputs.add(name, restate.recorded_entry(name, entry, {"events": number}, packages))
        entries[name] = {"facts": entry["facts"], "package": "p", "view": {"events": number}}
    with pytest.raises(ValueError, match="not in canonical order"):
        inputs.add("Alpha", {"facts": {}, "view": {"events": 0}})
    inputs.fields = {"rules": "r", "facts": "f", "engine": "1", "packages": packages}
    whole = {**inputs.fields, "agreements": entries}
    assert packages == {"p": rules} and list(entries) != names
    assert "".join(inputs.linked_text()) == canonical(whole)
    assert inputs.text() == canonical(inputs.fields) and inputs.count == 4
    empty = audit.RunInputs(io.StringIO())
    empty.fields = {"rules": "r"}
    assert "".join(empty.linked_text()) == canonical({"rules": "r", "agreements": {}})


def test_a_log_with_rule_files_per_facility_is_still_compared(tmp_path: Path, store_log) -> None:
    """Runs recorded before packages were recorded once hold each facility's rule files in its
    own entry; a correction after them is still a restatement naming the figure."""
    facts = tmp_path / "facts"
    many(facts, 1)
    (facility,) = load_portfolio(RULES, facts).facilities
    entry, files = facility.snapshot()
    outcome = monitor(RULES, facts, LATE)
    audit.record(store_log.db, outcome.events, LATE, {"agreements": {"f00": entry}}, files=files)
    path = facts / "f00" / "financials.csv"
    text = path.read_text()
    assert "19,000,000" in text
    path.write_text(text.replace("19,000,000", "21,000,000"))  # 0.95 was mistyped
    assert run_whole(facts, store_log.db) == 1
    (notice,) = [e for e in audit.read(store_log.db) if e.event == "restatement"]
    assert {
        "table": "financials",
        "column": "current_assets",
        "old": "19000000",
        "new": "21000000",
    }.items() <= notice.details["changes"][0].items()
    assert not [e for e in audit.read(store_log.db) if e.event == "breach"]


def test_a_folders_snapshot_is_every_file_under_it_by_path_links_followed(tmp_path: Path) -> None:
    """What a run records as read: each file of the folder and its subfolders, hidden ones too,
    through links to files and to folders, by its path's parts in order ("a/b.csv" before
    "a-c", since "a" < "a-c"); a broken link is no file."""
    folder = tmp_path / "facility"
    (folder / "a" / "deep").mkdir(parents=True)
    (folder / "a" / "b.csv").write_text("b")
    (folder / "a" / "deep" / "z.toml").write_text("z")
    (folder / "a-c").write_text("c")
    (folder / "a.b").write_text("y")
    (folder / ".hidden").write_text("h")
    (folder / "empty").mkdir()
    (folder / "link.csv").symlink_to(folder / "a.b")
    (folder / "dirlink").symlink_to(folder / "a" / "deep")
    (folder / "broken").symlink_to(folder / "nowhere")
    names, files = folder_files(folder)
    assert list(names) == [
        ".hidden",
        "a/b.csv",
        "a/deep/z.toml",
        "a-c",
        "a.b",
        "dirlink/z.toml",
        "link.csv",
    ]
    assert names["link.csv"] == names["a.b"] == hashlib.sha256(b"y").hexdigest()
    assert files[names["dirlink/z.toml"]] == b"z"


def test_the_portfolio_view_compared_to_an_earlier_date(portfolio: Path, tmp_path: Path, capsys):
    """`report --compare-to`: on June 30, 1998 acme had breached its own 1.10 (1.05) and was
    in its 30 days' grace, an Event of Default from July 30: worse by December 31. plain
    complied on both days. On March 31, 1998 neither had been tested: both are new since."""
    db, book = tmp_path / "log.db", tmp_path / "book.xlsx"
    assert run("run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)) == 1
    capsys.readouterr()
    on = ["report", "--db", str(db), "--as-of", "1998-12-31"]
    assert run(*on, "--compare-to", "1998-06-30", "--format", "json") == 0
    model = json.loads(capsys.readouterr().out)
    assert model["compared_to"] == "1998-06-30"
    assert [
        (r["facility"], r["status_before"], r["status"], r["change"]) for r in model["portfolio"]
    ] == [
        ("acme", "in_grace", "event_of_default", "worse"),
        ("plain", "compliant", "compliant", "same"),
    ]
    assert model["changes"] == {"worse": 1, "same": 1}
    assert [(s["status"], s["facilities"], s["facilities_before"]) for s in model["by_status"]] == [
        ("event_of_default", 1, 0),
        ("in_grace", 0, 1),
        ("compliant", 1, 1),
    ]
    assert run(*on, "--compare-to", "1998-06-30") == 0
    text = capsys.readouterr().out
    assert "By status: 1 event of default (0); 0 default (in grace) (1); 1 compliant (1)." in text
    assert "of 2 facilities, 1 worse, 1 unchanged." in text
    assert re.search(r"\| acme \|.*\| event of default \| default \(in grace\) \| worse \|", text)
    assert re.search(r"\| plain \|.*\| compliant \| compliant \|  \|", text)
    assert run(*on, "--compare-to", "1998-06-30", "--format", "xlsx", "--out", str(book)) == 0
    header, *cells = load_workbook(book)["Portfolio"].values
    assert header[3:6] == ("Status", "Status on 1998-06-30", "Change")
    assert [c[3:6] for c in cells] == [
        ("event of default", "default (in grace)", "worse"),
        ("compliant", "compliant", "unchanged"),
    ]
    # A period back from the report's date, for a schedule: six months before December 31 is
    # June 30 (dateutil's month arithmetic keeps to the month's last day).
    assert run(*on, "--compare-to", "P6M", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["compared_to"] == "1998-06-30"
    assert run(*on, "--compare-to", "1998-03-31", "--format", "json") == 0
    model = json.loads(capsys.readouterr().out)
    assert {r["facility"]: r["change"] for r in model["portfolio"]} == {
        "acme": "new",
        "plain": "new",
    }
    capsys.readouterr()
    assert run(*on, "--compare-to", "1998-12-31") == 2
    assert "--compare-to 1998-12-31 is not before the report's date, 1998-12-31" in (
        capsys.readouterr().err
    )
    assert run(*on, "--compare-to", "P2000Y") == 2
    assert "before the year 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        run(*on, "--compare-to", "7 days")
    assert usage.value.code == 2
    assert "neither a date (YYYY-MM-DD) nor a period" in capsys.readouterr().err


def test_a_compliant_facility_short_of_a_coming_step_up_needs_attention(tmp_path, capsys):
    """Section 6.18's minimum for the quarter ending March 31, 1998 is a loss of $391,000; from
    June 30, 1998 it is $5,000,000 of income (First Amendment, Exhibit A item 3). lean's first
    quarter ($1,000,000) complies, but is $4,000,000 short of June's minimum: as of March 31 it
    is detailed and listed before ample ($6,000,000 meets both), which is a row only."""
    facts, db, book = tmp_path / "facts", tmp_path / "log.db", tmp_path / "book.xlsx"
    for name, income in (("ample", "6,000,000"), ("lean", "1,000,000")):
        quarter = {**compliant_quarter("1998-03-31", "21,000,000"), "net_income": income}
        write_table(facts / name, "financials", [quarter])
        (facts / name / "facility.toml").write_text(PLAIN.replace("Plain", name.title()))
    assert run("run", "--rules", str(RULES), "--facts", str(facts), "--db", str(db)) == 0
    capsys.readouterr()
    assert run("report", "--db", str(db), "--as-of", "1998-03-31", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)["portfolio"]
    assert [(r["facility"], r["status"], r["detailed"]) for r in rows] == [
        ("lean", "compliant", True),
        ("ample", "compliant", False),
    ]
    short = rows[0]["step_up_short"]
    assert (short["covenant"], short["takes_effect"], short["required"]) == (
        "6.18",
        "1998-06-30",
        "5000000",
    )
    assert short["improvement_needed"] == "4000000" and rows[1]["step_up_short"] is None
    assert run("report", "--db", str(db), "--as-of", "1998-03-31") == 0
    text = capsys.readouterr().out
    assert re.search(r"\| lean \|.*\| 6\.18 from 1998-06-30: \$4,000,000 short \|", text)
    assert "## Lean Manufacturing Co.:" in text and "## Ample Manufacturing Co.:" not in text
    assert (
        run(
            "report",
            "--db",
            str(db),
            "--as-of",
            "1998-03-31",
            "--format",
            "xlsx",
            "--out",
            str(book),
        )
        == 0
    )
    header, *cells = load_workbook(book)["Portfolio"].values
    at = header.index("Step-up short")
    assert [c[at : at + 3] for c in cells] == [
        ("6.18", datetime(1998, 6, 30), 4000000),
        (None, None, None),
    ]


def test_a_review_against_an_earlier_date_details_a_facility_that_got_better(
    portfolio: Path, tmp_path: Path, capsys
) -> None:
    """plain's revolver falls short of Section 4.2(iii)'s $4,886,984 on July 15, 1998
    (3,000,000 + 1,500,000 = 4,500,000: a Revolving Loan Reduction) and meets it on October 15
    (3,000,000 + 2,000,000). As of December 31 it is compliant, so a report details it only
    when compared to September 30, when it stood accelerated: better, and a reviewer asks why."""
    write_table(
        portfolio / "plain",
        "revolver",
        [
            {
                "date": day,
                "revolving_loans_outstanding": "3,000,000",
                "revolving_loans_available": available,
            }
            for day, available in (("1998-07-15", "1,500,000"), ("1998-10-15", "2,000,000"))
        ],
    )
    db = tmp_path / "log.db"
    assert run("run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)) == 1
    capsys.readouterr()
    on = ["report", "--db", str(db), "--as-of", "1998-12-31", "--format", "json"]
    assert run(*on) == 0
    rows = {r["facility"]: r for r in json.loads(capsys.readouterr().out)["portfolio"]}
    assert (rows["plain"]["status"], rows["plain"]["detailed"]) == ("compliant", False)
    assert run(*on, "--compare-to", "1998-09-30") == 0
    rows = {r["facility"]: r for r in json.loads(capsys.readouterr().out)["portfolio"]}
    plain = rows["plain"]
    assert (plain["status_before"], plain["status"], plain["change"]) == (
        "accelerated",
        "compliant",
        "better",
    )
    assert plain["detailed"] and rows["acme"]["detailed"]
    assert (
        run("report", "--db", str(db), "--as-of", "1998-12-31", "--compare-to", "1998-09-30") == 0
    )
    text = capsys.readouterr().out
    assert "Each facility's sections follow." in text and "## Plain Manufacturing Co.:" in text
    assert followed(200, 191, compared_to="1998-09-30").startswith(
        "The sections of the 9 needing attention or changed since 1998-09-30 follow; the other "
        "191, compliant with nothing open, unpaid or short of a coming step-up and unchanged "
        "since 1998-09-30, or no longer monitored,"
    )


def test_defaults_in_grace_come_first_by_the_day_their_grace_runs_out(
    portfolio: Path, tmp_path: Path, capsys
) -> None:
    """acme's 1998Q2 current ratio (1.05 against its own 1.10) breaches Section 6.20 on June
    30, 1998, with 30 days' grace (its Section 7.1(c)): an Event of Default on July 30 unless
    cured or waived. zeta has the same figures and 10 days' grace: July 10. As of July 5 both
    are in grace, and zeta, nearer an Event of Default, comes first, though acme is first by
    name; each row says until when, and each facility's dates ahead has the day."""
    zeta = ACME.replace("grace_days = 30", "grace_days = 10").replace("Acme Holdings", "Zeta")
    write_table(portfolio / "zeta", "financials", QUARTERS)
    (portfolio / "zeta" / "facility.toml").write_text(zeta)
    db = tmp_path / "log.db"
    assert run("run", "--rules", str(RULES), "--facts", str(portfolio), "--db", str(db)) == 1
    capsys.readouterr()
    on = ["report", "--db", str(db), "--as-of", "1998-07-05"]
    assert run(*on, "--format", "json") == 0
    model = json.loads(capsys.readouterr().out)
    assert [(r["facility"], r["status_label"], r["grace_ends"]) for r in model["portfolio"]] == [
        ("zeta", "default (in grace) until 1998-07-10", "1998-07-10"),
        ("acme", "default (in grace) until 1998-07-30", "1998-07-30"),
        ("plain", "compliant", None),
    ]
    graces = {
        a["agreement"]: [
            (x["date"], x["covenant"], x["grace_days"])
            for x in a["dates_ahead"]
            if x["kind"] == "grace_ends"
        ]
        for a in model["agreements"]
    }
    assert graces == {"zeta": [("1998-07-10", "6.20", 10)], "acme": [("1998-07-30", "6.20", 30)]}
    assert run(*on) == 0
    assert re.search(
        r"\| zeta \|.*\| default \(in grace\) until 1998-07-10 \|", capsys.readouterr().out
    )
