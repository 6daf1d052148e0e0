"""The flags of ``ftwizard estimate``; what they run is ``cli/commands/estimate.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json, add_overrides, add_run_flags, add_target


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    estimate = commands.add_parser(
        "estimate",
        help="predict the GPU memory of a training run",
        description="Predict torch's peak allocated memory and what nvidia-smi would show for "
        "one training run, with a breakdown, and say whether it fits the GPU; and the seconds "
        "per optimizer step and tokens per second on it (a throughput model measured on H100 "
        "and H200 runs). Works offline for catalog models, local folders and .gguf files.",
    )
    estimate.add_argument(
        "--model",
        metavar="MODEL",
        help="Hub id, catalog name, local folder or .gguf file (default: the preset's model)",
    )
    estimate.add_argument("--preset", metavar="FILE", help="start from this configuration")
    estimate.add_argument(
        "--tokens-per-example",
        type=int,
        metavar="N",
        help="the examples' mean length in tokens, for the speed figures (default: every "
        "example as long as max_length, the slow side)",
    )
    add_overrides(estimate)
    add_run_flags(estimate)
    add_target(estimate)
    add_json(estimate)
