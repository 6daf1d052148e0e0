"""The tables a plan starts from: methods by card and model size, the objective by
data and purpose, defaults by data size, and learning rates.

Each answer comes with its reason, shown beside the decision. ``recommend.py`` asks
these tables, then checks what they propose against the memory estimator and the
throughput model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ftwizard.core.config.choices import Adapter, Objective
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts

Purpose = Literal["domain", "chat", "prototype", "production", "alignment", "checkable"]
PURPOSES: dict[Purpose, str] = {
    "domain": "teach a field's knowledge and style (SFT + LoRA)",
    "chat": "a chat assistant (SFT first, then DPO on preference pairs)",
    "prototype": "a quick first version (SFT + QLoRA: least memory)",
    "production": "a balanced, polished model (DPO + LoRA)",
    "alignment": "prefer chosen over rejected answers (DPO/ORPO/KTO)",
    "checkable": "answers a program checks: maths, code (SFT, then GRPO)",
}
METHODS: tuple[Adapter, ...] = ("full", "lora", "qlora")


def hardware_methods(memory_gib: float, params_b: float) -> tuple[list[Adapter], str]:
    """Methods in order of preference for a card size and model size."""
    # Thresholds sit a little under the marketed sizes: an "80 GB" H100 reports 79.6 GiB.
    if memory_gib >= 75:
        return ["full", "lora", "qlora"], "80 GB+ cards can fine-tune every weight of large models"
    if memory_gib >= 22 and params_b >= 13:
        return ["lora", "qlora"], "24 GB+ cards train 13B+ models with LoRA or QLoRA"
    if memory_gib >= 15:
        return ["lora", "qlora"], "16-24 GB cards train 7B-13B models with LoRA"
    if params_b <= 7:
        return ["qlora", "lora"], "up to 8-16 GB: QLoRA trains models up to 7B"
    return ["qlora"], "small cards need QLoRA, and models above 7B rarely fit at all"


def objective_for(purpose: Purpose, data: DatasetFacts, model: ModelFacts) -> tuple[Objective, str]:
    if data.kind == "text":
        return "cpt", "raw text corpus: continued pre-training"
    if data.kind == "prompts":
        return (
            "grpo",
            "prompts with checkable answers: GRPO samples answers and rewards the right ones",
        )
    if data.kind == "kto":
        return "kto", "examples labelled good/bad without pairs: KTO"
    if data.kind == "preference":
        if model.is_chat is False:
            return (
                "orpo",
                "preference pairs on a base model: ORPO does SFT and alignment in one stage",
            )
        return "dpo", "preference pairs present: DPO"
    if purpose == "checkable":
        return "sft", "checkable tasks start with SFT on worked examples; GRPO on prompts follows"
    if purpose == "alignment":
        return "sft", "alignment needs preference pairs; with instruction data, start with SFT"
    return "sft", "instruction or chat examples: supervised fine-tuning (SFT)"


# Measured on the issue-15 job (SmolLM2-135M LoRA, 2-core AMX CPU): 80 s with
# lora_dropout 0.05, 60 s without, the final loss within 0.3%.
CPU_DROPOUT_REASON = (
    "on a CPU, dropout's random masks took a quarter of each step (measured); peft, "
    "LLaMA-Factory and Unsloth default to none"
)


def purpose_methods(purpose: Purpose, order: list[Adapter]) -> tuple[list[Adapter], str | None]:
    """Reorder the hardware's methods by what the purpose values."""
    if purpose == "prototype" and "qlora" in order:
        return [
            "qlora",
            *[m for m in order if m != "qlora"],
        ], "prototype: QLoRA uses the least memory"
    if purpose in ("domain", "production", "chat") and "lora" in order and order[0] == "full":
        return ["lora", *[m for m in order if m != "lora"]], f"{purpose}: LoRA is stable and fast"
    return order, None


@dataclass(frozen=True)
class SizeDefaults:
    label: str
    lora_r: int
    lora_dropout: float
    epochs: float
    lr_scale: float
    warmup_ratio: float
    reason: str


def size_defaults(rows: int) -> SizeDefaults:
    if rows < 1_000:
        return SizeDefaults(
            "under 1K",
            8,
            0.1,
            3,
            1.5,
            0.05,
            "under 1K examples: LoRA, more epochs and a higher learning rate "
            "(few-shot prompting may already be enough)",
        )
    if rows <= 10_000:
        return SizeDefaults(
            "1K-10K", 16, 0.05, 2, 1.0, 0.03, "1K-10K examples: SFT + LoRA, 2 epochs"
        )
    if rows <= 100_000:
        return SizeDefaults(
            "10K-100K",
            32,
            0.05,
            1,
            0.5,
            0.03,
            "over 10K examples: one epoch, a larger rank, a lower learning rate",
        )
    return SizeDefaults(
        "over 100K",
        64,
        0.05,
        1,
        0.5,
        0.01,
        "over 100K examples: one epoch, rank 64, a lower learning rate",
    )


def learning_rate(objective: Objective, adapter: Adapter, scale: float) -> float:
    if objective in ("dpo", "kto", "orpo"):
        return 5e-6
    if objective in ("grpo", "rloo"):
        # trl's GRPO default is 1e-6 for every weight; LoRA recipes (Unsloth's) use 5e-6.
        return 1e-6 if adapter == "full" else 5e-6
    base = 2e-5 if adapter == "full" else 2e-4
    return round(base * scale, 8)
