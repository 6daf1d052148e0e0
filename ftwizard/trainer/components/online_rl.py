"""Online RL (GRPO, RLOO) and reward models: what ``build.py`` needs beyond the
supervised trainers.

trl samples ``rl.num_generations`` completions per prompt, scores each with the reward
functions (``rewards.py``) and a reward-model run's scalar head, and trains on the
group-relative advantages. The run folder gets the latest group (``completions.json``)
at each logged step; the numbers go to the events under trl's names.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.runs.completions import (
    SHOWN_CHARACTERS,
    LatestCompletions,
    ScoredCompletion,
    write_completions,
)
from ftwizard.core.runs.folder import RunFolder, find_run, runs_root
from ftwizard.trainer.components.loading import (
    compute_dtype,
    from_pretrained,
    refuse_pickled_weights,
    reward_head,
    starting_model,
)
from ftwizard.trainer.components.rewards import completion_text, reward_functions

REWARD_MODEL_NAME = "reward_model"  # trl logs rewards/<this>/mean


def prompt_text(prompt: Any) -> str:
    """The person's words of a prompt: a conversation's last user turn, or the text."""
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return completion_text(users[-1:] or prompt)
    return str(prompt)


class RecordsCompletions:
    """After each log, the latest prompt's group of completions and their rewards go to
    ``completions.json`` (trl keeps the latest generation batch in ``_logs``)."""

    ftwizard_run: RunFolder

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log(logs, start_time)  # type: ignore[misc]
        if not self.is_world_process_zero():  # type: ignore[attr-defined]
            return
        latest = self._latest_group()
        if latest is not None:
            write_completions(self.ftwizard_run, latest)

    def _latest_group(self) -> LatestCompletions | None:
        kept = self._logs  # type: ignore[attr-defined]
        group = self.num_generations  # type: ignore[attr-defined]
        prompts, completions = list(kept["prompt"])[-group:], list(kept["completion"])[-group:]
        if not prompts:
            return None
        rewards = {name: list(values)[-group:] for name, values in kept["rewards"].items()}
        advantages = list(kept["advantages"])[-group:]
        scored = []
        for index, completion in enumerate(completions):
            scored.append(
                ScoredCompletion(
                    text=completion_text(completion)[:SHOWN_CHARACTERS],
                    rewards={
                        name: _number(values[index]) if index < len(values) else None
                        for name, values in rewards.items()
                    },
                    advantage=_number(advantages[index]) if index < len(advantages) else None,
                )
            )
        return LatestCompletions(
            step=self.state.global_step,  # type: ignore[attr-defined]
            prompt=prompt_text(prompts[-1])[:SHOWN_CHARACTERS],
            completions=tuple(scored),
        )


def _number(value: Any) -> float | None:
    number = float(value)
    return None if number != number else round(number, 4)  # NaN: the function skipped it


def load_reward_model(name: str, root: Path, dtype: Any) -> tuple[Any, Any]:
    """A finished reward-model run's model (its adapter and score head folded in) and
    the tokenizer it trained with, in eval mode."""
    from transformers import AutoTokenizer

    run = find_run(name, root)
    final = str(run.final_dir)
    if (run.final_dir / "adapter_config.json").exists():
        from peft import PeftModel

        refuse_pickled_weights(final, run.name)
        base = starting_model(run.read_config(), dtype=dtype, **reward_head())
        model = PeftModel.from_pretrained(base, final).merge_and_unload()
    else:
        model = from_pretrained(final, None, run.name, dtype=dtype, **reward_head())
    tokenizer = AutoTokenizer.from_pretrained(final)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config._name_or_path = REWARD_MODEL_NAME
    return model.eval(), tokenizer


def online_rl_inputs(config: RunConfig) -> dict[str, Any]:
    """The ``reward_funcs`` and ``reward_processing_classes`` of trl's GRPO/RLOO trainer."""
    functions: list[Any] = list(reward_functions(config, Path.cwd()))
    processing: list[Any] = [None] * len(functions)
    if config.rl.reward_model_run:
        model, tokenizer = load_reward_model(
            config.rl.reward_model_run, runs_root(config), compute_dtype(config)
        )
        functions.append(model)
        processing.append(tokenizer)
    return {"reward_funcs": functions, "reward_processing_classes": processing}


@contextlib.contextmanager
def frozen_reference(model: Any, needed: bool) -> Iterator[None]:
    """While trl builds a GRPO/RLOO trainer: its reference model is a frozen copy of the
    model as loaded. Left to trl, a full fine-tune's reference is loaded again from the
    config's path (the bare base for a run from another run's result, nothing for a GGUF
    base). With an adapter the reference is the model with its adapter off: no copy."""
    if not needed:
        yield
        return
    import trl.trainer.grpo_trainer as grpo
    import trl.trainer.rloo_trainer as rloo

    def reference(*_: Any, **__: Any) -> Any:
        return copy.deepcopy(model).eval()

    saved = grpo.create_model_from_path, rloo.create_model_from_path
    grpo.create_model_from_path = rloo.create_model_from_path = reference
    try:
        yield
    finally:
        grpo.create_model_from_path, rloo.create_model_from_path = saved
