"""One chart of a run (loss, memory, speed, the objective's): ``views/charts.draw`` at
the widget's size, redrawn only when the chart or the size changed."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ftwizard.views.charts import Chart, draw

EMPTY = Chart(lines=(), empty="")


class ChartView(Widget):
    """Set ``chart`` to redraw."""

    chart: reactive[Chart] = reactive(EMPTY)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self._drawn: tuple[Chart, int, int] | None = None
        self._text = Text()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        key = (self.chart, width, height)
        if key != self._drawn:  # a plotext build is milliseconds: once per change
            self._drawn, self._text = key, draw(self.chart, width, height)
        return self._text
