"""The report as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

Jinja2 renders it with autoescaping on, so borrower text (names, notes) is always text. A
Content-Security-Policy in the page forbids every outside resource, so a reader's browser
enforces that the file stands alone (and a test in Chromium checks it).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .. import __version__, processes
from .charts import covenant_chart
from .text import (
    amount,
    followed,
    money,
    nearest,
    open_defaults,
    percent,
    step_up_sentence,
    when,
)

Tick = Callable[[str, int, int, str], None]  # tick(stage, done, in all, what is counted)

METER_FULL_PERCENT = Decimal(25)  # headroom of a quarter of the threshold or more fills it


def headroom_meter(headroom_percent: str, thin_percent: str) -> dict[str, Any]:
    """How a headroom reads at a glance: its share of a full bar, and ample, thin or below."""
    share = Decimal(headroom_percent)
    kind = "below" if share < 0 else "thin" if share < Decimal(thin_percent) else "ample"
    width = min(abs(share), METER_FULL_PERCENT) / METER_FULL_PERCENT * 100
    return {"kind": kind, "width": f"{max(width, Decimal(3)):.0f}"}


def to_html(model: dict[str, Any], workers: int = 1, tick: Tick | None = None) -> Iterator[str]:
    """The page, a piece at a time; each covenant's chart is drawn as its section is, or, with
    several `workers`, drawn ahead in that many processes while the sections before it are
    written. `tick` is told of each chart drawn: a book's report draws thousands, at about
    40 ms each."""
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
        open_defaults=open_defaults,
        anchor=lambda section: "covenant-" + str(section).replace(".", "-"),
        meter=headroom_meter,
    )

    template = environment.get_template("report.html.j2")
    after_portfolio = followed(len(model["portfolio"]), model["not_detailed"])
    with _charts(model, workers) as chart:
        if tick is not None:
            chart = _ticking(chart, model, tick)
        yield from template.generate(
            model=model, draw_chart=chart, version=__version__, after_portfolio=after_portfolio
        )


_Chart = Callable[[dict[str, Any]], Markup | None]


@contextmanager
def _charts(model: dict[str, Any], workers: int) -> Iterator[_Chart]:
    """What the template calls for each covenant's chart, in the order of its sections: every
    covenant of every agreement. With several workers, charts are drawn that far ahead (a few
    for each process, so that only those wait in memory) and handed over in turn. matplotlib
    takes about 40 ms a chart, most of a portfolio's HTML report."""
    if not model["state_on"]:
        yield lambda covenant: None
        return
    day, through = model["state_on"], model["horizon"]["through"]
    if workers <= 1:
        yield lambda covenant: _svg(covenant_chart(covenant, day, through))
        return
    coming = (c for agreement in model["agreements"] for c in agreement["covenants"])
    ahead: deque[tuple[dict[str, Any], Future[str | None]]] = deque()
    # Forked before any thread of the pool's starts, as the run's evaluating processes are.
    with processes.pool(workers) as pool:

        def chart(covenant: dict[str, Any]) -> Markup | None:
            for upcoming in coming:
                ahead.append((upcoming, pool.submit(covenant_chart, upcoming, day, through)))
                if len(ahead) >= _AHEAD * workers:
                    break
            drawn, svg = ahead.popleft()
            assert drawn == covenant, "the template asked for the charts in another order"
            return _svg(svg.result())

        yield chart


_AHEAD = 4  # charts drawn ahead for each process


def _ticking(chart: _Chart, model: dict[str, Any], tick: Tick) -> _Chart:
    """`chart`, telling `tick` of each chart drawn of those of every covenant of the report."""
    total = sum(len(agreement["covenants"]) for agreement in model["agreements"])
    drawn = itertools.count(1)
    tick("drawing charts", 0, total, "charts")

    def ticked(covenant: dict[str, Any]) -> Markup | None:
        svg = chart(covenant)
        tick("drawing charts", next(drawn), total, "charts")
        return svg

    return ticked


def _svg(svg: str | None) -> Markup | None:
    # Our own drawing: matplotlib escapes every text it writes into the SVG.
    return svg and Markup(svg)
