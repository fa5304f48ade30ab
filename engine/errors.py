"""The one error type for bad input: every problem found, each naming where it is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One defect in an input file: the file, where in it (row and column, or a rule key), why."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.key is not None:
            where.append(f"key {self.key}")
        return f"{', '.join(where)}: {self.message}"


class InputError(Exception):
    """Raised after a whole input has been checked, carrying every problem found in it."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
