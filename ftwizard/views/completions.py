"""The latest prompt of an online-RL run with its completions and their rewards: the
dashboard's completions panel and the live view of ``attach`` draw this one view."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ftwizard.core.runs.completions import LatestCompletions


def _one_line(text: str) -> str:
    return " ".join(text.split())


def completions_view(latest: LatestCompletions | None) -> RenderableType:
    """The prompt, then each completion on one line with its rewards, best first; a line
    saying there is nothing yet before the first logged step."""
    if latest is None:
        return Text("completions: none yet (they come with the first logged step)", style="dim")
    head = Text.assemble(("prompt ", "bold"), f"(step {latest.step}): ", _one_line(latest.prompt))
    head.truncate(1000)
    table = Table(box=None, show_header=True, padding=(0, 1), expand=True)
    table.add_column("reward", justify="right", no_wrap=True)
    table.add_column("completion", ratio=1, overflow="ellipsis", no_wrap=True)
    ranked = sorted(latest.completions, key=latest.total, reverse=True)
    for completion in ranked:
        parts = ", ".join(
            f"{name} {value:.2f}" for name, value in completion.rewards.items() if value is not None
        )
        text = Text(_one_line(completion.text) or "(empty)")
        if parts:
            text.append(f"  [{parts}]", style="dim")
        table.add_row(f"{latest.total(completion):.2f}", text)
    return Group(head, table)
