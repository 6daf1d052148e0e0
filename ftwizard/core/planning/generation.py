"""The memory online RL (GRPO, RLOO) needs beyond a supervised step: generating the
completions, and the models beside the one that trains.

What makes these runs fail is rarely the training step. trl generates a whole
generation batch at once (``per_device_train_batch_size x steps_per_generation``
completions, ``steps_per_generation`` being the accumulation steps) with the model's
own ``generate``: its KV cache holds every layer's keys and values for each prompt and
completion token, in the compute dtype. The reference model (``beta > 0`` on a full
fine-tune: with an adapter the reference is the model with its adapter off) and a
reward model's weights stay loaded throughout.
"""

from __future__ import annotations

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.models.facts import ModelFacts

# The prefill's largest transients per prompt token, in the compute dtype: the
# attention's query/output and the MLP's gate, up and product (4h + 3i).
PREFILL_H, PREFILL_I = 4, 3
# Sampling holds the last position's logits in fp32 and their softmax.
SAMPLING_LOGITS_BYTES = 8


def generated_sequences(config: RunConfig) -> int:
    """Completions one process generates at once (trl's generation batch per process)."""
    t = config.training
    return t.per_device_train_batch_size * t.gradient_accumulation_steps


def kv_cache_bytes(facts: ModelFacts, config: RunConfig, dtype_bytes: int) -> float:
    """Keys and values of every layer for every prompt and completion token."""
    tokens = config.training.max_length + config.rl.max_completion_length
    per_token = 2 * facts.num_layers * facts.num_key_value_heads * facts.head_dim * dtype_bytes
    return float(generated_sequences(config) * tokens * per_token)


def generation_bytes(facts: ModelFacts, config: RunConfig, dtype_bytes: int) -> float:
    """The generation phase's memory over the resident weights: the KV cache, the
    prefill's transients and the sampled position's logits; 0 for other objectives."""
    if config.method.objective not in ONLINE_RL:
        return 0.0
    sequences = generated_sequences(config)
    prefill = (
        sequences
        * config.training.max_length
        * (PREFILL_H * facts.hidden_size + PREFILL_I * facts.intermediate_size)
        * dtype_bytes
    )
    sampling = sequences * facts.vocab_size * SAMPLING_LOGITS_BYTES
    return kv_cache_bytes(facts, config, dtype_bytes) + prefill + sampling


def other_models_bytes(
    facts: ModelFacts, config: RunConfig, dtype_bytes: int, notes: list[str]
) -> tuple[float, float]:
    """(a frozen reference model, a reward model): weights held beside the trained one."""
    method = config.method
    reference = 0.0
    if method.adapter == "full" and (
        method.objective in ("dpo", "kto") or (method.objective in ONLINE_RL and method.beta > 0)
    ):
        reference = float(facts.params_total * dtype_bytes)
        notes.append(
            f"full-parameter {method.objective.upper()} keeps a second, frozen copy as the "
            "reference model"
        )
    reward = 0.0
    if method.objective in ONLINE_RL and config.rl.reward_model_run:
        # The reward model is assumed to share the base's size (it is usually trained from it).
        reward = float(facts.params_total * dtype_bytes)
        notes.append("the reward model's weights stay loaded (counted at the base's size)")
    return reference, reward
