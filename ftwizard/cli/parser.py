"""The command line: the top-level flags, and each command's from ``cli/flags/<command>.py``.

Imported with nothing heavy behind it: ``--help`` takes a few hundredths of a second."""

from __future__ import annotations

import argparse

from ftwizard import __version__
from ftwizard.cli.flags import (
    add_json,
    add_machine_flags,
    add_overrides,
    chat,
    data,
    detect,
    estimate,
    evaluate,
    export,
    models,
    outputs,
    plan,
    plot,
    presets,
    runs,
)

# Each command's flags, in the order --help lists them.
COMMAND_FLAGS = (
    detect,
    estimate,
    plan,
    data,
    runs,
    plot,
    outputs,
    evaluate,
    chat,
    export,
    presets,
    models,
)

DESCRIPTION = """\
Plan and run LoRA / QLoRA / full fine-tunes of language models from a terminal.

Run with no arguments to open the wizard. For scripts, run a preset headless:
  ftwizard --preset presets/demo-cpu.yaml --set training.max_steps=50 --dry-run
DPO on what an SFT run made (the SFT model is also DPO's reference):
  ftwizard --preset presets/demo-dpo-cpu.yaml --from SFT_RUN
On several machines, the same command on each with --nodes K --node-rank R --master HOST
(`ftwizard plan ... --nodes K --save-preset F` prints them).
"""

EPILOG = """\
commands:
  detect     show GPUs, CPU, RAM and free disk (what the planner sees)
  estimate   predict the GPU memory of a training run, with a breakdown
  plan       recommend objective, method and settings for a model and a dataset
  data       check a dataset: its layout, every problem, token statistics, a preview
  runs       list runs and checkpoints; attach, stop and resume them
  plot       a run's loss, memory and speed curves as a PNG, SVG or PDF
  sample     compare the base and the fine-tuned model on prompts
  eval       score base and fine-tuned answers; harness tasks for what it forgot
  judge      judge two models' answers A/B by keys; decisions become DPO pairs
  compare    runs side by side: scores, losses, settings
  chat       talk to the fine-tuned model, the base, or both side by side
  merge      fold an adapter into the base model
  export     the fine-tuned model as one GGUF file (llama.cpp, Ollama), or to the Hub
  presets    list, show and validate run configurations (YAML)
  models     list the model catalog, prepare the built-in demo model

Exit codes: 0 success, 1 a job failed, 2 bad input, 130 stopped by the user.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftwizard",
        allow_abbrev=False,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ftwizard {__version__}")
    # Distinct dests: a command's own --preset/--set/--json must not collide with these.
    parser.add_argument(
        "--preset",
        dest="run_preset",
        metavar="FILE",
        help="run this configuration headless (a path, or the name of a built-in preset)",
    )
    add_overrides(parser, dest="run_overrides")
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and print the resolved configuration only"
    )
    add_json(parser, dest="run_json")
    parser.add_argument(
        "--detach", action="store_true", help="with --preset: start training and return at once"
    )
    parser.add_argument(
        "--from",
        dest="run_from",
        metavar="RUN",
        help="with --preset: start from this finished run's result (model.from_run), e.g. "
        "DPO after SFT; for DPO/KTO it is also the reference model",
    )
    add_machine_flags(parser, prefix="run_")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_FLAGS:
        module.add(commands)
    return parser
