"""The report model on the bundled example: the state on a date, early warnings with numbers
worked out by hand from the First Amendment's tables, breach lifecycles, and traceability."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from icalendar import Calendar

from conftest import EXAMPLE_FACTS, LATE, RULES
from engine import audit, report
from engine.audit import StoredEvent
from engine.pipeline import monitor
from engine.report.markdown import md
from engine.report.text import blocked_runs, ratio, step_up_sentence


def logged(tmp_path: Path, rules: Path = RULES, facts: Path = EXAMPLE_FACTS) -> list[StoredEvent]:
    db = tmp_path / "log.db"
    outcome = monitor(rules, facts, LATE)
    audit.record(db, outcome.events, LATE, outcome.inputs)
    return audit.read(db)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> list[StoredEvent]:
    return logged(tmp_path_factory.mktemp("example"))


def agreement(events: list[StoredEvent], on: str | None, **options) -> dict:
    model = report.build(events, date.fromisoformat(on) if on else None, **options)
    (only,) = model["agreements"]
    return only


def covenant(model: dict, section: str) -> dict:
    return next(c for c in model["covenants"] if c["section"] == section)


def test_march_1998_thin_headroom_worked_by_hand(example):
    summary = agreement(example, "1998-03-31")["summary"]
    thin = {w["covenant"]: (w["headroom"], w["headroom_percent"]) for w in summary["thin_headroom"]}
    assert thin == {
        # Section 4.2(iii), 1997-10-01: 4,900,000 - 4,886,984 = 13,016; / 4,886,984 = 0.27%
        "4.2": ("13016", "0.27"),
        # Section 6.19, 1998Q1: (8,700,000 + 4,500,000) / 30,000,000 = 0.44 against 0.425:
        # 0.015, / 0.425 = 3.53%
        "6.19": ("0.015", "3.53"),
        # Section 6.20, 1998Q1: 13,650,000 / 30,000,000 = 0.455 against 0.45: 0.005 = 1.11%
        "6.20": ("0.005", "1.11"),
        # Section 6.21, 1998-03-28: (14,000,000) against (14,642,000): 642,000 = 4.38%
        "6.21": ("642000", "4.38"),
    }
    # Section 6.18, 1998Q1: (350,000) against (391,000): 41,000 / 391,000 = 10.49%, not thin.
    assert (
        covenant(agreement(example, "1998-03-31"), "6.18")["latest_test"]["headroom_percent"]
        == "10.49"
    )


def test_the_thin_headroom_limit_is_a_strict_less_than_and_can_be_set(example):
    def thin(limit: str) -> list[str]:
        model = agreement(example, "1998-03-31", thin_percent=Decimal(limit))
        return [w["covenant"] for w in model["summary"]["thin_headroom"]]

    assert "6.18" not in thin("10.49")  # 10.49% is not less than 10.49%
    assert "6.18" in thin("10.5")
    assert thin("1.11") == ["4.2"]  # 6.20's 1.11% equals the limit: not thin


def test_march_1998_warns_of_the_june_1998_step_ups(example):
    ups = agreement(example, "1998-03-31")["summary"]["step_ups"]
    by = {(u["covenant"], u["takes_effect"]): u for u in ups}
    assert sorted(by) == [
        ("6.18", "1998-06-30"),
        ("6.19", "1998-06-30"),
        ("6.20", "1998-06-30"),
        ("6.21", "1998-03-31"),
        ("6.21", "1998-05-02"),
    ]
    # Section 6.18: the floor goes from a $391,000 loss (March 31, 1998) to $5,000,000 of income
    # (June 30, 1998 and thereafter): a lift of $5,391,000; from the 1998Q1 loss of $350,000 the
    # quarter's income must improve by 5,000,000 + 350,000 = $5,350,000.
    june = by[("6.18", "1998-06-30")]
    assert (june["from_minimum"], june["to_minimum"], june["lift"]) == (
        "-391000",
        "5000000",
        "5391000",
    )
    assert june["improvement_needed"] == "5350000"
    assert june["table_row"] == "June 30, 1998 and thereafter"
    # Section 6.19: 0.670 - 0.44 = 0.23; Section 6.20: 1.00 - 0.455 = 0.545.
    assert Decimal(by[("6.19", "1998-06-30")]["improvement_needed"]) == Decimal("0.23")
    assert Decimal(by[("6.20", "1998-06-30")]["improvement_needed"]) == Decimal("0.545")
    # Section 6.21 plus Net Securities Proceeds ($0 reported by March 1998): (13,842,000) from
    # March 31 needs (13,842,000) - (14,000,000) = 158,000 more; $5,000,000 from May 2 needs
    # 5,000,000 + 14,000,000 = 19,000,000 more.
    assert by[("6.21", "1998-03-31")]["improvement_needed"] == "158000"
    assert by[("6.21", "1998-05-02")]["improvement_needed"] == "19000000"
    assert by[("6.21", "1998-05-02")]["required"] == "5000000"


def test_the_horizon_is_the_next_two_quarter_ends(example):
    # Mid-March 1998 the next two quarter-ends are March 31 and June 30, 1998; the latest tests
    # are those of 1997Q4 (6.18: (700,000); 6.20: 0.45) and February 28, 1998 (6.21).
    model = report.build(example, date(1998, 3, 15))
    assert model["horizon"] == {"after": "1998-03-15", "through": "1998-06-30"}
    ups = {
        (u["covenant"], u["takes_effect"]): u for u in model["agreements"][0]["summary"]["step_ups"]
    }
    # 6.18 1998Q1: (391,000) after (838,000); from (700,000) it needs 309,000 more.
    assert ups[("6.18", "1998-03-31")]["improvement_needed"] == "309000"
    assert ups[("6.18", "1998-06-30")]["improvement_needed"] == "5700000"
    # 6.20 1998Q1: 0.45 after 0.44; the 1997Q4 ratio of 13,500,000 / 30,000,000 = 0.45 meets it.
    assert ups[("6.20", "1998-03-31")]["improvement_needed"] == "0"
    # 6.19's row for 1998Q1 is the row already in force (0.425): not a step-up.
    assert ("6.19", "1998-03-31") not in ups
    assert ups[("6.21", "1998-03-31")]["improvement_needed"] == "758000"  # 14,600,000 - 13,842,000
    # After June 1998 every table has reached its "and thereafter" row: nothing steps up.
    assert agreement(example, "1998-06-30")["summary"]["step_ups"] == []


def test_the_horizon_ends_at_the_last_date_there_is(example):
    # After June 30, 9999 come two quarter-ends, September 30 and December 31, 9999; after
    # September 30 only the last, and after it none (no date follows December 31, 9999).
    for day, through in [("9999-06-30", "9999-12-31"), ("9999-09-30", "9999-12-31")]:
        assert report.build(example, date.fromisoformat(day))["horizon"]["through"] == through
    model = report.build(example, date(9999, 12, 31))
    assert model["horizon"] == {"after": "9999-12-31", "through": "9999-12-31"}
    assert model["agreements"][0]["summary"]["step_ups"] == []


def test_march_1998_counts_and_open_events_of_default(example):
    model = agreement(example, "1998-03-31")
    summary = model["summary"]
    # In breach: 5.2 (the reserve not restored within 5 Business Days of January 15, 1998) and
    # SPA 5(a) (a 10-Q delivered on the 21st day); 6.3 and 6.4: waived or suspended (other).
    # Compliant now also counts 9.1: 30,000,000 within the cap of 36,290,000 - 1,500,000.
    assert (summary["compliant"], summary["in_breach"], summary["other"]) == (6, 2, 2)
    # 6.18 (1997Q3), 6.21 (1997-11-29 and 1998-01-31), SPA 5(a) (a default of the Stock
    # Purchase Agreement, which has no events of default), 5.2.
    assert [(d["covenant"], d["breach_date"]) for d in model["open_defaults"]] == [
        ("6.18", "1997-09-27"),
        ("6.21", "1997-11-29"),
        ("SPA 5(a)", "1997-12-05"),
        ("5.2", "1998-01-23"),
        ("6.21", "1998-01-31"),
    ]
    assert summary["events_of_default"] == 4
    # Section 4.2: 409,687.50 + 327,750.00 + 81,937.50 plus 30/360 interest at 17% for 13 days
    # = 824,405.06; Section 4.1 interest in cash (PIK blocked): February 19, 1998, 180 days at
    # 15% on 17,250,000 = 1,293,750.00, and March 19, 30 days = 215,625.00; and the Default Rate
    # interest on the 4.2 amounts paid 13 days late (note_payments.csv), at 17%:
    # 412,202.53 -> 2,530.47; 329,762.02 -> 2,024.37; 82,440.51 -> 506.09; 5,060.93 in all.
    assert summary["amounts_due_total"] == "2338840.99"
    # note_payments.csv: all of it paid by March 19, 1998 (the 4.2 amounts 13 days late).
    assert summary["amounts_unpaid_total"] == "0.00"
    assert covenant(model, "6.18")["status_text"] == (
        "compliant (open event of default of 1997-09-27)"
    )


def test_waivers_count_from_their_effective_date(example):
    # Waiver and Amendment Agreement, effective October 31, 1996: before it, the 6.3 breach of
    # September 20, 1996 is a breach the log shows no waiver for.
    before = agreement(example, "1996-10-15")
    (life,) = [x for x in before["lifecycles"] if x["covenant"] == "6.3"]
    assert life["status"] == "breach"
    assert [s["event"] for s in life["steps"]] == ["breach"]
    after = agreement(example, "1996-11-01")
    (life,) = [x for x in after["lifecycles"] if x["covenant"] == "6.3"]
    assert life["status"] == "waived"
    assert [(s["date"], s["event"]) for s in life["steps"]] == [
        ("1996-09-20", "breach"),
        ("1996-10-31", "waived"),
    ]


def test_a_suspended_breach_and_its_reinstatement_date(example):
    # The 6.4 breach of November 15, 1996 falls inside the suspension; the senior lender's action
    # of November 22, 1996 makes that day the Reinstatement Date.
    on_20th = agreement(example, "1996-11-20")
    (life,) = [x for x in on_20th["lifecycles"] if x["breach_date"] == "1996-11-15"]
    assert (life["status"], life["status_text"]) == ("suspended", "breach suspended")
    later = agreement(example, None)
    (life,) = [x for x in later["lifecycles"] if x["breach_date"] == "1996-11-15"]
    assert life["status_text"] == (
        "breach suspended, covenant in full force again after 1996-11-22"
    )
    assert [s["event"] for s in life["steps"]] == ["breach", "suspended", "reinstatement_date"]


def test_a_default_in_grace_on_the_report_date(tmp_path, rules_copy):
    # Give 6.18 ten days' grace: its 1997Q3 breach (1997-09-27) becomes an Event of Default on
    # 1997-10-07 (27 September + 10 days).
    path = rules_copy / "cerplex" / "covenant-6.18-minimum-profitability.toml"
    path.write_text(path.read_text().replace("grace_days = 0", "grace_days = 10"))
    events = logged(tmp_path, rules=rules_copy)

    def life(on: str) -> dict:
        model = agreement(events, on)
        return next(x for x in model["lifecycles"] if x["breach_date"] == "1997-09-27")

    assert (life("1997-10-06")["status"], life("1997-10-06")["status_text"]) == (
        "in_grace",
        "default (in grace), until 1997-10-07",
    )
    assert life("1997-10-07")["status"] == "event_of_default"
    assert [s["date"] for s in life("1997-10-07")["steps"]] == [
        "1997-09-27",
        "1997-09-27",
        "1997-10-07",
    ]


def test_the_revolving_loan_reduction_lifecycle_carries_its_notice_and_amounts(example):
    model = agreement(example, None)
    (life,) = [x for x in model["lifecycles"] if x["covenant"] == "4.2"]
    assert life["status"] == "accelerated"
    assert [s["event"] for s in life["steps"]] == [
        "revolving_loan_reduction",
        "notice_required",
        "amount_due",
        "amount_due",
        "amount_due",
    ]


def test_every_sequence_number_cited_is_in_the_appendix(example):
    for on in ("1996-10-15", "1998-03-31", None):
        model = report.build(example, date.fromisoformat(on) if on else None)
        listed = {e["seq"] for e in model["events"]}
        cited = set(_seqs(model["agreements"]))
        assert cited and cited <= listed
        if on:
            day = date.fromisoformat(on)
            assert all(
                e.date <= day
                for e in example
                if e.seq in listed and not e.event.endswith("_terms") and e.event != "waived"
            )


def test_the_latest_version_of_the_terms_is_used(tmp_path, rules_copy):
    db = tmp_path / "log.db"
    for minimum in ("0.45", "0.46"):
        path = rules_copy / "cerplex" / "covenant-6.20-current-ratio.toml"
        path.write_text(path.read_text().replace('minimum = "0.45"', f'minimum = "{minimum}"'))
        outcome = monitor(rules_copy, EXAMPLE_FACTS, LATE)
        audit.record(db, outcome.events, LATE, outcome.inputs)
    model = agreement(audit.read(db), None)
    schedule = covenant(model, "6.20")["schedule"]
    assert schedule[3]["minimum"] == "0.46"


def test_markdown_carries_the_warnings_and_the_appendix(example):
    text = report.render(report.build(example, date(1998, 3, 31)), "md").decode()
    assert "State on **1998-03-31**" in text
    assert (
        "6.18 Minimum Profitability: from 1998-06-30 (June 30, 1998 and thereafter) the minimum "
        "rises from ($391,000) to $5,000,000. The latest value, ($350,000) (1998Q1 (1998-03-28)), "
        "must improve by $5,350,000 to comply."
    ) in text
    assert re.search(
        r"\| 6\.20 Current Ratio \| 1998Q1 \(1998-03-28\) \[\d+\] \| 0\.4550 \| 0\.4500 \| "
        r"0\.0050 \(1\.11%\) \|",
        text.replace("\\[", "[").replace("\\]", "]"),
    )
    assert "## Appendix: the audit-log events this report rests on" in text


def _seqs(value: object):
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("seq") and isinstance(item, int):
                yield item
            else:
                yield from _seqs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _seqs(item)


def test_an_empty_log_renders_in_every_format():
    model = report.build([])
    assert model["agreements"] == [] and model["state_on"] is None
    assert "holds no events" in report.render(model, "md").decode()
    assert "holds no events" in report.render(model, "html").decode()
    assert json.loads(report.render(model, "json"))["events"] == []
    assert report.render(model, "xlsx")[:2] == b"PK"  # a zip: the workbook
    assert not Calendar.from_ical(report.render(model, "ics")).walk("VEVENT")


def test_markdown_cells_keep_borrower_text_from_becoming_markup():
    """A facility's name or a note is the controller's text: in a Markdown table it must not
    break the row (a pipe, a line break) nor turn into emphasis, a link, a heading or HTML."""
    text = "Acme | Co *big* _x_ [a](b) #1 <b> & `c` \\ one\r\ntwo"
    assert md(text) == (
        "Acme \\| Co \\*big\\* \\_x\\_ \\[a\\](b) \\#1 &lt;b&gt; &amp; \\`c\\` \\\\ one  two"
    )
    assert md("$4,000,000 (12.5%) 1997-09-30") == "$4,000,000 (12.5%) 1997-09-30"
    assert md(Decimal("1.25")) == "1.25" and md(None) == ""
    assert all(md(f"a{c}b") != f"a{c}b" for c in "\\&<>|\r\n*_`[]#")  # each one alone too


@pytest.mark.parametrize(
    ("value", "unlike", "shown"),
    [
        ("0.455", "0.45", "0.4550"),
        ("0.45", "0.45", "0.4500"),  # equal: compliance, shown as equal
        ("0.44999997", "0.45", "0.44999997"),  # a breach never reads as 0.4500
        ("0.45000004", "0.45", "0.45000004"),
        ("-0.00000003", "0", "-0.00000003"),  # a headroom never reads as -0.0000
        ("0.4499999999999999", "0.45", "0.4499999999999999"),  # past 12 places: all of it
        ("0.123456", None, "0.1235"),
    ],
)
def test_a_ratio_is_never_shown_equal_to_what_it_is_not(value, unlike, shown):
    assert ratio(value, unlike) == shown


def test_payment_dates_blocked_for_one_reason_are_one_line(example):
    """Section 4.1(b)(ii): no capitalization while a Default is continuing. As of March 31,
    1998, the payment dates of February 19 and March 19, 1998 are both blocked by the Section
    6.18 default of 1997-09-27: one line, citing both dates' events."""
    model = report.build(example, date(1998, 3, 31))
    first, second = (b["seq"] for b in model["agreements"][0]["pik_blocked"])
    text = report.render(model, "md").decode()
    assert (
        f"- 1998-02-19 to 1998-03-19, 2 payment dates [{first}] [{second}]: a Default or Event of "
        "Default is continuing, from the Section 6.18 default of 1997-09-27 (First Amendment "
        "Agreement (1997-08-20), Exhibit A item 1, Section 4.1(b)(ii))"
    ) in text


def test_a_new_reason_starts_a_new_line_of_blocked_dates():
    def blocked(day: str, seq: int, reason: str) -> dict:
        return {"payment_date": day, "seq": seq, "reason": reason, "clause": "4.1(b)(ii)"}

    rows = [
        blocked("1998-02-19", 1, "a default"),
        blocked("1998-03-19", 2, "a blockage"),
        blocked("1998-05-19", 3, "a default"),
        blocked("1998-06-19", 4, "a default"),
    ]
    assert [(r["from"], r["through"], r["seqs"], r["reason"]) for r in blocked_runs(rows)] == [
        ("1998-02-19", "1998-02-19", [1], "a default"),
        ("1998-03-19", "1998-03-19", [2], "a blockage"),
        ("1998-05-19", "1998-06-19", [3, 4], "a default"),
    ]


def test_the_amounts_left_unpaid_add_up_to_what_the_notes_are_owed(example):
    """note_payments.csv pays nothing after May 19, 1998. Left unpaid: the 42 monthly interest
    payments of June 19, 1998 to November 19, 2001, each 108,598.63 + 86,878.91 + 21,719.73 =
    217,197.27 for the three Notes (15% of their principal for 30 days): 9,122,285.34; and the
    principal at maturity, 8,687,890.62 + 6,950,312.50 + 1,737,578.13 = 17,375,781.25; in all
    26,498,066.59, the amounts due's Unpaid column and the Notes' positions alike."""
    model = agreement(example, None)
    unpaid = [x for x in model["amounts_due"] if Decimal(x["unpaid"])]
    assert sum(Decimal(x["unpaid"]) for x in unpaid) == Decimal("26498066.59")
    assert {x["due_date"] for x in unpaid if x["what"] == "principal"} == {"2001-11-19"}
    assert len(unpaid) == 42 * 3 + 3 and all(x["paid"] == "0.00" for x in unpaid)
    assert model["summary"]["unpaid"]["overdue"] == "26498066.59"
    assert model["summary"]["amounts_unpaid_total"] == "26498066.59"
    text = report.render(report.build(example), "md").decode()
    assert ", of which $26,498,066.59 unpaid on 2026-01-01" in text


def test_a_covenant_counted_in_days_shows_its_inputs_in_days(example):
    """Stock Purchase Agreement Section 5(a): copies within twenty days of filing. The 10-Q for
    1997Q3, filed November 14, 1997 and delivered December 5, is 21 days from its filing: one
    day late. Its input is a count of days, not dollars."""
    text = report.render(report.build(example, date(1998, 3, 31)), "md").decode()
    text = text.replace("\\[", "[").replace("\\]", "]").replace("\\_", "_")
    assert re.search(
        r"\| 10-Q 1997Q3 \(1997-12-05\) \[\d+\] \| days_from_filing 21 days \| 21 days \| "
        r"20 days \| -1 day \| -5\.00% \| breach",
        text,
    )


def test_compared_to_an_earlier_date_what_changed_and_the_breaches_since(example):
    """`report --compare-to`: the state on March 31, 1998 beside December 31, 1998's."""
    model = report.build(example, date(1998, 12, 31), compare_to=date(1998, 3, 31))
    before = model["agreements"][0]["before"]
    changed = {c["covenant"]: (c["then"], c["now"]) for c in before["changed"]}
    # 9.1 (First Amendment, Exhibit A item 7(B)): 30,000,000 on 1998-03-28 within the cap of
    # 36,290,000 - 1,500,000; 20,000,000 on 1998-06-27 above 36,290,000 - 15,000,000 -
    # 2,000,000 = 19,290,000, its latest test by December 31.
    assert changed["9.1"] == ("compliant", "above the cap")
    # SPA 5(a): the 10-Q for 1997Q3 delivered on the 21st day was its latest test in March;
    # the 10-K for 1997, delivered on the 14th day, is compliant, the default still open.
    assert changed["SPA 5(a)"] == ("default", "compliant (open default of 1997-12-05)")
    # 6.21 compliant on 1998-03-28 ((14,000,000) against (14,642,000)); below the $8,000,000
    # from May 2, 1998 at its latest test, (900,000) on 1998-12-26.
    assert changed["6.21"] == (
        "compliant (open event of default of 1997-11-29, 1998-01-31)",
        "event of default",
    )
    # 6.18 compliant at 1998Q1 and 1998Q4 ($5,000,000, equal to the minimum), but the 1998Q2
    # and 1998Q3 breaches are open events of default: its status alone would hide them.
    assert changed["6.18"] == (
        "compliant (open event of default of 1997-09-27)",
        "compliant (open event of default of 1997-09-27, 1998-06-27, 1998-09-26)",
    )
    assert "5.2" not in changed and "6.19" not in changed  # as they were
    # 6.21 from May 2, 1998: (10,800,000), (11,900,000), (5,900,000), (900,000) against
    # 8,000,000; 6.18: (1,200,000) and 3,500,000 against 5,000,000; 6.20: 0.4828 and 0.9688
    # against 1.00. None waived: each an event of default.
    assert [(b["covenant"], b["breach_date"], b["status_text"]) for b in before["breaches"]] == [
        ("6.21", "1998-05-30", "event of default"),
        ("6.18", "1998-06-27", "event of default"),
        ("6.20", "1998-06-27", "event of default"),
        ("6.21", "1998-06-27", "event of default"),
        ("6.18", "1998-09-26", "event of default"),
        ("6.20", "1998-09-26", "event of default"),
        ("6.21", "1998-09-26", "event of default"),
        ("6.21", "1998-12-26", "event of default"),
    ]
    text = report.render(model, "md").decode()
    assert "| Section | Covenant | Status | On 1998-03-31 | Latest test |" in text
    assert re.search(r"\| 9\.1 \| [^|]+ \| above the cap \| compliant \|", text)
    assert re.search(r"- Breaches since 1998-03-31: 6\.21 on 1998-05-30 \[\d+\], event of", text)
    html = report.render(model, "html").decode()
    assert "<th>Status (and on 1998-03-31)</th>" in html
    assert '<span class="note">on 1998-03-31: compliant</span>' in html
    assert "Breaches since 1998-03-31</strong>" in html
    plain = report.build(example, date(1998, 12, 31))
    assert plain["compared_to"] is None and plain["agreements"][0]["before"] is None
    assert "On 1998-03-31" not in report.render(plain, "md").decode()


def test_a_report_before_any_position_says_where_it_would_be_found(example):
    """The example's one run records each Note's position on its as-of date only: a report as
    of December 31, 1999 has the Notes' ledger to that day but no position, and says so for
    each of the three Notes, and how to have it, rather than leave the reader to think nothing
    was owed."""
    model = report.build(example, date(1999, 12, 31))
    assert [n["position"] for n in model["agreements"][0]["notes_ledger"]] == [None] * 3
    text = report.render(model, "md").decode()
    said = "Where this Note stood on 1999-12-31 is not recorded"
    assert text.count(said) == 3
    assert '"covenant-monitor run --as-of 1999-12-31 --db ANOTHER.db"' in text
    assert report.render(model, "html").decode().count(said) == 3
    assert said not in report.render(report.build(example), "md").decode()


@pytest.mark.parametrize(
    ("days", "warned"),
    [
        # Tightened to 10 days: the latest delivery, 21 days after filing (the 10-Q for
        # 1997Q3), is 21 - 10 = 11 days over the coming maximum.
        ("10", "the maximum falls from 20 days to 10 days. The latest value, 21 days"),
        ("30", None),  # loosened to 30 days: nothing to warn of
    ],
)
def test_a_maximum_that_falls_is_warned_of_and_one_that_rises_is_not(
    tmp_path, rules_copy, days, warned
):
    """Stock Purchase Agreement Section 5(a) allows twenty days; given a second row from April
    1, 1998 (the test's, not the agreement's), as a leverage ratio's maximum steps down. The
    terms store a maximum as they store a minimum: a falling one had gone unwarned, and a
    rising one was read as a minimum stepping up."""
    path = rules_copy / "cerplex" / "covenant-spa-5a-delivery-of-reports.toml"
    path.write_text(
        path.read_text().replace(
            'maximum = "20"\n',
            'through = 1998-03-31\nmaximum = "20"\n',
        )
        + f'\n[[covenant.schedule]]\nfrom = 1998-04-01\nmaximum = "{days}"\n'
        'table_row = "a test\'s row"\nsource = "test"\n'
    )
    events = logged(tmp_path, rules=rules_copy)
    ups = [
        u
        for u in agreement(events, "1998-03-31")["summary"]["step_ups"]
        if u["covenant"] == "SPA 5(a)"
    ]
    if warned is None:
        assert ups == []
        return
    (up,) = ups
    assert (up["breach_when"], up["takes_effect"], up["improvement_needed"]) == (
        "above",
        "1998-04-01",
        "11",
    )
    assert warned in step_up_sentence(up) and "must improve by 11 days" in step_up_sentence(up)


def test_a_cap_is_called_a_maximum_and_breached_above_it(example):
    """9.1's Senior Debt cap (First Amendment, Exhibit A item 7(B): $36,290,000 less Permanent
    Reductions) and SPA 5(a)'s twenty days are maximums: the report had said of the cap
    "minimum ...; breach when below", and headed both schedules "Minimum"."""
    model = report.build(example, date(1998, 12, 31))
    sides = {c["section"]: c["breach_when"] for c in model["agreements"][0]["covenants"]}
    assert sides["9.1"] == sides["SPA 5(a)"] == "above"
    assert sides["6.18"] == "below" and sides["6.3"] is None  # reported breaches only: no test
    text = report.render(model, "md").decode()
    # "each minus Permanent Reductions": the cap less them, which had read "maximum +
    # -term_loan_permanent_reductions - ...".
    assert (
        "Metric: `debt_outstanding`, maximum - term_loan_permanent_reductions"
        " - revolving_permanent_reductions; breach when above." in text
    )
    assert text.count("| Table row | From | Through | Maximum | Source |") == 2
    # As of December 31, 1998: 5.2 and 6.21 in breach (events of default); 6.3 waived, 6.4
    # suspended and 9.1 above its cap, which flags the excess rather than breaching: "other",
    # whose words had said "not tested, waived or suspended".
    s = model["agreements"][0]["summary"]
    assert (s["compliant"], s["in_breach"], s["other"]) == (5, 2, 3)
    assert "3 other (not tested, waived, suspended, accelerated or above a cap)" in text
    html = report.render(model, "html").decode()
    assert html.count("crosses mark tests above the maximum") == 2
    assert (
        "breach when above the <code>maximum - term_loan_permanent_reductions"
        " - revolving_permanent_reductions</code>" in html
    )
    caption = "(the schedule - term_loan_permanent_reductions - revolving_permanent_reductions)"
    assert caption in html
    # 6.21: "plus one hundred percent (100%) of Net Securities Proceeds".
    assert "<code>minimum + net_securities_proceeds</code>" in html
    assert "<summary>Schedule of maximums (1 row)</summary>" in html


def test_a_cap_reads_as_a_cap_before_its_first_test(example):
    """As of June 30, 1997, before SPA 5(a)'s first delivery was due (the 10-Q filed August
    12, 1997; Section 5(a): "within twenty (20) days") and 9.1's first test, the terms say
    which limit each is: a maximum, where before a first test the report had said "limit";
    6.19, first tested on September 27, 1997, a minimum (Exhibit A item 4)."""
    model = report.build(example, date(1997, 6, 30))
    covenants = {c["section"]: c for c in model["agreements"][0]["covenants"]}
    assert covenants["SPA 5(a)"]["latest_test"] is covenants["9.1"]["latest_test"] is None
    sides = {section: c["breach_when"] for section, c in covenants.items()}
    assert sides["SPA 5(a)"] == sides["9.1"] == "above"
    assert (sides["6.19"], sides["6.3"]) == ("below", None)
    text = report.render(model, "md").decode()
    assert text.count("| Table row | From | Through | Maximum | Source |") == 2
    assert "Metric: `debt_outstanding`, maximum - term_loan_permanent_reductions" in text


def ahead(model: dict) -> list[tuple[str, str, str]]:
    return [(x["date"], x["kind"], x["covenant"]) for x in model["dates_ahead"]]


def test_dates_ahead_in_march_1998_worked_by_hand(example):
    """As of March 31, 1998 the horizon runs through September 30, 1998. Section 4.1(a), as the
    First Amendment (Exhibit A item 1) has it: interest "payable ... (y) monthly on the
    nineteenth (19th) day of each month thereafter commencing March 19, 1998", so April 19 to
    September 19. The limits that tighten (Exhibit A items 3 to 6), against the latest tests of
    1998Q1 (1998-03-28): 6.21 from (14,642,000) to (13,842,000) on March 31, which (14,000,000)
    misses by 158,000, then to 5,000,000 from May 2, by 19,000,000; on June 30, 6.18 from
    (391,000) to 5,000,000, (350,000) short by 5,350,000; 6.19 from 0.425 to 0.67, 0.44 short
    by 0.23; 6.20 from 0.45 to 1.00, 0.455 short by 0.545."""
    model = agreement(example, "1998-03-31")
    assert ahead(model) == [
        ("1998-03-31", "step_up", "6.21"),
        ("1998-04-19", "interest_payment", "4.1"),
        ("1998-05-02", "step_up", "6.21"),
        ("1998-05-19", "interest_payment", "4.1"),
        ("1998-06-19", "interest_payment", "4.1"),
        ("1998-06-30", "step_up", "6.18"),
        ("1998-06-30", "step_up", "6.19"),
        ("1998-06-30", "step_up", "6.20"),
        ("1998-07-19", "interest_payment", "4.1"),
        ("1998-08-19", "interest_payment", "4.1"),
        ("1998-09-19", "interest_payment", "4.1"),
    ]
    steps = [x for x in model["dates_ahead"] if x["kind"] == "step_up"]
    assert [Decimal(x["improvement_needed"]) for x in steps] == [
        Decimal(158000),
        Decimal(19000000),
        Decimal(5350000),
        Decimal("0.23"),
        Decimal("0.545"),
    ]
    first = model["dates_ahead"][1]
    assert first["clause"].endswith("Exhibit A item 1, Section 4.1(a)(x) and (y)")
    assert first["text"] == "Interest on the Notes is payable."
    assert steps[1]["text"] == (
        "The minimum rises from ($13,842,000) to $5,000,000 plus net securities proceeds ($0 so "
        "far): the latest value, ($14,000,000) (1998-03-28), is short of it by $19,000,000."
    )


def test_dates_ahead_an_election_notice_until_it_is_given(example):
    """To add Additional Capitalized Interest Amounts on February 19, 1998 (a Thursday), the
    Company must give notice "not less than three (3) Business Days prior" (Section 4.1(c)(i)):
    Wednesday 18, Tuesday 17, then Friday 13, Monday 16 being Washington's Birthday, when New
    York's banks close. pik_elections.csv has it given on February 13: listed as of the 12th,
    not as of the 13th."""
    before = agreement(example, "1998-02-12")["dates_ahead"]
    assert [(x["date"], x["kind"]) for x in before[:2]] == [
        ("1998-02-13", "notice_deadline"),
        ("1998-02-19", "interest_payment"),
    ]
    assert before[0]["to"] == "each holder of a Note"
    assert before[0]["clause"].endswith("Section 4.1(c)(i)")
    given = agreement(example, "1998-02-13")["dates_ahead"]
    assert "notice_deadline" not in {x["kind"] for x in given}
    # The notices owed say so too: not given on the 12th, though the run that recorded the
    # notice (as of a later date) knew it was given on the 13th.
    (owed,) = agreement(example, "1998-02-12")["notices_owed"][1:]
    assert (owed["deadline"], owed["given_on"], owed["timely"]) == ("1998-02-13", None, None)
    (owed,) = agreement(example, "1998-02-13")["notices_owed"][1:]
    assert (owed["given_on"], owed["timely"]) == ("1998-02-13", True)


def test_dates_ahead_a_grace_period_running_out(tmp_path, rules_copy):
    """With ten days' grace, 6.18's 1997Q3 breach (1997-09-27) is an Event of Default from
    October 7, 1997 unless cured or waived: a date ahead on the 6th, not on the 7th."""
    path = rules_copy / "cerplex" / "covenant-6.18-minimum-profitability.toml"
    path.write_text(path.read_text().replace("grace_days = 0", "grace_days = 10"))
    events = logged(tmp_path, rules=rules_copy)
    (grace,) = [
        x for x in agreement(events, "1997-10-06")["dates_ahead"] if x["kind"] == "grace_ends"
    ]
    assert (grace["date"], grace["covenant"], grace["breach_date"]) == (
        "1997-10-07",
        "6.18",
        "1997-09-27",
    )
    assert grace["text"].startswith("The grace period (10 days) of the breach of 1997-09-27")
    later = agreement(events, "1997-10-07")["dates_ahead"]
    assert "grace_ends" not in {x["kind"] for x in later}


def test_dates_ahead_a_suspension_ending_at_the_latest_and_the_maturity(example):
    """The Waiver of October 31, 1996 (Section 1) suspends 6.3 and 6.4 until the earlier of a
    senior lender's action and November 30, 1996: as of November 1 both end by the 30th at the
    latest; the senior lender acted on November 22 (events.csv), after which neither is
    listed. The Notes are due November 19, 2001 (First Amendment, Recital B)."""
    assert ahead(agreement(example, "1996-11-01")) == [
        ("1996-11-30", "suspension_ends", "6.3"),
        ("1996-11-30", "suspension_ends", "6.4"),
    ]
    assert ahead(agreement(example, "1996-11-22")) == []
    maturity = agreement(example, "2001-06-30")["dates_ahead"]
    assert [(x["date"], x["kind"]) for x in maturity[-2:]] == [
        ("2001-11-19", "maturity"),
        ("2001-11-19", "interest_payment"),
    ]
    assert "Recital B" in maturity[-2]["clause"]


def test_dates_ahead_in_markdown_and_html(example):
    model = report.build(example, date(1998, 3, 31))
    text = report.render(model, "md").decode()
    assert (
        "#### Dates ahead\n\nFrom 1998-03-31 through 1998-09-30 (the next two quarter-ends):"
        in text
    )
    assert re.search(
        r"\| 1998-04-19 \\\[\d+\\\] \| 4\.1 Interest; Capitalized Interest Amounts \| "
        r"Interest on the Notes is payable\. \| First Amendment",
        text,
    )
    html = report.render(model, "html").decode()
    assert '<div class="ahead" id="ahead-cerplex">' in html
    assert html.count("Interest on the Notes is payable.") == 6


def test_dates_ahead_as_a_calendar(example):
    """`report --format ics`: each date ahead an all-day event, titled by facility, covenant
    and what happens, described with its clause and audit-log event. As of March 31, 1998,
    the eleven dates of test_dates_ahead_in_march_1998_worked_by_hand. An event's UID is the
    same in a later report (6.21's step to $5,000,000 on May 2, 1998, as of April 30), so a
    calendar importing both keeps one."""
    march = Calendar.from_ical(report.render(report.build(example, date(1998, 3, 31)), "ics"))
    events = march.walk("VEVENT")
    assert str(march["X-WR-CALNAME"]) == "Covenant dates ahead, 1998-03-31 through 1998-09-30"
    assert [(e.decoded("DTSTART"), str(e["SUMMARY"])) for e in events[:3]] == [
        (date(1998, 3, 31), "cerplex 6.21: the minimum rises"),
        (date(1998, 4, 19), "cerplex 4.1: interest payable on the Notes"),
        (date(1998, 5, 2), "cerplex 6.21: the minimum rises"),
    ]
    assert len(events) == 11 and len({str(e["UID"]) for e in events}) == 11
    assert events[1].decoded("DTEND") == date(1998, 4, 20)  # all day: the next day, excluded
    described = str(events[1]["DESCRIPTION"]).splitlines()
    assert described[0] == "The Cerplex Group, Inc.: 4.1 Interest; Capitalized Interest Amounts"
    assert described[2].endswith("Exhibit A item 1, Section 4.1(a)(x) and (y)")
    april = Calendar.from_ical(report.render(report.build(example, date(1998, 4, 30)), "ics"))
    (may,) = [e for e in april.walk("VEVENT") if e.decoded("DTSTART") == date(1998, 5, 2)]
    assert may["UID"] == events[2]["UID"]
