"""Breach reports built from the audit log alone, so every statement traces to logged events.

`build` turns stored events into one model; each format renders that same model.
"""

from __future__ import annotations

import json
from typing import Any

from .model import THIN_HEADROOM_PERCENT, build, build_by_facility
from .text import one_line

FORMATS = ("md", "json", "html", "xlsx")

__all__ = [
    "FORMATS",
    "THIN_HEADROOM_PERCENT",
    "build",
    "build_by_facility",
    "one_line",
    "render",
]


def render(model: dict[str, Any], format: str) -> bytes:
    """The report in `format` (one of FORMATS), as the bytes of a file.

    Each renderer is imported only when asked for: matplotlib alone takes about a second to
    import, and Markdown and JSON need none of it.
    """
    if format == "json":
        return (json.dumps(model, indent=2) + "\n").encode()
    if format == "md":
        from .markdown import to_markdown

        return to_markdown(model).encode()
    if format == "html":
        from .html import to_html

        return to_html(model).encode()
    if format == "xlsx":
        from .xlsx import to_xlsx

        return to_xlsx(model)
    raise ValueError(f"unknown report format {format!r}; expected one of {', '.join(FORMATS)}")
