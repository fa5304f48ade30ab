"""The only module that touches durable-rules (see ../shared/DURABLE_RULES.md for its traps).

A `RuleSession` registers one ruleset on a host it creates and owns (never the module-global
host of `durable.lang`), runs it without the background dispatcher so every firing happens
inside the call that caused it, gives every fact a small sequential id (the engine dedups on a
32-bit hash of ids), re-raises exceptions that durable-rules would swallow into its state, and
frees the engine's memory when closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import durable_rules_engine
from durable import engine

Condition = dict[str, Any]

_SID = "0"


def field(name: str) -> dict[str, str]:
    """Another field of the same fact, for the right-hand side of a comparison."""
    return {"$m": name}


def equals(name: str, value: Any) -> Condition:
    return {name: value}


def less(name: str, value: Any) -> Condition:
    return {"$lt": {name: value}}


def less_or_equal(name: str, value: Any) -> Condition:
    return {"$lte": {name: value}}


def greater(name: str, value: Any) -> Condition:
    return {"$gt": {name: value}}


def greater_or_equal(name: str, value: Any) -> Condition:
    return {"$gte": {name: value}}


def all_of(*conditions: Condition) -> Condition:
    return {"$and": list(conditions)}


def any_of(*conditions: Condition) -> Condition:
    return {"$or": list(conditions)}


@dataclass(frozen=True)
class Rule:
    """`when` matches one fact; `unless`, if given, must match no fact in the state, and may
    compare with the matched fact's fields through `matched(name)`."""

    when: Condition
    then: Callable[[Firing], None]
    unless: Condition | None = None


def matched(name: str) -> dict[str, str]:
    """In `Rule.unless`: the value of a field of the fact `when` matched."""
    return {"first": name}


class Firing:
    """What an action sees: the fact that fired the rule, and a way to assert follow-ups."""

    def __init__(self, rule: str, fact: dict[str, Any], session: RuleSession, closure: Any):
        self.rule = rule  # the name of the rule that fired, for the audit trail
        self.fact = fact
        self._session = session
        self._closure = closure

    def assert_fact(self, fact: dict[str, Any]) -> None:
        self._closure.assert_fact(self._session.stamp(fact))


class UnmatchedFact(Exception):
    """A fact no rule matches: a gap in the ruleset, never an input error."""


class _QuietHost(engine.Host):
    def _run(self) -> None:
        """No dispatcher threads: actions run synchronously in the asserting call."""


class RuleSession:
    """One ruleset, one state; use as a context manager so the engine's memory is freed."""

    def __init__(self, name: str, rules: dict[str, Rule]):
        self._name = name
        self._ids = count(1)
        self._error: BaseException | None = None
        self._rules = rules
        definition = {}
        for rule_name, rule in rules.items():
            conditions = [{"first" if rule.unless else "m": rule.when}]
            if rule.unless is not None:
                conditions.append({"m_1$not": rule.unless})
            definition[rule_name] = {"all": conditions, "run": self._wrap(rule_name)}
        self._host = _QuietHost()
        self._host.register_rulesets({name: definition})
        self._ruleset = self._host.get_ruleset(name)

    def _wrap(self, name: str) -> Callable[[Any], None]:
        """The action durable-rules calls. It finds its rule through the session, which lets
        go of the rules when closed: the engine's objects refer to one another in cycles that
        only the garbage collector frees, and an action holding its rule would keep the rules'
        owner (a facility's lifecycle, with all its events) alive until then."""

        def action(closure: Any) -> None:
            rule = self._rules[name]
            fact = closure.first if rule.unless is not None else closure.m
            try:
                rule.then(Firing(name, dict(fact._d), self, closure))
            except BaseException as error:  # durable-rules would swallow it into its state
                self._error = self._error or error
                raise

        return action

    def stamp(self, fact: dict[str, Any]) -> dict[str, Any]:
        return {**fact, "id": next(self._ids), "sid": _SID}

    def assert_fact(self, fact: dict[str, Any]) -> None:
        """Assert and run every rule it fires; raise what an action raised.

        A fact that no rule matches is a gap in the ruleset, not an input error: it raises.
        """
        try:
            result = self._host.assert_fact(self._name, self.stamp(fact))
        except engine.MessageNotHandledException as error:
            raise UnmatchedFact(f"no rule of {self._name} matches fact {fact}") from error
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if isinstance(result, dict) and result.get("exception"):
            raise RuntimeError(f"rule action failed: {result['exception']}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._host.delete_state(self._name, _SID)
        durable_rules_engine.delete_ruleset(self._ruleset._handle)
        self._rules = {}

    def __enter__(self) -> RuleSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
