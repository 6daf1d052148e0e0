"""Liger's Triton kernels: RMSNorm, SwiGLU, RoPE and the fused linear cross-entropy.

On a GPU a small model's step is mostly the host launching kernels (``bench/data/
gpu_speed_h200.json``: SmolLM2-135M LoRA took 0.29 s a step at 512 tokens and at 8,192);
Liger fuses each of those layers into one kernel, and its cross-entropy computes the
loss and its gradient from the hidden states in chunks, so the logits (tokens x
vocabulary, in fp32) are never built. The trainer applies them to the loaded model
(``trainer/components/loading.apply_kernels``) and takes the loss from the model
(``build.ModelOwnLoss``): trl's own fused head would switch Liger's cross-entropy off.
liger-kernel needs Triton and CUDA: ``make`` installs it where it finds an NVIDIA GPU.
"""

from __future__ import annotations

import importlib.util

from ftwizard.core.config.choices import Adapter
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import Target
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.plan import Decision

# The text models of liger-kernel 0.8.5's ``MODEL_TYPE_TO_APPLY_LIGER_FN``.
LIGER_FAMILIES = frozenset(
    {
        "deepseek_v2", "deepseek_v3", "exaone4", "falcon_h1", "gemma", "gemma2",
        "gemma3_text", "glm4", "gpt_oss", "granite", "hunyuan_v1_dense", "llama",
        "ministral", "mistral", "mixtral", "nemotron", "olmo2", "olmo3", "phi3", "qwen2",
        "qwen3", "qwen3_moe", "smollm3",
    }
)  # fmt: skip
# The objectives whose loss is the model's own (Liger's cross-entropy replaces it);
# the preference and RL trainers compute their losses from log-probabilities.
LIGER_OBJECTIVES = ("sft", "cpt")
INSTALL_HINT = "make installs it where it finds an NVIDIA GPU (pip install liger-kernel)"


def liger_installed() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def liger_problem(config: RunConfig, model_type: str, cpu: bool, here: bool = True) -> str | None:
    """Why Liger's kernels cannot train this run, in words; None when they can.
    ``here``: the run trains on this machine, so liger-kernel must be installed here (a
    plan for a card named with ``--gpu`` trains elsewhere, where make installs it)."""
    if cpu:
        return "they run on NVIDIA GPUs only (Triton), and this run trains on the CPU"
    if config.method.objective not in LIGER_OBJECTIVES:
        objective = config.method.objective
        return f"{objective} computes its loss from log-probabilities, not the model's"
    if model_type not in LIGER_FAMILIES:
        return f"liger-kernel has no kernels for the {model_type} family"
    if here and not liger_installed():
        return f"liger-kernel is not installed: {INSTALL_HINT}"
    return None


def check_kernels(config: RunConfig, facts: ModelFacts, target: Target) -> None:
    """Refuse a launch that asks for Liger's kernels where they cannot run."""
    if not config.training.use_liger_kernel:
        return
    problem = liger_problem(config, facts.model_type, target.cpu)
    if problem:
        raise UserError(
            f"training.use_liger_kernel is on, but {problem}.",
            hint="Set training.use_liger_kernel=false (the model's own layers train the same "
            "weights, with more memory and time).",
        )


def decide_kernels(
    config: RunConfig, model: ModelFacts, target: Target, base: RunConfig, adapter: Adapter
) -> tuple[RunConfig, Decision | None]:
    """Liger's kernels for an adapter wherever they can run; said either way on a GPU.
    What the person set is kept."""
    if target.cpu or "use_liger_kernel" in base.training.model_fields_set:
        return config, None
    here = target.source == "detected"
    problem = liger_problem(config, model.model_type, target.cpu, here)
    if problem is None and adapter == "full":
        # Liger's loss computes the head's gradient in the forward: a full fine-tune then
        # holds it through the whole backward (a 70B on 16 H100s needed a third machine).
        problem = "a full fine-tune would hold the head's gradient from the forward on"
    config = config.with_sections(training={"use_liger_kernel": problem is None})
    if problem:
        return config, Decision("Liger kernels", "off", problem)
    elsewhere = "" if here else f"; the machine that trains needs liger-kernel ({INSTALL_HINT})"
    return config, Decision(
        "Liger kernels",
        "on",
        "RMSNorm, SwiGLU, RoPE and the loss as fused Triton kernels: fewer kernel launches "
        f"a step, and the loss never builds the logits{elsewhere}",
    )
