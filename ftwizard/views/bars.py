"""Bars drawn in characters: the filled share is # and the rest ., so the share reads
without colour (the figure is always written beside the bar as well)."""

from __future__ import annotations

from rich.text import Text

BAR_WIDTH = 20


def share_bar(used: int | float | None, total: int | float | None, width: int = BAR_WIDTH) -> Text:
    """``[#######.............]``; ``[????]`` when the figures are unknown."""
    if used is None or not total:
        return Text("[" + "?" * width + "]", style="dim")
    filled = max(0, min(width, round(width * used / total)))
    bar = Text("[")
    bar.append("#" * filled, style="bold")
    bar.append("." * (width - filled), style="dim")
    bar.append("]")
    return bar
