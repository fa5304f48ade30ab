"""The only module that touches durable-rules (see ../shared/DURABLE_RULES.md for its traps).

A `RuleSet` is declared once and registered on hosts it creates and owns (never the
module-global host of `durable.lang`), one for each of its sessions open at once. A session
runs it without the background dispatcher so every firing happens inside the call that caused
it, gives every fact a small sequential id (the engine dedups on a 32-bit hash of ids),
re-raises exceptions that durable-rules would swallow into its state, and deletes its state
when closed, which gives the engine's memory back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any, Generic, TypeVar

import durable_rules_engine
from durable import engine

Condition = dict[str, Any]
Owner = TypeVar("Owner")

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
class Rule(Generic[Owner]):
    """`when` matches one fact; `unless`, if given, must match no fact in the state, and may
    compare with the matched fact's fields through `matched(name)`. `then` is called with the
    session's owner (`RuleSet.session`) and the firing."""

    when: Condition
    then: Callable[[Owner, Firing], None]
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


class RuleSet(Generic[Owner]):
    """Rules declared once, as data, for the many sessions that run them one after another.
    Compiling and registering a ruleset costs about 0.3 ms, a twentieth of a facility's
    lifecycle, so a session runs on a compiled ruleset an earlier session has closed, its state
    deleted, and compiles one only when none is free (the first session, or one opened while
    another is)."""

    def __init__(self, name: str, rules: dict[str, Rule[Owner]]):
        self.name = name
        self.rules = rules
        self._idle: list[_Compiled] = []  # at most one: a process runs one session at a time

    def session(self, owner: Owner, label: str | None = None) -> RuleSession:
        """A state of its own whose firings call the rules' actions with `owner`; `label`
        names it in errors (the ruleset's name if not given)."""
        compiled = self._idle.pop() if self._idle else _Compiled(self)
        return RuleSession(self, compiled, owner, label or self.name)

    def reuse(self, compiled: _Compiled) -> None:
        """Keep a compiled ruleset whose session has closed, its state deleted, for the next."""
        if self._idle:
            compiled.delete()
        else:
            self._idle.append(compiled)


class _Compiled:
    """A ruleset registered on a host of its own. Its actions call the session using it, found
    here when they fire: holding the session would keep its owner (a facility's lifecycle,
    with all its events) alive while the compiled ruleset waits for the next one."""

    def __init__(self, ruleset: RuleSet[Any]):
        self.name = ruleset.name
        self.session: RuleSession | None = None
        definition = {}
        for rule_name, rule in ruleset.rules.items():
            conditions = [{"first" if rule.unless else "m": rule.when}]
            if rule.unless is not None:
                conditions.append({"m_1$not": rule.unless})
            definition[rule_name] = {"all": conditions, "run": self._action(rule_name)}
        self.host = _QuietHost()
        self.host.register_rulesets({self.name: definition})
        self._handle = self.host.get_ruleset(self.name)._handle

    def _action(self, name: str) -> Callable[[Any], None]:
        def action(closure: Any) -> None:
            assert self.session is not None, "a firing outside any session"
            self.session.fire(name, closure)

        return action

    def clear(self) -> None:
        """Delete the state a session left (all of it: one sid), giving its memory back."""
        self.host.delete_state(self.name, _SID)

    def delete(self) -> None:
        durable_rules_engine.delete_ruleset(self._handle)


class RuleSession:
    """One state of a ruleset; use as a context manager so the state is deleted when done."""

    def __init__(self, ruleset: RuleSet[Any], compiled: _Compiled, owner: Any, label: str):
        self._ruleset, self._compiled, self._owner = ruleset, compiled, owner
        self._name = label
        self._ids = count(1)
        self._error: BaseException | None = None
        self._failed = False
        self._stated = False  # whether the engine has taken a fact, and so made a state
        compiled.session = self

    def fire(self, name: str, closure: Any) -> None:
        """A rule's action, as durable-rules calls it."""
        rule = self._ruleset.rules[name]
        fact = closure.first if rule.unless is not None else closure.m
        try:
            rule.then(self._owner, Firing(name, dict(fact._d), self, closure))
        except BaseException as error:  # durable-rules would swallow it into its state
            self._error = self._error or error
            raise

    def stamp(self, fact: dict[str, Any]) -> dict[str, Any]:
        return {**fact, "id": next(self._ids), "sid": _SID}

    def assert_fact(self, fact: dict[str, Any]) -> None:
        """Assert and run every rule it fires; raise what an action raised.

        A fact that no rule matches is a gap in the ruleset, not an input error: it raises.
        """
        compiled = self._compiled
        try:
            result = compiled.host.assert_fact(compiled.name, self.stamp(fact))
        except engine.MessageNotHandledException as error:
            self._failed = True
            raise UnmatchedFact(f"no rule of {self._name} matches fact {fact}") from error
        except BaseException:
            self._failed = True
            raise
        self._stated = True
        if self._error is not None:
            self._failed = True
            error, self._error = self._error, None
            raise error
        if isinstance(result, dict) and result.get("exception"):
            self._failed = True
            raise RuntimeError(f"rule action failed: {result['exception']}")

    def close(self) -> None:
        """Delete the state; the compiled ruleset serves a later session unless something
        failed in this one, which might have left it part way through a firing. A state
        whose first fact no rule matched is not deleted: durable-rules 2.0.28 crashes the
        process deleting it (it goes with its ruleset)."""
        compiled = self._compiled
        if compiled.session is not self:
            return  # closed already
        compiled.session, self._owner = None, None
        if self._stated:
            compiled.clear()
        if self._failed:
            compiled.delete()
        else:
            self._ruleset.reuse(compiled)

    def __enter__(self) -> RuleSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
