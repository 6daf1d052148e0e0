"""Line charts in the terminal, drawn by plotext in braille (2 x 4 dots a character).

A chart is described by a :class:`Chart` (its lines, the levels drawn across it, the
steps marked on it) and drawn by :func:`draw` at any size: the dashboard's widgets, the
``attach`` and ``runs NAME`` views and ``compare`` all draw these same charts, built
from a run's :class:`~ftwizard.core.runs.watch.RunWatch` by ``views/run_charts.py``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from rich.text import Text

from ftwizard.core.runs.series import Point

# plotext draws through one module-level figure: one chart at a time.
_PLOTEXT = threading.Lock()
# Braille has two dots across a character, and plotext joins the points with lines:
# one point a column keeps the shape and halves the drawing (bench/chart_redraw.py).
DOTS_PER_COLUMN = 1


@dataclass(frozen=True)
class Line:
    label: str
    points: list[Point]
    colour: str
    right: bool = False
    """On the right-hand axis (another unit: GPU percent beside tokens/s)."""
    short: str = ""
    """The label where the full one does not fit."""


@dataclass(frozen=True)
class Mark:
    """A horizontal line at a value (the plan's estimate, the device's memory) or a
    vertical one at a step (where a resume or a stage began)."""

    label: str
    at: float
    colour: str
    short: str = ""
    """What the axis says at a level ("plan 2.3"); the label where that is empty."""


@dataclass(frozen=True)
class Chart:
    lines: tuple[Line, ...]
    levels: tuple[Mark, ...] = ()
    steps: tuple[Mark, ...] = ()
    unit: str = ""
    """Put after the left axis' figures ("GB", "%")."""
    right_unit: str = ""
    log_scale: bool = False
    empty: str = "Nothing logged yet."
    notes: tuple[str, ...] = field(default=())
    """Said after the legend: "smoothed", "last 200 steps"."""
    span: tuple[int, int] | None = None
    """The steps the axis runs over (the first and latest logged), where the points,
    each a bucket's mean, start a little after the first."""

    @property
    def has_points(self) -> bool:
        return any(line.points for line in self.lines)


def figure(value: float) -> str:
    """A short axis label: 3 significant figures, thousands as k."""
    size = abs(value)
    if size >= 10_000:
        return f"{value / 1000:.0f}k"
    if size >= 1000:
        return f"{value / 1000:.1f}k"
    if size >= 100 or value == 0:
        return f"{value:.0f}"
    if size >= 0.01:
        return f"{value:.3g}"
    return f"{value:.1e}"


def tick_labels(ticks: list[float], unit: str) -> list[str]:
    """The axis' figures with as many decimals as tell them apart (1.91, 2.10, 2.30)."""
    span = max(ticks) - min(ticks)
    thousands = max(abs(t) for t in ticks) >= 1000
    if span <= 0:
        labels = [figure(t) for t in ticks]
    else:
        scale = 1000 if thousands else 1
        decimals = min(1 if thousands else 4, max(0, 1 - math.floor(math.log10(span / scale))))
        labels = [f"{t / scale:.{decimals}f}{'k' if thousands else ''}" for t in ticks]
    return [f"{label} {unit}" if unit else label for label in labels]


def _with_levels(
    ticks: list[float], labels: list[str], levels: tuple[Mark, ...], rows: int
) -> tuple[list[float], list[str]]:
    """The figures' ticks and each level's name at its height (a figure's tick that
    would share a row with a level goes)."""
    low, high = min(ticks), max(ticks)
    span = (high - low) or 1.0
    row = span / max(1, rows - 1)
    kept = list(zip(ticks, labels, strict=True))
    for mark in levels:
        kept = [(t, label) for t, label in kept if abs(t - mark.at) >= row]
        kept.append((mark.at, mark.short or mark.label))
    return [t for t, _ in kept], [label for _, label in kept]


def _ticks(low: float, high: float, rows: int, log_scale: bool) -> list[float]:
    count = 3 if rows >= 4 else 2
    if high <= low:
        return [low]
    if log_scale:
        a, b = math.log10(low), math.log10(high)
        return [10 ** (a + (b - a) * i / (count - 1)) for i in range(count)]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def legend(chart: Chart, width: int = 10_000) -> Text:
    """What each colour is: every line, the levels and vertical marks, the notes. Where
    that is wider than ``width``, the levels go (the axis names them), then the lines
    take their short labels, then the notes go."""
    shown = [line for line in chart.lines if line.points]
    for short, with_marks, with_notes in (
        (False, True, True),
        (False, False, True),
        (True, False, True),
        (True, False, False),
    ):
        text = Text()
        for line in shown:
            label = (line.short or line.label) if short else line.label
            side = " (right)" if line.right and not short else ""
            text.append("⣿ ", style=line.colour)
            text.append(f"{label}{side}  ", style="dim")
        for mark in (*chart.levels, *chart.steps[:1]) if with_marks else ():
            text.append("── " if mark in chart.levels else "│ ", style=mark.colour)
            text.append(f"{mark.label}  ", style="dim")
        for note in chart.notes if with_notes else ():
            text.append(f"{note}  ", style="dim italic")
        text.rstrip()
        if text.cell_len <= width:
            break
    return text


def draw(chart: Chart, width: int, height: int, with_legend: bool = True) -> Text:
    """``chart`` in ``width`` x ``height`` characters (the legend's line included)."""
    if not chart.has_points:
        return Text(chart.empty, style="dim")
    plot_rows = height - 1 if with_legend else height
    if plot_rows < 2 or width < 16:
        return legend(chart, width)
    with _PLOTEXT:
        plot = _build(chart, width, plot_rows)
    text = Text.from_ansi(plot.rstrip("\n"), no_wrap=True, end="")
    if with_legend:
        text.append("\n")
        legend_line = legend(chart, width)
        legend_line.truncate(width, overflow="ellipsis")
        text.append_text(legend_line)
    return text


def _points_to_draw(line: Line, log_scale: bool) -> tuple[list[int], list[float]]:
    points = [(s, v) for s, v in line.points if not log_scale or v > 0]
    return [s for s, _ in points], [v for _, v in points]


def _build(chart: Chart, width: int, rows: int) -> str:
    import plotext  # here: `ftwizard runs` and the launch's plan print no chart

    plotext.clear_figure()
    plotext.plotsize(width, rows)
    plotext.theme("clear")
    plotext.frame(False)
    log_scale = chart.log_scale and all(v > 0 for line in chart.lines for _, v in line.points)
    if log_scale:
        plotext.yscale("log")
    for side in ("left", "right"):
        lines = [line for line in chart.lines if line.right == (side == "right") and line.points]
        values = [v for line in lines for _, v in line.points if not log_scale or v > 0]
        if side == "left":
            values += [mark.at for mark in chart.levels]
        if not values:
            continue
        for line in lines:
            xs, ys = _points_to_draw(line, log_scale)
            plotext.plot(xs, ys, marker="braille", color=line.colour, yside=side)
        unit = chart.unit if side == "left" else chart.right_unit
        low, high = min(values), max(values)
        if high - low < 1e-9 * max(1.0, abs(high)):  # a flat line: give it room
            if log_scale:
                low, high = low / 1.5, high * 1.5
            else:
                low, high = low - max(abs(low) * 0.05, 0.5), high + max(abs(high) * 0.05, 0.5)
                low = max(low, 0.0) if min(values) >= 0 else low
        plotext.ylim(low, high, yside=side)
        ticks = _ticks(low, high, rows, log_scale)
        labels = tick_labels(ticks, unit)
        if side == "left" and chart.levels:  # the levels on the axis, by name
            ticks, labels = _with_levels(ticks, labels, chart.levels, rows)
        plotext.yticks(ticks, labels, yside=side)
    for mark in chart.levels:
        plotext.hline(mark.at, mark.colour)
    for mark in chart.steps:
        plotext.vline(mark.at, mark.colour)
    steps = [s for line in chart.lines for s, _ in line.points]
    first, last = chart.span or (min(steps), max(steps))
    if rows <= 4:  # a small chart: its rows are for the curve (the main chart has steps)
        plotext.xticks([])
        plotext.xaxes(False, False)
    elif last > first:
        plotext.xlim(first, last)
        middle = (first + last) // 2
        ticks = [first, middle, last] if width >= 40 else [first, last]
        plotext.xticks(ticks, [f"step {t:,}" if t == first else f"{t:,}" for t in ticks])
    else:
        plotext.xticks([first], [f"step {first:,}"])
    built: str = plotext.build()
    return built
