"""The ``rl`` section: how online RL (GRPO, RLOO) samples completions and scores them.

Apart from ``schema.py`` so that the schema stays one job per section. The names are
trl's where it has them (``num_generations``, ``max_completion_length``,
``temperature``, ``reward_weights``); ``method.beta`` is the KL weight.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from ftwizard.core.config.choices import BUILTIN_REWARDS
from ftwizard.core.config.parts import Section

# FILE.py:FUNCTION, the person's own reward function.
OWN_REWARD = re.compile(r"(?P<file>.+\.py):(?P<function>[A-Za-z_][A-Za-z0-9_]*)")
# Reasoning in think tags, then the answer in answer tags (DeepSeek-R1's layout).
R1_FORMAT = r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$"


class RlSection(Section):
    """Online RL (objective grpo or rloo): the completions sampled per prompt and the
    rewards that score them."""

    reward_funcs: list[str] = Field(
        ["answer", "format"],
        description="What scores a completion: answer (its final answer against the row's "
        "answer, maths by math-verify), format (rl.format_pattern), length (a penalty near "
        "max_completion_length), or FILE.py:FUNCTION, your own (needs rl.trust_reward_code).",
    )
    reward_weights: list[float] | None = Field(
        None, description="One weight per reward function (default: 1 each)."
    )
    reward_model_run: str | None = Field(
        None,
        description="A finished reward-model run (objective reward) whose score is one more "
        "reward.",
    )
    trust_reward_code: bool = Field(
        False,
        description="Run the Python files named in reward_funcs. Off unless you wrote or "
        "read them.",
    )
    format_pattern: str = Field(
        R1_FORMAT,
        min_length=1,
        description="The format reward's regular expression (searched, . matches newlines): "
        "1 when a completion matches, else 0.",
    )
    num_generations: int = Field(
        8,
        ge=2,
        le=256,
        description="Completions sampled per prompt: the group each is compared with. The "
        "batch (batch x accumulation x processes) must be a multiple of it.",
    )
    max_completion_length: int = Field(
        256, ge=1, le=131_072, description="Tokens a completion may have; longer ones are cut."
    )
    temperature: float = Field(
        1.0, gt=0, le=10, description="Sampling temperature: higher gives more varied answers."
    )

    @field_validator("reward_funcs")
    @classmethod
    def _known_rewards(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in BUILTIN_REWARDS and not OWN_REWARD.fullmatch(name):
                raise ValueError(
                    f"{name!r} is no reward function: use {', '.join(BUILTIN_REWARDS)} "
                    "or FILE.py:FUNCTION"
                )
        return value

    @field_validator("format_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression ({error})") from None
        return value

    @model_validator(mode="after")
    def _code_is_opted_in(self) -> RlSection:
        if self.own_functions() and not self.trust_reward_code:
            raise ValueError(
                f"{', '.join(self.own_functions())} runs your Python code: set "
                "rl.trust_reward_code: true to allow it"
            )
        if self.reward_weights is not None and len(self.reward_weights) != len(self.scorers()):
            raise ValueError(
                f"{len(self.reward_weights)} reward_weights for {len(self.scorers())} "
                "rewards (reward_funcs, then reward_model_run)"
            )
        return self

    def own_functions(self) -> list[str]:
        """The FILE.py:FUNCTION entries: code the person asks ftwizard to run."""
        return [name for name in self.reward_funcs if OWN_REWARD.fullmatch(name)]

    def scorers(self) -> list[str]:
        """Every reward in trl's order: the functions, then the reward model."""
        return [*self.reward_funcs, *([self.reward_model_run] if self.reward_model_run else [])]

    def code_warning(self) -> str | None:
        """What every launch says first when it will run the person's reward code."""
        own = self.own_functions()
        if not own:
            return None
        return f"rl.reward_funcs runs your Python code: {', '.join(own)}."
