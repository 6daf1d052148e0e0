"""A loss chart in plain characters: train as dots, eval as o, readable over any number
of steps (both series are averaged into one point per column)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ftwizard.core.runs.watch import Point, downsample

TRAIN, EVAL = "•", "o"


def render_chart(
    train: list[Point],
    evals: list[Point],
    width: int,
    height: int,
    names: tuple[str, str] = ("train loss", "eval loss"),
) -> Text:
    """``height`` rows of ``width`` columns plus an axis line and a legend line naming
    the two series (``names``: online RL plots its mean reward)."""
    label_width = 8
    plot_w, plot_h = max(8, width - label_width - 1), max(3, height - 2)
    if not train and not evals:
        return Text(
            f"No {names[0]} logged yet: the first point appears after the first logging step."
        )
    values = [v for _, v in train + evals]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last_step = max(s for s, _ in train + evals)
    first_step = min(s for s, _ in train + evals)
    step_span = max(1, last_step - first_step)
    grid = [[" "] * plot_w for _ in range(plot_h)]

    def place(points: list[Point], mark: str) -> None:
        for step, value in downsample(points, plot_w):
            x = round((step - first_step) / step_span * (plot_w - 1))
            y = plot_h - 1 - round((value - low) / span * (plot_h - 1))
            grid[y][x] = mark

    place(train, TRAIN)
    place(evals, EVAL)  # eval drawn last: it stays visible where both meet
    text = Text()
    for row_index, row in enumerate(grid):
        if row_index == 0:
            label = f"{high:.3g}"
        elif row_index == plot_h - 1:
            label = f"{low:.3g}"
        else:
            label = ""
        text.append(f"{label:>{label_width}}|", style="dim")
        for cell in row:
            text.append(cell, style="bold cyan" if cell == TRAIN else "bold magenta")
        text.append("\n")
    axis = f"step {first_step}".ljust(plot_w // 2) + f"step {last_step}".rjust(plot_w - plot_w // 2)
    text.append(" " * (label_width + 1) + axis + "\n", style="dim")
    legend = f"{TRAIN} {names[0]}" + (f"   {EVAL} {names[1]}" if names[1] else "")
    text.append(legend, style="dim")
    return text


class LossChart(Widget):
    """Set ``series`` to (train points, eval points) to redraw; ``names`` says what they
    are (the mean reward of online RL instead of its loss, which says little)."""

    series: reactive[tuple[list[Point], list[Point]]] = reactive(([], []), always_update=True)
    names: tuple[str, str] = ("train loss", "eval loss")

    def render(self) -> Text:
        train, evals = self.series
        return render_chart(train, evals, self.size.width, self.size.height, self.names)
