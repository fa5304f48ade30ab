"""A rule file's metric is parsed once and evaluated in Decimal for every test: the arithmetic
must be exact, follow the usual precedence, and say which denominator was zero."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.expr import parse_expr

FIELDS = frozenset({"accounts_receivable", "inventory", "wells_fargo_debt", "a", "b"})


def test_section_6_19s_metric_sums_before_it_divides():
    """Section 6.19: (accounts receivable + inventory) / Wells Fargo debt.
    (1,200,000 + 300,000) / 1,000,000 = 1.5."""
    metric = parse_expr("(accounts_receivable + inventory) / wells_fargo_debt", FIELDS)
    values = {
        "accounts_receivable": Decimal("1200000"),
        "inventory": Decimal("300000"),
        "wells_fargo_debt": Decimal("1000000"),
    }
    assert metric.evaluate(values) == Decimal("1.5")
    assert metric.is_ratio


def test_constants_are_exact_and_minus_binds_as_written():
    """0.1 x 3 is exactly 0.3 (a float would give 0.30000000000000004); -a - b x 2 with a = 1,
    b = 4 is -1 - 8 = -9; -(a - b) is 3."""
    assert parse_expr("0.1 * a", FIELDS).evaluate({"a": Decimal(3)}) == Decimal("0.3")
    values = {"a": Decimal(1), "b": Decimal(4)}
    assert parse_expr("-a - b * 2", FIELDS).evaluate(values) == Decimal(-9)
    assert parse_expr("-(a - b)", FIELDS).evaluate(values) == Decimal(3)


def test_a_zero_denominator_names_the_division_that_has_it():
    metric = parse_expr("a + b / (a - 1)", FIELDS)
    with pytest.raises(ZeroDivisionError, match=r"denominator is zero in b / \(a - 1\)"):
        metric.evaluate({"a": Decimal(1), "b": Decimal(4)})
    assert metric.evaluate({"a": Decimal(3), "b": Decimal(4)}) == Decimal(5)
