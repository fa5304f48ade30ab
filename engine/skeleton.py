"""JSON texts with holes: a value's fixed parts encoded once, its changing strings filled in.

Every covenant test is an audit event whose details are mostly its covenant's: title, clause,
metric, rule file. Encoding all of it again for each of a portfolio's millions of tests was the
largest single cost of a run. A `Skeleton` is the encoder's own text of a value whose changing
strings are placeholders; `fill` puts each one's JSON in its place, which gives exactly the text
the encoder gives the whole value (tests/test_skeleton.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring, encode_basestring_ascii
from operator import itemgetter
from typing import Any

# A control character the encoders escape, so a placeholder cannot meet itself unescaped.
_MARK = "\x00"
_HOLE = re.compile(r'"\\u0000(\d+)\\u0000"')


def hole(index: int) -> str:
    """The placeholder for the `index`th changing string of a skeleton's shape."""
    return f"{_MARK}{index}{_MARK}"


class Skeleton:
    """`encode(shape)`, where `shape` holds `hole(i)` strings, as a format with a slot for each.
    A hole may be absent (a key the encoding leaves out) or, like any value, appear once."""

    def __init__(self, encode: Callable[[Any], str], shape: Any, ascii_only: bool):
        text = encode(shape)
        split = _HOLE.split(text)  # the text between the holes, and each hole's index
        order = [int(index) for index in split[1::2]]
        if len(set(order)) != len(order):
            raise ValueError("a hole appears twice in the skeleton's shape")
        # The text between the holes, with a slot between each two: filled by slice and
        # joined, twice as fast as a %-format of it (the format is parsed on every call).
        pieces = split[::2]
        self._parts: list[str | None] = [None] * (2 * len(pieces) - 1)
        self._parts[::2] = pieces
        self._pick = (
            itemgetter(*order) if len(order) > 1 else (lambda v: tuple(v[i] for i in order))
        )
        self._quote = encode_basestring_ascii if ascii_only else encode_basestring

    def fill(self, values: Sequence[str | None]) -> str:
        """The text with hole i holding `values[i]` (a string, or None for null)."""
        quote, picked = self._quote, self._pick(values)
        return self._filled(["null" if v is None else quote(v) for v in picked])

    def fill_encoded(self, encoded: Sequence[str]) -> str:
        """The text with hole i holding `encoded[i]`, a value's JSON as this skeleton's
        encoder gives it."""
        return self._filled(self._pick(encoded))

    def _filled(self, picked: Sequence[str]) -> str:
        parts = self._parts.copy()
        parts[1::2] = picked
        return "".join(parts)  # type: ignore[arg-type]
