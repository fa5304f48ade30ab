"""The durable-rules host the monitor owns (engine/host.py)."""

import pytest

from engine import host


def test_an_exception_in_an_action_is_raised_not_swallowed():
    def explode(firing):
        raise ValueError("boom")

    rules = {"r": host.Rule(host.equals("kind", "x"), explode)}
    with host.RuleSession("t", rules) as session, pytest.raises(ValueError, match="boom"):
        session.assert_fact({"kind": "x"})


def test_sessions_with_the_same_name_do_not_share_state():
    seen = []
    rule = {"r": host.Rule(host.equals("kind", "x"), lambda f: seen.append(f.fact["n"]))}
    with host.RuleSession("same", rule) as a, host.RuleSession("same", rule) as b:
        a.assert_fact({"kind": "x", "n": 1})
        b.assert_fact({"kind": "x", "n": 2})
    assert seen == [1, 2]


def test_a_fact_no_rule_matches_is_a_gap_in_the_ruleset():
    rules = {"r": host.Rule(host.equals("kind", "x"), lambda f: None)}
    with host.RuleSession("t", rules) as s, pytest.raises(host.UnmatchedFact, match="no rule"):
        s.assert_fact({"kind": "y"})


def test_identical_facts_are_distinct_and_follow_ups_run_in_the_same_call():
    seen = []
    rules = {
        "first": host.Rule(
            host.equals("kind", "x"), lambda f: f.assert_fact({"kind": "y", "n": f.fact["n"]})
        ),
        "second": host.Rule(host.equals("kind", "y"), lambda f: seen.append(f.fact["n"])),
    }
    with host.RuleSession("t", rules) as session:
        session.assert_fact({"kind": "x", "n": 7})
        assert seen == [7]
        session.assert_fact({"kind": "x", "n": 7})
    assert seen == [7, 7]
