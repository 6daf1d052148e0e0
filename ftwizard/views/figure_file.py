"""A run's charts as an image file (PNG, SVG or PDF) for a report or the model card: the
same :class:`~ftwizard.views.charts.Chart` values the terminal draws, drawn by
matplotlib at full resolution.

matplotlib is imported here only, when a file is written: the terminal views stay light.
Its object API (``Figure`` without pyplot) keeps no global state and opens no window.
"""

from __future__ import annotations

from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.watch import RunWatch
from ftwizard.views.charts import Chart
from ftwizard.views.run_charts import (
    ChartOptions,
    loss_chart,
    memory_chart,
    objective_chart,
    objective_title,
    speed_chart,
)

FORMATS = (".png", ".svg", ".pdf")
CHARTS = ("loss", "memory", "speed", "objective")
# The terminal's colour names, as a white page shows them.
PAGE_COLOURS = {
    "cyan": "tab:blue",
    "magenta": "tab:purple",
    "green": "tab:green",
    "yellow": "tab:orange",
    "blue": "tab:cyan",
    "red": "darkred",
}
# Points a page can show: a run's buckets up to this many per chart.
PAGE_POINTS = 2000


def run_charts(
    run: RunFolder, names: tuple[str, ...] = CHARTS, options: ChartOptions | None = None
) -> list[tuple[str, Chart]]:
    """The run's charts by name, each with its title; a chart with nothing in it (the
    objective's, for SFT) left out."""
    watch = RunWatch(run)
    watch.poll()
    status = run.read_status()
    asked = options or ChartOptions()
    options = ChartOptions(asked.smooth, asked.log_scale, asked.recent, PAGE_POINTS)
    found: list[tuple[str, Chart]] = []
    for name in names:
        if name == "loss":
            found.append(("Loss", loss_chart(watch, options)))
        elif name == "memory":
            found.append(("Memory", memory_chart(watch, status, options)))
        elif name == "speed":
            found.append(("Speed", speed_chart(watch, options)))
        elif name == "objective":
            chart = objective_chart(watch, options)
            if chart is not None:
                found.append((objective_title(watch), chart))
    return [(title, chart) for title, chart in found if chart.has_points]


def write_figure(charts: list[tuple[str, Chart]], out: Path, title: str) -> Path:
    """``charts`` one above the other in ``out`` (its suffix says the format)."""
    if out.suffix.lower() not in FORMATS:
        raise UserError(
            f"{out}: cannot tell the image format from `{out.suffix or 'no suffix'}`. "
            f"End the file name in {', '.join(FORMATS)}."
        )
    if not charts:
        raise UserError(f"{title}: nothing logged yet to plot. Try again after its first steps.")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.5, 0.6 + 2.4 * len(charts)), layout="constrained")
    axes = figure.subplots(len(charts), 1, squeeze=False)[:, 0]
    for ax, (name, chart) in zip(axes, charts, strict=True):
        _draw(ax, name, chart)
    figure.suptitle(title, fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(out, dpi=150)
    except OSError as error:
        raise UserError(f"{out}: cannot write the image ({error.strerror or error}).") from error
    return out


def _draw(ax: object, name: str, chart: Chart) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    right: Axes | None = None
    for line in chart.lines:
        if not line.points:
            continue
        target = ax
        if line.right:
            right = right or ax.twinx()
            target = right
        xs, ys = [s for s, _ in line.points], [v for _, v in line.points]
        sparse = len(xs) < 40  # evaluations: a point each, joined
        target.plot(
            xs,
            ys,
            color=PAGE_COLOURS.get(line.colour, line.colour),
            label=line.label,
            linewidth=1.3,
            marker="o" if sparse else None,
            markersize=3,
        )
    for mark in chart.levels:
        ax.axhline(mark.at, color=PAGE_COLOURS.get(mark.colour), linestyle="--", label=mark.label)
    for index, mark in enumerate(chart.steps):
        label = mark.label if index == 0 else None
        ax.axvline(mark.at, color=PAGE_COLOURS.get(mark.colour), linestyle=":", label=label)
    if chart.log_scale:
        ax.set_yscale("log")
    ax.set_title(name + (f" ({', '.join(chart.notes)})" if chart.notes else ""), loc="left")
    ax.set_xlabel("step")
    if chart.unit:
        ax.set_ylabel(chart.unit)
    if right is not None and chart.right_unit:
        right.set_ylabel(chart.right_unit)
    if chart.span is not None and chart.span[1] > chart.span[0]:
        ax.set_xlim(*chart.span)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if right is not None:
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    # Beside the plot, never over a curve.
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.08, 1.0))
