"""The flags of ``ftwizard plan``; what they run is ``cli/commands/plan.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_data_flags, add_json, add_overrides, add_target


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser(
        "plan",
        help="recommend objective, method and settings",
        description="Recommend an objective, a method and hyperparameters for a model, a dataset "
        "and a purpose, checked by the memory estimator, with every decision's reason.",
    )
    plan.add_argument(
        "--model",
        metavar="MODEL",
        required=True,
        help="Hub id, catalog name, local folder or .gguf file",
    )
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        metavar="PATH",
        help="the dataset (file, folder or Hub id): its rows, kind and token lengths feed the plan",
    )
    source.add_argument(
        "--rows", type=int, metavar="N", help="plan from a row count alone, before the data exists"
    )
    plan.add_argument(
        "--data-kind",
        choices=["chat", "preference", "kto", "text", "prompts"],
        default="chat",
        help="with --rows: chat (instructions/conversations), preference (chosen/rejected "
        "pairs), kto (good/bad labels), text, or prompts with answers (default: chat)",
    )
    add_data_flags(plan)
    plan.add_argument(
        "--pairs",
        metavar="FILE",
        help="the second stage's data: preference pairs for the DPO stage that purposes "
        "chat and production add after SFT, prompts with answers for checkable's GRPO "
        "stage; the plan lists both stages with their memory and ETA",
    )
    plan.add_argument(
        "--purpose",
        choices=["domain", "chat", "prototype", "production", "alignment", "checkable"],
        default="domain",
        help="what the fine-tune is for (default: domain)",
    )
    plan.add_argument(
        "--method",
        choices=["full", "lora", "qlora"],
        help="plan for this method instead of choosing one; with several GPUs a full "
        "fine-tune too big for one is sharded with FSDP",
    )
    plan.add_argument("--preset", metavar="FILE", help="start from this configuration")
    add_overrides(plan)
    plan.add_argument(
        "--save-preset", metavar="FILE", help="write the recommended configuration as a preset"
    )
    plan.add_argument(
        "--force", action="store_true", help="replace the --save-preset file if it exists"
    )
    plan.add_argument(
        "--which-gpu",
        action="store_true",
        help="for each method, the smallest cards in the table on which it fits",
    )
    add_target(plan)
    plan.add_argument(
        "--nodes",
        type=int,
        metavar="M",
        help="machines the plan may use, each with the --gpus GPUs (default: 1); a run too "
        "big for one is sharded with FSDP over the fewest that hold it, and --save-preset "
        "prints the command for every machine",
    )
    add_json(plan)
