"""The flags of ``ftwizard detect``; what they run is ``cli/commands/detect.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    detect = commands.add_parser(
        "detect",
        help="show GPUs, CPU, RAM and free disk",
        description="Probe the hardware the way the planner sees it. Never fails: without an "
        "NVIDIA driver it reports CPU mode and why. Honours CUDA_VISIBLE_DEVICES.",
    )
    detect.add_argument(
        "--runs-root", default="runs", metavar="DIR", help="report free disk here (default: runs)"
    )
    add_json(detect)
