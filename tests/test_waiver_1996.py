"""The Waiver and Amendment Agreement of October 31, 1996 (instrument waiver-1996-10-31).

Section 1 waives the Noticed Events of Default under Sections 6.3 and 6.4 (Recital D: those
existing before the Effective Date) and suspends 6.3 and 6.4 from and including the Effective
Date to and including the Reinstatement Date: the earlier of a Senior Debt holder's action and
November 30, 1996. Section 4: effective October 31, 1996 only if the conditions are satisfied
on or before that date.
"""

from datetime import date

from conftest import only, pick, run, write_table

WAIVER = "waiver-1996-10-31"
CONDITIONS = {"date": "1996-10-31", "event": "conditions_satisfied", "instrument": WAIVER}


def breach(day: str, covenant: str) -> dict[str, str]:
    return {"date": day, "event": "reported_breach", "covenant": covenant}


def senior_action(day: str) -> dict[str, str]:
    return {"date": day, "event": "senior_debt_action", "note": "senior lender acts"}


def disposition(events, covenant: str, day: str) -> set[str]:
    return {
        e.event
        for e in events
        if e.covenant == covenant
        and e.date.isoformat() == day
        and e.event in ("waived", "suspended", "default", "event_of_default")
    }


def test_breaches_before_the_effective_date_are_waived(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "events",
        [breach("1996-09-20", "6.3"), breach("1996-10-30", "6.4"), CONDITIONS],
    )
    events = run(facts_dir)
    assert disposition(events, "6.3", "1996-09-20") == {"waived"}
    assert disposition(events, "6.4", "1996-10-30") == {"waived"}
    waived = pick(events, "waived", "6.3")[0]
    assert waived.details["instrument"] == WAIVER
    assert waived.details["effective_date"] == "1996-10-31"
    assert "Section 1" in waived.details["clause"]


def test_without_a_senior_action_the_suspension_runs_through_november_30_1996(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "events",
        [
            CONDITIONS,
            breach("1996-10-31", "6.3"),
            breach("1996-11-30", "6.4"),
            breach("1996-12-01", "6.3"),
        ],
    )
    events = run(facts_dir)
    assert disposition(events, "6.3", "1996-10-31") == {"suspended"}  # from and including
    assert disposition(events, "6.4", "1996-11-30") == {"suspended"}  # to and including
    assert disposition(events, "6.3", "1996-12-01") == {"default", "event_of_default"}
    reinstatements = pick(events, "reinstatement_date")
    assert {(e.covenant, e.date.isoformat()) for e in reinstatements} == {
        ("6.3", "1996-11-30"),
        ("6.4", "1996-11-30"),
    }
    assert all(e.details["instrument"] == WAIVER for e in reinstatements)


def test_a_senior_debt_action_brings_the_reinstatement_date_forward(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "events",
        [
            CONDITIONS,
            senior_action("1996-11-10"),
            breach("1996-11-10", "6.4"),
            breach("1996-11-11", "6.4"),
        ],
    )
    events = run(facts_dir)
    assert {e.date.isoformat() for e in pick(events, "reinstatement_date")} == {"1996-11-10"}
    assert disposition(events, "6.4", "1996-11-10") == {"suspended"}
    assert disposition(events, "6.4", "1996-11-11") == {"default", "event_of_default"}
    assert (
        "senior_debt_action on 1996-11-10"
        in pick(events, "reinstatement_date")[0].details["trigger"]
    )


def test_a_senior_action_before_the_effective_date_does_not_end_the_suspension(facts_dir):
    write_table(
        facts_dir / "cerplex",
        "events",
        [senior_action("1996-10-20"), CONDITIONS, breach("1996-11-15", "6.3")],
    )
    events = run(facts_dir)
    assert disposition(events, "6.3", "1996-11-15") == {"suspended"}
    assert {e.date.isoformat() for e in pick(events, "reinstatement_date")} == {"1996-11-30"}


def test_with_conditions_unsatisfied_the_waiver_is_pending_and_waives_nothing(facts_dir):
    write_table(
        facts_dir / "cerplex", "events", [breach("1996-09-20", "6.3"), breach("1996-11-15", "6.4")]
    )
    events = run(facts_dir)
    pending = only(events, "waiver_pending")
    assert pending.details["instrument"] == WAIVER
    assert pending.date == date(1996, 10, 31)
    assert disposition(events, "6.3", "1996-09-20") == {"default", "event_of_default"}
    assert disposition(events, "6.4", "1996-11-15") == {"default", "event_of_default"}
    assert pick(events, "waived") == pick(events, "suspended") == []
    assert pick(events, "reinstatement_date") == []


def test_conditions_satisfied_after_october_31_do_not_make_it_effective(facts_dir):
    late = {**CONDITIONS, "date": "1996-11-02"}
    write_table(facts_dir / "cerplex", "events", [breach("1996-09-20", "6.3"), late])
    events = run(facts_dir)
    assert len(pick(events, "waiver_pending")) == 1
    assert disposition(events, "6.3", "1996-09-20") == {"default", "event_of_default"}


def test_before_its_effective_date_the_waiver_does_nothing_yet(facts_dir):
    write_table(facts_dir / "cerplex", "events", [breach("1996-09-20", "6.3"), CONDITIONS])
    events = run(facts_dir, as_of=date(1996, 10, 15))
    assert disposition(events, "6.3", "1996-09-20") == {"default", "event_of_default"}
    assert pick(events, "waiver_pending") == [] and pick(events, "waived") == []


def test_the_reinstatement_date_is_recorded_only_once_known(facts_dir):
    # As of November 15 with no senior action yet, the suspension is running and its end is
    # not yet known; a breach on November 12 is suspended.
    write_table(facts_dir / "cerplex", "events", [CONDITIONS, breach("1996-11-12", "6.3")])
    events = run(facts_dir, as_of=date(1996, 11, 15))
    assert disposition(events, "6.3", "1996-11-12") == {"suspended"}
    assert pick(events, "reinstatement_date") == []
    assert len(pick(events, "covenant_suspended")) == 2  # 6.3 and 6.4 from October 31


def test_breaches_of_other_covenants_are_not_touched_by_the_waiver(facts_dir):
    write_table(facts_dir / "cerplex", "events", [CONDITIONS])
    write_table(
        facts_dir / "cerplex",
        "financials",
        [{"period_end": "1997-11-29", "tangible_net_worth": "(15,400,000)"}],
    )
    events = run(facts_dir)
    assert disposition(events, "6.21", "1997-11-29") == {"default", "event_of_default"}
