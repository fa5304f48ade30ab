"""Each covenant's metric against its step-function threshold over time, as inline SVG.

matplotlib draws it (no pyplot: no global figure state) with text kept as text, so the chart is
small, selectable and needs no font from anywhere. Floats appear only here, for drawing; every
figure a reviewer reads is printed from the Decimal strings in the tables beside the chart.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from functools import cache
from itertools import pairwise
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.dates import MONTHLY, AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import Formatter

from ..values import later
from .text import limit

_STYLE = {
    "svg.fonttype": "none",  # text as <text>, rendered with the reader's own sans-serif
    "svg.hashsalt": "covenant-monitor",  # stable element ids: the same log gives the same file
    "text.parse_math": False,  # "$" is a currency sign here, not mathtext
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_INK, _THRESHOLD, _BREACH, _MUTED = "#1f4e79", "#7f7f7f", "#c0392b", "#9a9a9a"
_MARGIN = timedelta(days=45)
_POINTS = 72  # an inch
_PAD = 1.08 * _STYLE["font.size"]  # tight_layout's padding around the axes and their labels
_TICK = 3.5 + 3.5  # a tick's length and its label's distance from it


def covenant_chart(covenant: dict[str, Any], state_on: str, horizon_through: str) -> str | None:
    """The SVG of one covenant's chart, or None when it has no schedule or no test to draw."""
    tests = [t for t in covenant["tests"] if t["value"] is not None]
    schedule = covenant["schedule"]
    if not schedule or not covenant["tests"]:
        return None
    first = min(date.fromisoformat(schedule[0]["starts"]), _day(covenant["tests"][0]))
    last_test = _day(covenant["tests"][-1])
    coming = [
        date.fromisoformat(row["starts"])
        for row in schedule
        if date.fromisoformat(row["takes_effect"]) <= date.fromisoformat(horizon_through)
    ]
    end = _after(max([last_test, *coming]), _MARGIN)
    ratio = covenant["unit"] == "ratio"

    with matplotlib.rc_context(_STYLE):
        figure, axes = _canvas()
        for xs, ys in _threshold_runs(schedule, covenant["tests"], end):
            axes.plot(xs, ys, drawstyle="steps-post", color=_THRESHOLD, linewidth=1.6)
        axes.plot([], [], color=_THRESHOLD, linewidth=1.6, label=f"{limit(covenant)} in force")
        axes.plot(
            [_day(t) for t in tests],
            [float(t["value"]) for t in tests],
            color=_INK,
            marker="o",
            markersize=3.5,
            linewidth=1.2,
            label="metric",
        )
        failed = [t for t in tests if t["result"] != "compliant"]
        if failed:
            axes.scatter(
                [_day(t) for t in failed],
                [float(t["value"]) for t in failed],
                marker="X",
                s=70,
                color=_BREACH,
                zorder=5,
                label=f"{covenant['breach_when'] or 'beyond'} the {limit(covenant)}",
            )
        day = date.fromisoformat(state_on)
        if first <= day <= end:
            axes.axvline(day, color=_MUTED, linestyle="--", linewidth=1, label=f"as of {day}")
        axes.set_xlim(first - _MARGIN, end)
        axes.yaxis.set_major_formatter(AxisLabels.ratio() if ratio else AxisLabels.millions())
        axes.legend(loc="best", fontsize=8, frameon=False)
        locator = AutoDateLocator(maxticks=9)
        # Its months go in steps of at most 6, and it turns to years from five of them: a span
        # of 49 to 59 months fitted no step in 9 ticks, and it warned (a line on the reader's
        # terminal). A year's step fits them.
        locator.intervald[MONTHLY] = [*locator.intervald[MONTHLY], 12]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        figure.subplots_adjust(**_margins(figure, axes))
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


@cache
def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(7.6, 2.7))
    axes = figure.add_subplot()
    axes.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    return figure, axes


def _canvas() -> tuple[Figure, Axes]:
    """This process's figure and axes, emptied of the last chart: made once, as a new figure's
    axes and the ticks drawn on them took some two fifths of a chart's time."""
    figure, axes = _figure()
    for artist in [*axes.lines, *axes.collections]:
        artist.remove()
    axes.ignore_existing_data_limits = True
    return figure, axes


def _margins(figure: Figure, axes: Axes) -> dict[str, float]:
    """The margins `tight_layout` gives this chart (within a point), from its tick labels
    measured alone: `tight_layout` draws the whole figure to measure it, and `savefig` draws it
    again, which made the layout half of a chart's time."""
    width, height = figure.get_figwidth() * _POINTS, figure.get_figheight() * _POINTS
    font = FontProperties(family="sans-serif", size=_STYLE["font.size"])

    def size(label: str) -> tuple[float, float]:
        w, h, _ = text_to_path.get_text_width_height_descent(label, font, ismath=False)
        return w, h

    def labels(axis: Axis, low: float, high: float) -> tuple[list[float], list[str]]:
        ticks = [t for t in axis.get_majorticklocs() if low <= t <= high]
        return ticks, axis.get_major_formatter().format_ticks(ticks)

    (bottom_y, top_y), (left_x, right_x) = axes.get_ylim(), axes.get_xlim()
    y_ticks, y_labels = labels(axes.yaxis, bottom_y, top_y)
    x_ticks, x_labels = labels(axes.xaxis, left_x, right_x)
    offset = axes.xaxis.get_major_formatter().get_offset()
    line = size("lp")[1]  # a line's height, as matplotlib lays text out
    left = _PAD + _TICK + max((size(label)[0] for label in y_labels), default=0)
    bottom = _PAD + _TICK + line * max((label.count("\n") + 1 for label in x_labels), default=1)
    if offset:  # the year or month the date labels leave out, on a line below them
        bottom += line + _TICK / 2
    # What of the last labels passes the axes' top and right edges, placed as if it did not.
    inner_width, inner_height = width - left - _PAD, height - bottom - _PAD
    right = top = _PAD
    if x_ticks:
        at = (x_ticks[-1] - left_x) / (right_x - left_x) * inner_width
        right += max(0.0, at + size(x_labels[-1])[0] / 2 - inner_width)
    if y_ticks:
        at = (y_ticks[-1] - bottom_y) / (top_y - bottom_y) * inner_height
        top += max(0.0, at + size(y_labels[-1])[1] / 2 - inner_height)
    return {
        "left": left / width,
        "bottom": bottom / height,
        "right": 1 - right / width,
        "top": 1 - top / height,
    }


def _day(test: dict[str, Any]) -> date:
    return date.fromisoformat(test["date"])


def _after(day: date, span: timedelta) -> date:
    """`day` plus `span`, or the last date there is (9999-12-31) if that is sooner."""
    return later(day, span) or date.max


_DAY = timedelta(days=1)


def _threshold_runs(
    schedule: list[dict[str, Any]], tests: list[dict[str, Any]], end: date
) -> list[tuple[list[date], list[float]]]:
    """The threshold as unbroken step runs: each row's minimum, plus (for a covenant such as
    6.21) the amount added to it as the tests report it, from the date they report it."""
    changes: list[tuple[date, float]] = []
    for test in tests:
        plus = float(test["plus_value"] or 0)
        if not changes or changes[-1][1] != plus:
            changes.append((_day(test), plus))

    def plus_on(day: date) -> float:
        return next((p for d, p in reversed(changes) if d <= day), 0.0)

    runs: list[tuple[list[date], list[float]]] = []
    previous_end: date | None = None
    for row in schedule:
        start = date.fromisoformat(row["starts"])
        stop = min(_after(date.fromisoformat(row["ends"]), _DAY), end) if row["ends"] else end
        if start >= end:
            break
        if previous_end is None or start > previous_end:
            runs.append(([], []))
        cuts = [start, *(d for d, _ in changes if start < d < stop), stop]
        xs, ys = runs[-1]
        if xs:
            xs.pop(), ys.pop()  # the previous run's closing point: this row continues it
        for a, _next in pairwise(cuts):
            xs.append(a)
            ys.append(float(row["minimum"]) + plus_on(a))
        xs.append(stop)
        ys.append(ys[-1])
        previous_end = stop
    return runs


class AxisLabels(Formatter):
    """Tick labels that state their gridlines' values: each axis with as many decimals as its
    ticks need (at least `fewest`), the same for all of them. One decimal wrote $5.2m at the
    $5,250,000 gridline and $4.8m at $4,750,000."""

    def __init__(self, scale: float, fewest: int, label: Callable[[float, int], str]):
        self.scale, self.fewest, self.label = scale, fewest, label

    @classmethod
    def millions(cls) -> AxisLabels:
        return cls(1e6, 1, _millions)

    @classmethod
    def ratio(cls) -> AxisLabels:
        return cls(1, 2, _ratio)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        scaled = [value / self.scale for value in values]
        places = next(
            (p for p in range(self.fewest, _MOST_PLACES) if all(_exact(v, p) for v in scaled)),
            _MOST_PLACES,
        )
        return [self.label(value, places) for value in scaled]

    def __call__(self, value: float, position: int | None = None) -> str:
        return self.format_ticks([value])[0]


_MOST_PLACES = 6  # a dollar, in millions


def _exact(value: float, places: int) -> bool:
    return abs(round(value, places) - value) < 1e-9


def _millions(value: float, places: int) -> str:
    return f"{'-' if value < 0 else ''}${abs(value):,.{places}f}m"


def _ratio(value: float, places: int) -> str:
    return f"{value:.{places}f}"
