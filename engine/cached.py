"""A cached property for the objects a run makes millions of."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class cached_property(Generic[_T]):
    """functools.cached_property without the lock it takes on Python 3.11 (3.12 dropped it):
    a run reads a few of these for each of millions of tests, and the lock cost more than
    what they cache. The value goes in the instance's dict, where later reads find it."""

    def __init__(self, compute: Callable[[Any], _T]):
        self.compute = compute
        self.name = compute.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> _T:
        if instance is None:
            return self  # type: ignore[return-value]
        value = instance.__dict__[self.name] = self.compute(instance)
        return value
