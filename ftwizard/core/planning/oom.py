"""What to change after running out of memory, ranked by what the estimator says it saves."""

from __future__ import annotations

from dataclasses import dataclass

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import with_overrides
from ftwizard.core.errors import ConfigError
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.estimator import estimate


@dataclass(frozen=True)
class Advice:
    text: str
    overrides: list[str]
    """``section.key=value`` settings that apply it (``resume --apply-oom-advice``)."""
    saves_gib: float


def _candidates(config: RunConfig, p95_tokens: int | None) -> list[tuple[str, list[str]]]:
    t = config.training
    ideas: list[tuple[str, list[str]]] = []
    if t.per_device_train_batch_size > 1:
        micro, accumulation = t.per_device_train_batch_size // 2, t.gradient_accumulation_steps * 2
        ideas.append(
            (
                f"halve the micro-batch to {micro} and double accumulation to "
                f"{accumulation} (the effective batch stays {config.effective_batch_size})",
                [
                    f"training.per_device_train_batch_size={micro}",
                    f"training.gradient_accumulation_steps={accumulation}",
                ],
            )
        )
    if not t.gradient_checkpointing:
        ideas.append(("turn gradient checkpointing on", ["training.gradient_checkpointing=true"]))
    target = p95_tokens if p95_tokens and p95_tokens < t.max_length else t.max_length // 2
    target = max(128, -(-target // 128) * 128)
    if target < t.max_length:
        why = "the data's p95" if p95_tokens and p95_tokens < t.max_length else "half"
        ideas.append((f"cut max_length to {target} ({why})", [f"training.max_length={target}"]))
    if config.method.adapter == "lora":
        ideas.append(("use QLoRA (a 4-bit base)", ["method.adapter=qlora"]))
    return ideas + _online_rl_candidates(config)


def _online_rl_candidates(config: RunConfig) -> list[tuple[str, list[str]]]:
    """GRPO/RLOO: shorter completions, and smaller groups (with the micro-batch, so the
    generation batch shrinks: the group alone only trades prompts for completions)."""
    if config.method.objective not in ONLINE_RL:
        return []
    rl, t = config.rl, config.training
    ideas: list[tuple[str, list[str]]] = []
    if rl.max_completion_length >= 64:
        shorter = rl.max_completion_length // 2
        ideas.append(
            (
                f"halve the completions to {shorter} tokens (rl.max_completion_length)",
                [f"rl.max_completion_length={shorter}"],
            )
        )
    if rl.num_generations >= 4 and t.per_device_train_batch_size >= 2:
        group, micro = rl.num_generations // 2, t.per_device_train_batch_size // 2
        ideas.append(
            (
                f"generate {group} completions per prompt and train {micro} at a time",
                [f"rl.num_generations={group}", f"training.per_device_train_batch_size={micro}"],
            )
        )
    return ideas


def oom_advice(facts: ModelFacts, config: RunConfig, p95_tokens: int | None = None) -> list[Advice]:
    """Concrete changes, the largest saving first; nothing is applied here."""
    now = estimate(facts, config).peak_allocated_gib
    advice = []
    for text, overrides in _candidates(config, p95_tokens):
        try:
            changed = with_overrides(config, overrides, "the advice")
        except ConfigError:  # e.g. a batch that no longer holds whole groups
            continue
        saved = now - estimate(facts, changed).peak_allocated_gib
        advice.append(Advice(text, overrides, round(saved, 2)))
    useful = [a for a in advice if a.saves_gib > 0]
    return sorted(useful, key=lambda a: a.saves_gib, reverse=True)
