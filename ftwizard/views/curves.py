"""Several runs' loss curves in one chart, a colour per run, the steps on one axis: so
``compare`` shows which learned faster and where (drawn as the dashboard's charts are)."""

from __future__ import annotations

from rich.text import Text

from ftwizard.core.runs.series import Point
from ftwizard.views.charts import Chart, Line, draw

COLOURS = ("cyan", "magenta", "green", "yellow", "red", "blue")


def curves_chart(series: dict[str, list[Point]], width: int = 72, height: int = 12) -> Text:
    """``height`` rows: the curves, the steps' axis and a legend naming each run."""
    lines = tuple(
        Line(name, points, COLOURS[number % len(COLOURS)])
        for number, (name, points) in enumerate(series.items())
    )
    return draw(Chart(lines, empty="No loss logged in these runs."), width, height)
