"""The command line: one argparse tree, imported with nothing heavy behind it."""

from __future__ import annotations

import argparse

from ftwizard import __version__

DESCRIPTION = """\
Plan and run LoRA / QLoRA / full fine-tunes of language models from a terminal.

Run with no arguments to open the wizard. For scripts, run a preset headless:
  ftwizard --preset presets/demo-cpu.yaml --set training.max_steps=50 --dry-run
"""

EPILOG = """\
commands:
  detect     show GPUs, CPU, RAM and free disk (what the planner sees)
  presets    list, show and validate run configurations (YAML)
  models     list and prepare the built-in models (the CPU demo model)

Exit codes: 0 success, 1 a job failed, 2 bad input, 130 stopped by the user.
"""


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration value, e.g. training.learning_rate=1e-4 "
        "(repeatable; values are read as YAML: true, 3, [q_proj, v_proj])",
    )


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftwizard",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ftwizard {__version__}")
    parser.add_argument(
        "--preset",
        metavar="FILE",
        help="run this configuration headless (a path, or the name of a built-in preset)",
    )
    _add_overrides(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and print the resolved configuration only"
    )
    _add_json(parser)

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    detect = commands.add_parser(
        "detect",
        help="show GPUs, CPU, RAM and free disk",
        description="Probe the hardware the way the planner sees it. Never fails: without an "
        "NVIDIA driver it reports CPU mode and why. Honours CUDA_VISIBLE_DEVICES.",
    )
    detect.add_argument(
        "--runs-root", default="runs", metavar="DIR", help="report free disk here (default: runs)"
    )
    _add_json(detect)

    presets = commands.add_parser(
        "presets",
        help="list, show and validate presets",
        description="Presets are run configurations saved as YAML. With no action, list them.",
    )
    preset_actions = presets.add_subparsers(dest="action", metavar="ACTION")
    listing = preset_actions.add_parser("list", help="list the built-in presets")
    _add_json(listing)
    show = preset_actions.add_parser(
        "show", help="print a preset, every field with its description"
    )
    show.add_argument("name", metavar="NAME", help="preset name (demo-cpu) or path to a YAML file")
    _add_overrides(show)
    _add_json(show)
    validate = preset_actions.add_parser(
        "validate", help="check a preset file and report every problem at once"
    )
    validate.add_argument("name", metavar="FILE", help="path to a YAML file, or a preset name")
    _add_overrides(validate)
    _add_json(validate)

    models = commands.add_parser(
        "models",
        help="list and prepare built-in models",
        description="Built-in models ship inside Python packages and are converted once into a "
        "Hugging Face folder under the cache ($FTWIZARD_CACHE, $XDG_CACHE_HOME/ftwizard or "
        "~/.cache/ftwizard).",
    )
    model_actions = models.add_subparsers(dest="action", metavar="ACTION")
    model_list = model_actions.add_parser("list", help="list the built-in models")
    _add_json(model_list)
    prepare = model_actions.add_parser(
        "prepare", help="convert a built-in model into a Hugging Face folder (once)"
    )
    prepare.add_argument("name", metavar="NAME", help="short name, e.g. smollm2-135m-instruct")
    prepare.add_argument("--force", action="store_true", help="convert again even if prepared")

    return parser
