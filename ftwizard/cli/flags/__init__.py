"""The command line's flags: the groups several commands share (overrides, JSON, data
reading, hardware, the run, several machines) here, and each command's own in the
module named after it (``plan.py`` for ``ftwizard plan``)."""

from __future__ import annotations

import argparse


def add_overrides(parser: argparse.ArgumentParser, dest: str = "overrides") -> None:
    parser.add_argument(
        "--set",
        dest=dest,
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration value, e.g. training.learning_rate=1e-4 "
        "(repeatable; values are read as YAML: true, 3, [q_proj, v_proj])",
    )


def add_json(parser: argparse.ArgumentParser, dest: str = "json") -> None:
    parser.add_argument("--json", dest=dest, action="store_true", help="print JSON for scripts")


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default="auto",
        metavar="FORMAT",
        help="alpaca, sharegpt, messages, prompt_completion, text, preference, kto "
        "(default: auto-detect)",
    )
    parser.add_argument(
        "--map",
        metavar="EXPECTED=YOURS,...",
        help="read your columns as the expected ones, e.g. instruction=question,output=answer",
    )
    parser.add_argument(
        "--text-split",
        choices=["auto", "paragraph", "line"],
        default="auto",
        help=".txt files: one document per blank-line-separated block or per line "
        "(default: blocks if the file has blank lines)",
    )
    parser.add_argument("--name", metavar="CONFIG", help="configuration of a Hub dataset")
    parser.add_argument("--split", default="train", help="split of a Hub dataset (default: train)")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="accept the dataset even with invalid rows (they are skipped and counted)",
    )


def add_target(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hardware to plan for (default: the GPUs detected here)")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "--gpu",
        metavar="NAME",
        help="a card from the built-in table: T4, L4, A10G, RTX 3090, RTX 4090, "
        "RTX 5090, A6000, L40S, A100 40GB, A100 80GB, H100, H200",
    )
    choice.add_argument("--vram-gb", type=float, metavar="N", help="any card with N GB of memory")
    group.add_argument(
        "--no-bf16",
        action="store_true",
        help="with --vram-gb: the card lacks bf16 (compute capability < 8.0)",
    )
    group.add_argument(
        "--gpus",
        type=int,
        metavar="K",
        help="number of GPUs (default: 1, or all "
        "detected); DDP keeps a full copy per GPU, so memory is per GPU",
    )


# choices.Objective's values (flags import argparse alone: --help stays fast); a test
# holds the two equal.
OBJECTIVES = ("sft", "dpo", "orpo", "kto", "cpt", "reward", "grpo", "rloo")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the run (each flag is a shortcut for one --set)")
    group.add_argument("--method", choices=["full", "lora", "qlora"], help="method.adapter")
    group.add_argument(
        "--objective",
        choices=OBJECTIVES,
        help="method.objective (dpo/orpo run chosen and rejected together; grpo/rloo "
        "generate rl.num_generations completions per prompt)",
    )
    group.add_argument("--bits", type=int, choices=[4, 8], help="method.bits for qlora")
    group.add_argument(
        "--double-quant",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="method.bnb_4bit_use_double_quant",
    )
    group.add_argument("--lora-r", metavar="R", help="lora.r")
    group.add_argument(
        "--lora-target-modules",
        metavar="MODULES",
        help="lora.target_modules: all-linear or q_proj,v_proj,...",
    )
    group.add_argument("--lora-dropout", metavar="P", help="lora.lora_dropout")
    group.add_argument("--batch-size", metavar="B", help="training.per_device_train_batch_size")
    group.add_argument("--max-length", metavar="S", help="training.max_length (tokens)")
    group.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="training.gradient_checkpointing",
    )
    group.add_argument(
        "--optim",
        metavar="NAME",
        help="training.optim, e.g. adamw_torch, adamw_8bit, paged_adamw_8bit, adafactor",
    )
    group.add_argument(
        "--precision", choices=["bf16", "fp16", "fp32"], help="training.bf16 / training.fp16"
    )
    group.add_argument(
        "--attn",
        choices=["eager", "sdpa", "flash_attention_2"],
        help="training.attn_implementation",
    )
    group.add_argument(
        "--loss",
        choices=["full", "chunked", "liger"],
        help="the loss's memory: chunked is trl's fused LM head (DPO and KTO, and SFT with "
        "long batches); full holds every logit (ORPO, short SFT batches); liger is Liger's "
        "fused cross-entropy (SFT with training.use_liger_kernel on a GPU)",
    )


def add_runs_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default="runs", metavar="DIR", help="runs root (default: runs)")


def add_machine_flags(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """--nodes / --node-rank / --master: this machine's part of a run over several."""
    group = parser.add_argument_group(
        "several machines (the same three flags on each; the runs root on shared storage)"
    )
    group.add_argument(
        "--nodes", dest=f"{prefix}nodes", type=int, metavar="K", help="machines the run spans"
    )
    group.add_argument(
        "--node-rank",
        dest=f"{prefix}node_rank",
        type=int,
        metavar="R",
        help="this machine: 0 on the one --master names, then 1..K-1",
    )
    group.add_argument(
        "--master",
        dest=f"{prefix}master",
        metavar="HOST[:PORT]",
        help="machine 0's address as the others reach it (port default 29500), where "
        "torchrun's c10d rendezvous meets",
    )
