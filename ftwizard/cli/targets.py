"""From command-line flags to the hardware a plan is made for."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import (
    Target,
    find_gpu,
    target_from_report,
    target_from_size,
    target_from_spec,
)
from ftwizard.core.hardware.probe import probe


def resolve_target(args: argparse.Namespace) -> Target:
    """--gpu NAME, --vram-gb N or the detected GPUs; --gpus K sets the count (per
    machine), --nodes M the machines the plan may use."""
    machines = getattr(args, "nodes", None)
    if machines is None:
        return _one_machine(args)
    if machines < 1:
        raise UserError(f"--nodes {machines}: give a number of machines of at least 1.")
    target = _one_machine(args)
    if target.cpu:
        raise UserError(
            f"--nodes {machines}: there is no GPU here to plan several machines of.",
            hint="Name each machine's cards, e.g. --gpu H100 --gpus 8 --nodes 4.",
        )
    return replace(target, machines=machines)


def _one_machine(args: argparse.Namespace) -> Target:
    count = args.gpus
    if count is not None and count < 1:
        raise UserError(f"--gpus {count}: give a number of GPUs of at least 1.")
    if args.no_bf16 and args.vram_gb is None:
        raise UserError("--no-bf16 goes with --vram-gb N (table cards know their bf16 support).")
    if args.gpu:
        return target_from_spec(find_gpu(args.gpu), count or 1)
    if args.vram_gb is not None:
        return target_from_size(args.vram_gb, bf16=not args.no_bf16, count=count or 1)
    detected = target_from_report(probe())
    if count is not None and not detected.cpu:
        if count > detected.count:
            raise UserError(
                f"--gpus {count}: this machine has {detected.count} visible GPU(s).",
                hint="Plan for hardware you do not have with --gpu NAME or --vram-gb N.",
            )
        detected = replace(detected, count=count)
    return detected
