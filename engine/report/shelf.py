"""Where a report over many facilities keeps their sections, and the events they rest on,
until it is written: a temporary SQLite file, not memory. A report on a book of ten thousand
facilities held every detailed facility's model at once (975 MB for Markdown, 3 GB for JSON);
kept here, it holds one facility's, however many the book has.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any


class Shelf:
    """The temporary file (SQLite's private one, deleted when closed) that `Shelved`
    sequences keep their items in."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute(
            "CREATE TABLE items (shelf INTEGER, key INTEGER, item BLOB NOT NULL, grp TEXT,"
            " PRIMARY KEY (shelf, key)) WITHOUT ROWID"
        )
        self._shelves = 0

    def sequence(
        self,
        key: Callable[[Any], int] | None = None,
        group: Callable[[Any], str] | None = None,
    ) -> Shelved:
        """A new sequence, in the order items are added or, given `key`, of their keys; given
        `group`, the items of one group can be read alone (`Shelved.of`)."""
        self._shelves += 1
        return Shelved(self._db, self._shelves, key, group)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Shelf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Shelved:
    """A sequence read back one item at a time each time it is iterated, as a renderer goes
    through it (the file's B-tree keeps it in order)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        shelf: int,
        key: Callable[[Any], int] | None,
        group: Callable[[Any], str] | None,
    ):
        self._db, self._shelf, self._key, self._group, self._count = db, shelf, key, group, 0

    def append(self, item: Any) -> None:
        key = self._count if self._key is None else self._key(item)
        group = None if self._group is None else self._group(item)
        self._db.execute(
            "INSERT INTO items VALUES (?, ?, ?, ?)",
            (self._shelf, key, pickle.dumps(item, 5), group),
        )
        self._count += 1

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        rows = self._db.execute(
            "SELECT item FROM items WHERE shelf = ? ORDER BY key", (self._shelf,)
        )
        for (item,) in rows:
            yield pickle.loads(item)

    def of(self, group: str) -> list[Any]:
        """The items of `group`, in order. The index that finds them is made the first time
        one is asked for: a report that reads the sequence whole never pays for it."""
        assert self._group is not None, "a sequence without groups"
        self._db.execute("CREATE INDEX IF NOT EXISTS items_by_group ON items (shelf, grp, key)")
        rows = self._db.execute(  # by the index: the planner would scan the shelf in order
            "SELECT item FROM items INDEXED BY items_by_group WHERE shelf = ? AND grp = ?"
            " ORDER BY key",
            (self._shelf, group),
        )
        return [pickle.loads(item) for (item,) in rows]
