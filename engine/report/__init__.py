"""Breach reports built from the audit log alone, so every statement traces to logged events.

`build` turns stored events into one model; each format renders that same model.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .model import THIN_HEADROOM_PERCENT, build, build_by_facility
from .shelf import Shelf, Shelved
from .text import one_line

if TYPE_CHECKING:
    from .html import Tick

FORMATS = ("md", "json", "html", "xlsx", "ics")
# An HTML report as a folder of pages (`write_pages`): the portfolio view, the folder of the
# facilities' pages beside it, and the file that tells such a folder from any other.
INDEX, PAGES, MARKER = "index.html", "facilities", ".covenant-monitor-report"

__all__ = [
    "FORMATS",
    "INDEX",
    "MARKER",
    "PAGES",
    "THIN_HEADROOM_PERCENT",
    "Shelf",
    "build",
    "build_by_facility",
    "one_line",
    "render",
    "write",
    "write_pages",
]


def render(model: dict[str, Any], format: str) -> bytes:
    """The report in `format` (one of FORMATS), as the bytes of a file."""
    out = io.BytesIO()
    write(model, format, out)
    return out.getvalue()


def write(
    model: dict[str, Any],
    format: str,
    out: BinaryIO,
    workers: int = 1,
    tick: Tick | None = None,
) -> None:
    """Write the report in `format` to `out` a piece at a time: with its facilities' sections
    on a `Shelf`, a portfolio's report is never whole in memory. `workers`: the processes that
    draw an HTML report's charts; `tick` is told of each one drawn.

    Each renderer is imported only when asked for: matplotlib alone takes about a second to
    import, and Markdown and JSON need none of it.
    """
    if format == "json":
        pieces: Iterable[str] = _json(model)
    elif format == "md":
        from .markdown import to_markdown

        pieces = _joined(to_markdown(model))
    elif format == "html":
        from .html import to_html

        pieces = to_html(model, workers, tick)
    elif format == "xlsx":
        from .xlsx import to_xlsx

        to_xlsx(model, out)
        return
    elif format == "ics":
        from .ics import to_ics

        to_ics(model, out)
        return
    else:
        raise ValueError(f"unknown report format {format!r}; expected one of {', '.join(FORMATS)}")
    for piece in pieces:
        out.write(piece.encode())


def write_pages(
    model: dict[str, Any], folder: Path, workers: int = 1, tick: Tick | None = None
) -> None:
    """Write the HTML report into the empty `folder` as INDEX, the portfolio view, and a page
    for each facility it details in PAGES (`html.write_pages`), and MARKER."""
    from .html import write_pages

    write_pages(model, folder, workers, tick)
    (folder / MARKER).write_text(
        "A covenant-monitor report: the next report written to this folder replaces it whole.\n"
    )


def _joined(lines: Iterable[str]) -> Iterator[str]:
    """The lines joined by newlines, a line at a time."""
    for index, line in enumerate(lines):
        yield f"\n{line}" if index else line


def _json(model: dict[str, Any]) -> Iterator[str]:
    """`json.dumps(model, indent=2)` and a newline, a piece at a time: a sequence of the
    model's top level (the facilities' sections, the events) an item each."""
    yield "{"
    for index, (name, value) in enumerate(model.items()):
        yield f"{',' if index else ''}\n  {json.dumps(name)}: "
        if not isinstance(value, list | Shelved):
            yield json.dumps(value, indent=2).replace("\n", "\n  ")
            continue
        for position, item in enumerate(value):
            # Newlines in the text are JSON's own: a string's are escaped as \n.
            yield ("," if position else "[") + "\n    "
            yield json.dumps(item, indent=2).replace("\n", "\n    ")
        yield "\n  ]" if value else "[]"
    yield "\n}\n"
