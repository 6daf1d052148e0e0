"""The flags of ``ftwizard runs``, ``attach``, ``stop`` and ``resume``; what they run is
``cli/commands/runs.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json, add_machine_flags, add_overrides, add_runs_root


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = commands.add_parser(
        "runs",
        help="list runs and their checkpoints",
        description="Runs under the runs root with state, progress, last loss, age and size; "
        "with a name, that run's checkpoints (step, loss, time, size, resumable or not).",
    )
    runs.add_argument("name", nargs="?", metavar="RUN", help="show this run's checkpoints")
    add_runs_root(runs)
    add_json(runs)

    for name, text in (
        ("attach", "follow a running training again"),
        ("stop", "save a resumable checkpoint and stop a training"),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("name", metavar="RUN", help="run name or folder")
        add_runs_root(command)
        if name == "stop":
            command.add_argument(
                "--no-wait",
                action="store_true",
                help="return at once instead of waiting for the checkpoint",
            )

    resume = commands.add_parser(
        "resume",
        help="continue a stopped or failed run from a checkpoint",
        description="Continue from the newest complete checkpoint (or --checkpoint STEP) with the "
        "same data order and schedule. Changed settings are shown as a diff and refused unless "
        "--allow-changes, and only for keys that can safely change.",
    )
    resume.add_argument("name", metavar="RUN", help="run name or folder")
    add_runs_root(resume)
    resume.add_argument("--checkpoint", type=int, metavar="STEP", help="resume from this step")
    add_overrides(resume)
    resume.add_argument(
        "--allow-changes",
        action="store_true",
        help="accept --set changes to keys that can safely change (epochs, "
        "max_steps, save/eval/logging intervals)",
    )
    resume.add_argument(
        "--apply-oom-advice",
        action="store_true",
        help="after an out-of-memory failure, apply the first advice",
    )
    resume.add_argument("--detach", action="store_true", help="return at once")
    add_machine_flags(resume)
