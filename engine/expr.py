"""Metric expressions from rule files, parsed against a whitelist and evaluated in Decimal.

A rule file says `metric = "(accounts_receivable + inventory) / wells_fargo_debt"`. The text is
parsed into a syntax tree and only names of fact fields, decimal numbers, + - * / and parentheses
are admitted; nothing from a rule file is ever handed to `eval`.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: None}


@dataclass(frozen=True)
class Expr:
    """A parsed metric; `names` are the fact fields it reads."""

    source: str
    tree: ast.expr
    names: frozenset[str]
    # The tree as nested closures, made once: a portfolio evaluates each metric millions of
    # times, and walking the tree each time cost twice as much.
    _compiled: _Compiled = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", _compile(self.tree))

    @property
    def is_ratio(self) -> bool:
        """A quotient at the top: shown as a ratio, not as money."""
        return isinstance(self.tree, ast.BinOp) and isinstance(self.tree.op, ast.Div)

    def evaluate(self, values: Mapping[str, Decimal]) -> Decimal:
        """Raise ZeroDivisionError when a denominator is zero (the caller decides what it means)."""
        return self._compiled(values)


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


_Compiled = Callable[[Mapping[str, Decimal]], Decimal]


def _compile(node: ast.expr) -> _Compiled:
    """A function of the fields' values giving what the tree says, in Decimal."""
    if isinstance(node, ast.Name):
        name = node.id
        return lambda values: values[name]
    if isinstance(node, ast.Constant):
        # Through the literal's text, so that 0.1 stays exactly one tenth.
        constant = Decimal(ast.unparse(node))
        return lambda values: constant
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        return lambda values: -operand(values)
    assert isinstance(node, ast.BinOp)
    left, right, apply = _compile(node.left), _compile(node.right), _OPERATORS[type(node.op)]
    if apply is not None:
        return lambda values: apply(left(values), right(values))
    message = f"denominator is zero in {ast.unparse(node)}"

    def divide(values: Mapping[str, Decimal]) -> Decimal:
        numerator, denominator = left(values), right(values)
        if denominator == 0:
            raise ZeroDivisionError(message)
        return numerator / denominator

    return divide
