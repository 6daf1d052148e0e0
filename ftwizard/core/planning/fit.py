"""Fitting a method to a card: the fastest setting that fits, the least memory a method
can run with, and what to change when nothing fits.

Used by the recommendation engine, the wizard's model list and ``ftwizard plan
--which-gpu``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ftwizard.core.config.choices import Adapter
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.hardware.gpus import Target, verdict
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.estimator import Estimate, estimate
from ftwizard.core.planning.throughput import predicted_step

EFFECTIVE_BATCH = 16
MICRO_BATCHES = (16, 8, 4, 2, 1)


@dataclass(frozen=True)
class MethodOption:
    adapter: Adapter
    estimate: Estimate
    verdict: str
    micro_batch: int
    gradient_checkpointing: bool
    seconds_per_step: float
    """The throughput model's time for one optimizer step of this setting."""


def default_optim(adapter: Adapter, target: Target) -> str:
    """Fused AdamW (one kernel over every weight); QLoRA's usual paged 8-bit AdamW on a GPU.

    On the CPU too: plain AdamW steps each weight in turn, and a LoRA of the demo model
    has 420. Its optimizer step took 0.16 s of a 2.0 s step there, fused 0.05 s
    (2026-12-07, the trainer's step times)."""
    if target.cpu:
        return "adamw_torch_fused"
    return "paged_adamw_8bit" if adapter == "qlora" else "adamw_torch_fused"


def device_for(target: Target) -> Literal["cuda", "cpu"]:
    return "cpu" if target.cpu else "cuda"


def method_options(
    model: ModelFacts,
    config: RunConfig,
    adapter: Adapter,
    target: Target,
    data: DatasetFacts | None = None,
) -> list[MethodOption]:
    """Every setting the planner considers for ``adapter``: each micro-batch (the rest of
    the effective batch as accumulation), without and with gradient checkpointing."""
    candidate = config.with_sections(
        method={"adapter": adapter}, training={"optim": default_optim(adapter, target)}
    )
    data = data or DatasetFacts(rows=1)
    options = []
    for checkpointing in (False, True):
        for micro in MICRO_BATCHES:
            trial = candidate.with_sections(
                training={
                    "per_device_train_batch_size": micro,
                    "gradient_accumulation_steps": max(1, EFFECTIVE_BATCH // micro),
                    "gradient_checkpointing": checkpointing,
                },
            )
            result = estimate(model, trial, device=device_for(target))
            step = predicted_step(model, trial, data, target)
            options.append(
                MethodOption(
                    adapter,
                    result,
                    verdict(result.device_total_gib, target),
                    micro,
                    checkpointing,
                    step.seconds_per_step,
                )
            )
    return options


def fit_method(
    model: ModelFacts,
    config: RunConfig,
    adapter: Adapter,
    target: Target,
    data: DatasetFacts | None = None,
) -> MethodOption:
    """The fastest setting of ``adapter`` that fits, by the throughput model on this
    data's lengths: a bigger micro-batch saves host time per example but pads every
    example to its longest, and checkpointing recomputes the forward (about a third
    more). When nothing fits, the setting that needs the least memory."""
    return fastest_fitting(method_options(model, config, adapter, target, data))


def fastest_fitting(options: list[MethodOption]) -> MethodOption:
    """The fitting option of the shortest step; the least memory when none fits."""
    fitting = [option for option in options if option.verdict == "fits"]
    if fitting:  # min keeps the first of equals: the bigger micro-batch, no checkpointing
        return min(fitting, key=lambda option: option.seconds_per_step)
    return least_memory(options)


def least_memory(options: list[MethodOption]) -> MethodOption:
    """The setting that needs the least memory: what the method can run with at all."""
    return min(options, key=lambda option: option.estimate.device_total_gib)


def changes_to_fit(
    model: ModelFacts, option: MethodOption, config: RunConfig, target: Target
) -> list[str]:
    """What would bring the smallest option under budget, with the estimator's figures."""
    current = option.estimate.device_total_gib
    base = config.with_sections(
        method={"adapter": option.adapter},
        training={
            "per_device_train_batch_size": 1,
            "gradient_checkpointing": True,
            "gradient_accumulation_steps": EFFECTIVE_BATCH,
        },
    )
    ideas: list[tuple[str, RunConfig]] = []
    if option.adapter != "qlora":
        ideas.append(("use QLoRA (4-bit base)", base.with_sections(method={"adapter": "qlora"})))
    for length in sorted({base.training.max_length // 2, 512}, reverse=True):
        if 128 <= length < base.training.max_length:
            ideas.append(
                (
                    f"cut max_length to {length}",
                    base.with_sections(training={"max_length": length}),
                )
            )
    if base.training.optim not in ("paged_adamw_8bit", "adamw_8bit"):
        ideas.append(
            (
                "use the 8-bit optimizer paged_adamw_8bit",
                base.with_sections(training={"optim": "paged_adamw_8bit"}),
            )
        )
    changes = []
    for text, trial in ideas:
        total = estimate(model, trial, device=device_for(target)).device_total_gib
        changes.append(
            f"{text}: {current:.1f} -> {total:.1f} GB "
            f"({'fits' if total <= target.budget_gib else 'still too big'})"
        )
    changes.append(
        f"or a smaller model, or a card with at least "
        f"{current / 0.9:.0f} GB (`ftwizard plan --which-gpu`)"
    )
    return changes
