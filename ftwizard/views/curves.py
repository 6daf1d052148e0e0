"""Several runs' loss curves in one plain-character chart: a mark and a colour per run,
the steps on one axis, so ``compare`` shows which learned faster and where."""

from __future__ import annotations

from rich.text import Text

from ftwizard.core.runs.watch import Point, downsample

MARKS = ("•", "o", "x", "+", "*", "#")
COLOURS = ("cyan", "magenta", "green", "yellow", "red", "blue")


def curves_chart(series: dict[str, list[Point]], width: int = 72, height: int = 12) -> Text:
    """``height`` rows of plot, an axis line and a legend; later runs drawn over earlier."""
    label_width = 8
    plot_w, plot_h = max(8, width - label_width - 1), max(3, height)
    points = [p for values in series.values() for p in values]
    if not points:
        return Text("No loss logged in these runs.")
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    first, last = min(s for s, _ in points), max(s for s, _ in points)
    steps = max(1, last - first)
    grid: list[list[tuple[str, str]]] = [[(" ", "")] * plot_w for _ in range(plot_h)]
    for number, values in enumerate(series.values()):
        mark = (MARKS[number % len(MARKS)], f"bold {COLOURS[number % len(COLOURS)]}")
        for step, value in downsample(values, plot_w):
            x = round((step - first) / steps * (plot_w - 1))
            y = plot_h - 1 - round((value - low) / span * (plot_h - 1))
            grid[y][x] = mark
    text = Text()
    for index, row in enumerate(grid):
        label = f"{high:.3g}" if index == 0 else f"{low:.3g}" if index == plot_h - 1 else ""
        text.append(f"{label:>{label_width}}|", style="dim")
        for cell, style in row:
            text.append(cell, style=style)
        text.append("\n")
    axis = f"step {first}".ljust(plot_w // 2) + f"step {last}".rjust(plot_w - plot_w // 2)
    text.append(" " * (label_width + 1) + axis + "\n", style="dim")
    for number, name in enumerate(series):
        style = f"bold {COLOURS[number % len(COLOURS)]}"
        text.append(f"{MARKS[number % len(MARKS)]} {name}  ", style=style)
    return text
