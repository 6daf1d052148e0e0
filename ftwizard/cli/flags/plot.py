"""The flags of ``ftwizard plot``; what it runs is ``cli/commands/plot.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json, add_runs_root

CHARTS = ("loss", "memory", "speed", "objective")


def _charts(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in CHARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(CHARTS)}"
        )
    return names


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plot = commands.add_parser(
        "plot",
        help="write a run's loss, memory and speed curves as a PNG, SVG or PDF",
        description="Draw a run's curves into an image for a report: the training and eval "
        "loss (with where it resumed), memory against the plan and the device, tokens/s "
        "and GPU use, and the objective's own (reward and KL, preference margins), as the "
        "dashboard shows them. The format follows the file name's ending.",
    )
    plot.add_argument("name", metavar="RUN", help="run name or folder")
    plot.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="the image to write: .png, .svg or .pdf",
    )
    plot.add_argument(
        "--charts",
        type=_charts,
        default=CHARTS,
        metavar="NAMES",
        help=f"which charts, comma-separated (default: {','.join(CHARTS)}; "
        "the objective's where the run has one)",
    )
    plot.add_argument("--smooth", action="store_true", help="smooth the curves (EMA, 0.6)")
    plot.add_argument("--log-scale", action="store_true", help="the loss on a log scale")
    add_runs_root(plot)
    add_json(plot)
