"""The report as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

Jinja2 renders it with autoescaping on, so borrower text (names, notes) is always text. A
Content-Security-Policy in the page forbids every outside resource, so a reader's browser
enforces that the file stands alone (and a test in Chromium checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .. import __version__
from .charts import covenant_chart
from .text import amount, followed, money, nearest, percent, step_up_sentence, when

METER_FULL_PERCENT = Decimal(25)  # headroom of a quarter of the threshold or more fills it


def headroom_meter(headroom_percent: str, thin_percent: str) -> dict[str, Any]:
    """How a headroom reads at a glance: its share of a full bar, and ample, thin or below."""
    share = Decimal(headroom_percent)
    kind = "below" if share < 0 else "thin" if share < Decimal(thin_percent) else "ample"
    width = min(abs(share), METER_FULL_PERCENT) / METER_FULL_PERCENT * 100
    return {"kind": kind, "width": f"{max(width, Decimal(3)):.0f}"}


def to_html(model: dict[str, Any]) -> Iterator[str]:
    """The page, a piece at a time; each covenant's chart is drawn as its section is."""
    environment = Environment(
        loader=PackageLoader("engine.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        amount=lambda test, key: amount(
            test["unit"], test[key], test["threshold"] if key == "value" else None
        ),
        money=money,
        cents=lambda value: money(value, cents=True),
        percent=percent,
        when=when,
        step_up=step_up_sentence,
        nearest=nearest,
        anchor=lambda section: "covenant-" + str(section).replace(".", "-"),
        meter=headroom_meter,
    )

    def chart(covenant: dict[str, Any]) -> Markup | None:
        if not model["state_on"]:
            return None
        svg = covenant_chart(covenant, model["state_on"], model["horizon"]["through"])
        # Our own drawing: matplotlib escapes every text it writes into the SVG.
        return svg and Markup(svg)

    template = environment.get_template("report.html.j2")
    after_portfolio = followed(len(model["portfolio"]), model["not_detailed"])
    return template.generate(
        model=model, draw_chart=chart, version=__version__, after_portfolio=after_portfolio
    )
