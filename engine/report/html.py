"""The report as one self-contained HTML file (inline CSS and SVG, no script, nothing fetched),
or, for a book too large for one page, a folder of such pages, one a facility.

Jinja2 renders it with autoescaping on, so borrower text (names, notes) is always text. A
Content-Security-Policy in the page forbids every outside resource, so a reader's browser
enforces that the file stands alone (and a test in Chromium checks it).
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from .. import __version__, processes
from . import INDEX, PAGES
from .charts import covenant_chart
from .shelf import Shelved
from .text import (
    FIGURES,
    OTHER,
    PORTFOLIO_ORDER,
    adjusted,
    blocked_runs,
    change,
    changes,
    figure,
    followed,
    headroom_share,
    input_amount,
    limit,
    money,
    nearest,
    no_position,
    open_defaults,
    percent,
    reported,
    step_up_sentence,
    step_up_short,
    tally,
    unpaid_words,
    when,
    year_end,
)

Tick = Callable[[str, int, int, str], None]  # tick(stage, done, in all, what is counted)

METER_FULL_PERCENT = Decimal(25)  # headroom of a quarter of the threshold or more fills it


def headroom_meter(test: dict[str, Any], thin_percent: str) -> dict[str, Any]:
    """How a test's headroom reads at a glance: its share of a full bar, and ample, thin or
    below."""
    share = headroom_share(test)
    assert share is not None, "a meter is drawn only for a headroom share"
    kind = "below" if share < 0 else "thin" if share < Decimal(thin_percent) else "ample"
    width = min(abs(share), METER_FULL_PERCENT) / METER_FULL_PERCENT * 100
    return {"kind": kind, "width": f"{max(width, Decimal(3)):.0f}"}


def to_html(model: dict[str, Any], workers: int = 1, tick: Tick | None = None) -> Iterator[str]:
    """The page, a piece at a time; each covenant's chart is drawn as its section is, or, with
    several `workers`, drawn ahead in that many processes while the sections before it are
    written. `tick` is told of each chart drawn: a book's report draws thousands, at about
    25 ms each."""
    template = _template(lambda facility: f"#covenants-{facility}")
    after_portfolio = followed(
        len(model["portfolio"]), model["not_detailed"], compared_to=model["compared_to"]
    )
    with _drawing(model, workers, tick) as chart:
        yield from template.generate(
            model=model,
            draw_chart=chart,
            version=__version__,
            after_portfolio=after_portfolio,
            page=None,
        )


def write_pages(
    model: dict[str, Any], folder: Path, workers: int = 1, tick: Tick | None = None
) -> None:
    """The report as a folder of pages: INDEX holds the portfolio view, whose facilities in
    detail link to a page each in PAGES, with the events it rests on. As one page, a book of
    ten thousand facilities was 392 MB, more than a browser opens; a facility's page is some
    hundreds of KB. The same content, charts and all, as `to_html`."""
    files = page_files(r["facility"] for r in model["portfolio"] if r["detailed"])
    template = _template(lambda facility: quote(f"{PAGES}/{files[facility]}"))
    rows = {r["facility"]: r for r in model["portfolio"]}
    facilities = len(model["portfolio"])
    (folder / PAGES).mkdir()
    with _drawing(model, workers, tick) as chart:
        context = {
            "draw_chart": chart,
            "version": __version__,
            "facilities": facilities,
            "index": f"../{INDEX}",
        }
        index = {**model, "agreements": [], "events": []}
        after_portfolio = followed(
            facilities, model["not_detailed"], paged=True, compared_to=model["compared_to"]
        )
        pieces = template.generate(
            model=index, page="index", after_portfolio=after_portfolio, **context
        )
        _write(folder / INDEX, pieces)
        for agreement in model["agreements"]:
            name = agreement["agreement"]
            events = _events_of(model["events"], name)
            page = {
                **model,
                "agreements": [agreement],
                "portfolio": [rows[name]],
                "not_detailed": 0,
                "events": events,
                "generated_from": {
                    "events": len(events),
                    "first_seq": events[0]["seq"],
                    "last_seq": events[-1]["seq"],
                },
            }
            pieces = template.generate(model=page, page="facility", after_portfolio="", **context)
            _write(folder / PAGES / files[name], pieces)


def page_files(names: Iterable[str]) -> dict[str, str]:
    """Each facility's page, a file in PAGES: its name with every character but letters,
    digits and _.-~ percent-encoded, so that any name makes a file name on any system. Names
    that differ only in case (one file where case is not told apart, as on macOS and Windows)
    add +2, +3, ...: a character the encoding never leaves."""
    files, seen = {}, Counter[str]()
    for name in names:
        stem = quote(name, safe="")
        seen[stem.casefold()] += 1
        again = seen[stem.casefold()]
        files[name] = f"{stem}+{again}.html" if again > 1 else f"{stem}.html"
    return files


def _events_of(events: list[dict[str, Any]] | Shelved, facility: str) -> list[dict[str, Any]]:
    """The appendix rows of one facility, in sequence order."""
    if isinstance(events, Shelved):
        return events.of(facility)
    return [e for e in events if e["agreement"] == facility]


def _write(path: Path, pieces: Iterable[str]) -> None:
    with path.open("wb") as out:
        for piece in pieces:
            out.write(piece.encode())


def _template(facility_href: Callable[[str], str]) -> Template:
    """The report's template; `facility_href` links a facility's row of the portfolio view to
    its sections."""
    environment = Environment(
        loader=PackageLoader("engine.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        amount=figure,
        money=money,
        cents=lambda value: money(value, cents=True),
        percent=percent,
        when=when,
        step_up=step_up_sentence,
        nearest=nearest,
        open_defaults=open_defaults,
        tally=tally,
        limit=limit,
        adjusted=adjusted,
        step_up_short=step_up_short,
        no_position=no_position,
        changes=changes,
        change=change,
        input_amount=input_amount,
        blocked_runs=blocked_runs,
        unpaid=unpaid_words,
        thousands="{:,}".format,
        anchor=lambda section: "covenant-" + str(section).replace(".", "-"),
        meter=headroom_meter,
        reported=reported,
        year_end=year_end,
        facility_href=facility_href,
    )
    environment.globals.update(portfolio_order=PORTFOLIO_ORDER, other=OTHER, figures=FIGURES)
    return environment.get_template("report.html.j2")


@contextmanager
def _drawing(model: dict[str, Any], workers: int, tick: Tick | None) -> Iterator[_Chart]:
    """What the template calls for each covenant's chart, telling `tick` of each one drawn."""
    with _charts(model, workers) as chart:
        yield chart if tick is None else _ticking(chart, model, tick)


_Chart = Callable[[dict[str, Any]], Markup | None]


@contextmanager
def _charts(model: dict[str, Any], workers: int) -> Iterator[_Chart]:
    """What the template calls for each covenant's chart, in the order of its sections: every
    covenant of every agreement. With several workers, charts are drawn that far ahead (a few
    for each process, so that only those wait in memory) and handed over in turn. matplotlib
    takes about 25 ms a chart, most of a portfolio's HTML report."""
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
