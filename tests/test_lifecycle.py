"""Breach, default and event of default: grace periods, --as-of, idempotent reruns."""

from datetime import date

from conftest import LATE, RULES, interim, only, pick, quarter, run, write_table
from engine import audit
from engine.pipeline import monitor


def test_a_breach_is_a_default_and_with_zero_grace_an_event_of_default_the_same_day(facts_dir):
    write_table(facts_dir / "cerplex", "financials", [interim("1997-11-29", "(15,400,000)")])
    events = run(facts_dir)
    default = only(events, "default", "6.21")
    assert default.details["grace_days"] == 0
    assert "Assumption" in default.details["grace_note"]
    assert only(events, "event_of_default", "6.21").date == date(1997, 11, 29)


def test_a_declared_grace_period_delays_the_event_of_default(facts_dir, rules_copy):
    rule = rules_copy / "cerplex" / "covenant-6.21-minimum-consolidated-tangible-net-worth.toml"
    rule.write_text(rule.read_text().replace("grace_days = 0", "grace_days = 30"))
    write_table(facts_dir / "cerplex", "financials", [interim("1997-11-29", "(15,400,000)")])
    during = monitor(rules_copy, facts_dir, date(1997, 12, 28)).events
    assert pick(during, "event_of_default") == []
    assert only(during, "grace_period", "6.21").details["event_of_default_on"] == "1997-12-29"
    after = monitor(rules_copy, facts_dir, date(1997, 12, 29)).events
    assert only(after, "event_of_default", "6.21").date == date(1997, 12, 29)


def test_as_of_uses_only_facts_dated_on_or_before_it(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [interim("1997-11-29", "(15,400,000)"), interim("1998-01-31", "(14,700,000)")],
    )
    events = run(facts_dir, as_of=date(1997, 12, 31))
    assert [e.date.isoformat() for e in pick(events, "test", "6.21")] == ["1997-11-29"]
    assert max(e.date for e in events) <= date(1997, 12, 31)


def test_rerunning_on_the_same_inputs_records_nothing_new(facts_dir, tmp_path):
    write_table(facts_dir / "cerplex", "financials", [interim("1997-11-29", "(15,400,000)")])
    db = tmp_path / "log.db"
    first = audit.record(db, run(facts_dir), LATE, {})
    again = audit.record(db, run(facts_dir), LATE, {})
    assert first and again == []
    assert len(audit.read(db)) == len(first)


def test_a_later_as_of_adds_only_what_is_new(facts_dir, tmp_path):
    write_table(
        facts_dir / "cerplex",
        "financials",
        [interim("1997-11-29", "(15,400,000)"), interim("1998-01-31", "(14,700,000)")],
    )
    db = tmp_path / "log.db"
    audit.record(db, run(facts_dir, as_of=date(1997, 12, 31)), date(1997, 12, 31), {})
    added = audit.record(db, run(facts_dir), LATE, {})
    assert {e.date for e in added} == {date(1998, 1, 31)}
    assert [e.event for e in added] == ["test", "breach", "default", "event_of_default"]


def test_every_logged_breach_carries_its_inputs_threshold_rule_and_clause():
    events = monitor(RULES, RULES.parent / "facts", LATE).events
    for breach in pick(events, "breach"):
        assert breach.details["clause"]
        if breach.details["value"] is not None:
            assert breach.details["inputs"] and breach.details["threshold"]
            assert breach.details["rule_file"].endswith(".toml")
            assert "row" in breach.details["source_row"]


def test_every_event_names_the_rule_that_fired_it():
    events = monitor(RULES, RULES.parent / "facts", LATE).events
    rules = {(e.event, e.details["rule"]) for e in events}
    assert ("breach", "breach") in rules
    assert ("breach", "reported_breach") in rules
    assert ("waived", "waived") in rules and ("suspended", "suspended") in rules
    assert ("amount_due", "accelerate") in rules
    assert ("reinstatement_date", "reinstatement_date") in rules


def test_a_blank_quarterly_figure_leaves_only_its_covenants_not_tested(facts_dir):
    # 1997Q3 reported with current liabilities blank: 6.20 cannot be tested and says why;
    # 6.18 is tested (-1,600,000 < -1,458,000: a breach).
    row = quarter("1997-09-27", fiscal_quarter="1997Q3", net_income="(1,600,000)")
    row["current_liabilities"] = ""
    write_table(facts_dir / "cerplex", "financials", [row])
    events = run(facts_dir)
    assert only(events, "not_tested", "6.20").details["reason"] == (
        "current_liabilities not reported (financials.csv row 2)"
    )
    assert pick(events, "test", "6.20") == []
    assert only(events, "breach", "6.18").details["headroom"] == "-142000"
