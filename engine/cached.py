"""Caches for the objects a run makes millions of, and for those many facilities share."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
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


_K = TypeVar("_K")


class ByIdentity(Generic[_K, _T]):
    """`make(obj, *values)` made once for each object, by identity, and the hashable values
    beside it: for objects that many facilities share (a package's covenants, a table) and
    that are costly to hash by value. Each object is kept while its value is, so its id is
    not reused; cleared when full."""

    def __init__(self, make: Callable[..., _T], most: int = 4096):
        self.make, self.most = make, most
        self.made: dict[tuple, tuple[_K, _T]] = {}

    def __call__(self, obj: _K, *values: Hashable) -> _T:
        key = (id(obj), *values)
        found = self.made.get(key)
        if found is None:
            if len(self.made) >= self.most:
                self.made.clear()
            found = self.made[key] = (obj, self.make(obj, *values))
        return found[1]


class WhileAlive(Generic[_K, _T]):
    """`make(obj)` made once for each object, by identity, and let go with it: for objects that
    many facilities share (a package's covenants, kept for the whole run) or that one facility
    has of its own (a covenant it overrides, which goes once the facility is evaluated, and
    whose value would otherwise stay for the rest of the run)."""

    def __init__(self, make: Callable[[_K], _T]):
        self.make = make
        self.made: dict[int, tuple[weakref.ref, _T]] = {}

    def __call__(self, obj: _K) -> _T:
        key = id(obj)
        found = self.made.get(key)
        if found is None:
            gone = weakref.ref(obj, lambda _, made=self.made: made.pop(key, None))
            found = self.made[key] = (gone, self.make(obj))
        return found[1]
