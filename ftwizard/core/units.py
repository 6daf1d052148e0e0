"""Numbers as people read them; None (a figure we could not get) prints as n/a."""

from __future__ import annotations

GIB = 1024**3
NA = "n/a"


def gib(value: int | float | None, digits: int = 1) -> str:
    """Bytes as GiB, e.g. ``79.6 GiB``."""
    return NA if value is None else f"{value / GIB:.{digits}f} GiB"


def percent(value: int | float | None) -> str:
    return NA if value is None else f"{value:.0f}%"


def plain(value: object) -> str:
    return NA if value is None else str(value)


def yes_no(value: bool | None) -> str:
    return NA if value is None else ("yes" if value else "no")


def human_size(value: int | None) -> str:
    """Bytes in the largest unit that keeps a figure of at least 1: ``4.0 KiB``, ``1.2 GiB``."""
    if value is None:
        return NA
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def about(seconds: float | None) -> str:
    """A planned duration in words: ``about 40 s``, ``about 12 min``, ``about 5.2 h``,
    ``about 17 days``."""
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"about {seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"about {seconds / 3600:.1f} h"
    return f"about {seconds / 86400:.0f} days"
