"""How long online RL spends writing its completions, per optimizer step.

GRPO and RLOO generate once per optimizer step (trl's ``steps_per_generation`` is the
accumulation steps): a prefill of every prompt, then ``max_completion_length`` decoding
steps of the whole generation batch (the slow side: every completion full length; a
completion that ends early still waits for the longest). A decoding step reads every
weight once and does little arithmetic, so its time is the larger of the weights over
the memory bandwidth and the matmuls at the device's rate, plus the host's own time per
layer (transformers' ``generate`` runs Python and launches kernels for every token).
"""

from __future__ import annotations

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.generation import generated_sequences

# Host time per decoder layer per generated token. CPU: a guess, then checked on the
# GRPO demo (bench/grpo_demo.py: SmolLM2-135M, 16 completions of 24 tokens a step on the
# 2-core VM, 2026-12-06): 30 steps planned at 433 s, trained in 488 s. GPU: an
# assumption until a lent card measures it (transformers' generate takes 20-30 ms a
# token for ~30-layer models, with the GPU mostly idle).
DECODE_FLOOR_MS_PER_LAYER = {"cpu": 0.55, "cuda": 0.8}
DECODE_MATMUL_SHARE = 0.3  # thin matmuls of a few rows reach a small share of the peak


def weight_bytes(model: ModelFacts, config: RunConfig) -> float:
    """The weights as loaded (4-bit or 8-bit linear layers for QLoRA): what a decoding
    step reads, and what FSDP gathers across machines."""
    from ftwizard.core.planning.estimator import DTYPE_BYTES, load_dtype

    dtype = DTYPE_BYTES[load_dtype(config)]
    if config.method.adapter == "qlora":
        linear = model.params_linear * (0.5 if config.method.bits == 4 else 1.0)
        return linear + (model.params_total - model.params_linear) * dtype
    return float(model.params_total * dtype)


def generation_seconds(
    model: ModelFacts,
    config: RunConfig,
    prompt_tokens: float,
    peak_flops: float,
    bandwidth: float,
    cpu: bool,
) -> float:
    """Seconds one optimizer step spends generating; 0 for objectives that do not."""
    if config.method.objective not in ONLINE_RL:
        return 0.0
    sequences = generated_sequences(config)
    per_token_flops = 2 * (model.params_linear + model.vocab_size * model.hidden_size)
    prefill = sequences * prompt_tokens * per_token_flops / (peak_flops * DECODE_MATMUL_SHARE)
    compute = sequences * per_token_flops / (peak_flops * DECODE_MATMUL_SHARE)
    memory = 0.0 if cpu else weight_bytes(model, config) / bandwidth
    floor = model.num_layers * DECODE_FLOOR_MS_PER_LAYER["cpu" if cpu else "cuda"] / 1000
    return prefill + config.rl.max_completion_length * (max(compute, memory) + floor)
