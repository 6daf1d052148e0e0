"""The flags of ``ftwizard presets``; what they run is ``cli/commands/presets.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json, add_overrides


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    presets = commands.add_parser(
        "presets",
        help="list, show and validate presets",
        description="Presets are run configurations saved as YAML. With no action, list them.",
    )
    preset_actions = presets.add_subparsers(dest="action", metavar="ACTION")
    listing = preset_actions.add_parser("list", help="list the built-in presets")
    add_json(listing)
    show = preset_actions.add_parser(
        "show", help="print a preset, every field with its description"
    )
    show.add_argument("name", metavar="NAME", help="preset name (demo-cpu) or path to a YAML file")
    add_overrides(show)
    add_json(show)
    validate = preset_actions.add_parser(
        "validate", help="check a preset file and report every problem at once"
    )
    validate.add_argument("name", metavar="FILE", help="path to a YAML file, or a preset name")
    add_overrides(validate)
    add_json(validate)
