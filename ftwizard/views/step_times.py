"""Where a training step goes, phase by phase: the dashboard's step-time panel (``t``),
``attach`` and ``ftwizard runs NAME`` draw this one view."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ftwizard.core.runs.events import StepTimes
from ftwizard.core.runs.step_words import device_wait_words, step_phases, step_seconds
from ftwizard.views.bars import share_bar


def step_time_view(times: StepTimes | None, step: int | None = None) -> RenderableType:
    """How busy the GPU was (on a GPU), then a bar per phase with its share and seconds;
    a line saying there is nothing yet before a step has been timed."""
    if times is None:
        return Text("step time: none yet (it comes with the first logged step)", style="dim")
    at = f" at step {step}" if step is not None else ""
    many = f"mean of {times.steps} steps" if times.steps > 1 else "one step"
    head = Text.assemble(
        ("step time ", "bold"), f"{step_seconds(times.step_s)}{at} ({many}, host clock)"
    )
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for name, seconds, share in step_phases(times):
        table.add_row(name, share_bar(share, 1.0, width=16), f"{share:.0%}", step_seconds(seconds))
    # On a GPU how long it waits is the figure that matters: first, where a short
    # panel still shows it.
    wait = device_wait_words(times)
    parts: list[RenderableType] = [head, *([Text(wait)] if wait else []), table]
    return Group(*parts)
