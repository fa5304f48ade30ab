"""Metric expressions from rule files, parsed against a whitelist and evaluated in Decimal.

A rule file says `metric = "(accounts_receivable + inventory) / wells_fargo_debt"`. The text is
parsed into a syntax tree and only names of fact fields, decimal numbers, + - * / and parentheses
are admitted; nothing from a rule file is ever handed to `eval`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


@dataclass(frozen=True)
class Expr:
    """A parsed metric; `names` are the fact fields it reads."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    @property
    def is_ratio(self) -> bool:
        """A quotient at the top: shown as a ratio, not as money."""
        return isinstance(self.tree, ast.BinOp) and isinstance(self.tree.op, ast.Div)

    def evaluate(self, values: Mapping[str, Decimal]) -> Decimal:
        """Raise ZeroDivisionError when a denominator is zero (the caller decides what it means)."""
        return _evaluate(self.tree, values)


def parse_expr(source: str, allowed_names: frozenset[str]) -> Expr:
    """Parse `source`; raise ValueError naming the first construct that is not allowed."""
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as error:
        raise ValueError(f"cannot parse expression {source!r}: {error.msg}") from error
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in allowed_names:
                known = ", ".join(sorted(allowed_names))
                raise ValueError(f"unknown field {node.id!r} in {source!r}; known fields: {known}")
            names.add(node.id)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float) or isinstance(node.value, bool):
                raise ValueError(f"only numbers may appear as constants in {source!r}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _OPERATORS:
                raise ValueError(f"only + - * / are allowed in {source!r}")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub):
                raise ValueError(f"only unary minus is allowed in {source!r}")
        elif not isinstance(node, ast.operator | ast.unaryop | ast.expr_context):
            raise ValueError(f"{type(node).__name__} is not allowed in {source!r}")
    return Expr(source, tree, frozenset(names))


def _evaluate(node: ast.expr, values: Mapping[str, Decimal]) -> Decimal:
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.Constant):
        # Through the literal's text, so that 0.1 stays exactly one tenth.
        return Decimal(ast.unparse(node))
    if isinstance(node, ast.UnaryOp):
        return -_evaluate(node.operand, values)
    assert isinstance(node, ast.BinOp)
    left, right = _evaluate(node.left, values), _evaluate(node.right, values)
    if isinstance(node.op, ast.Div) and right == 0:
        raise ZeroDivisionError(f"denominator is zero in {ast.unparse(node)}")
    return _OPERATORS[type(node.op)](left, right)
