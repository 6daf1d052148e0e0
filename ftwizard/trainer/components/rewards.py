"""The reward functions of online RL (``rl.reward_funcs``), in trl's calling convention.

trl calls each with the prompts, the completions (conversations: one assistant message
each), their token ids and every other dataset column by name (``answer``), and logs
``rewards/<function name>/mean`` and ``/std``; so each function here is named as the
person wrote it in the configuration.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ftwizard.core.config.rl import OWN_REWARD
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.evaluation.metrics import exact_match

RewardFunc = Callable[..., list[float | None]]
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
# The length penalty starts this share of max_completion_length before the end (DAPO's
# soft overlong punishment, as trl writes it).
LENGTH_CACHE_SHARE = 0.25


def completion_text(completion: Any) -> str:
    """A completion as text: trl passes a conversation's as ``[{role, content}]``."""
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    return str(completion)


def final_answer(text: str) -> str:
    """What the completion answers: the last ``<answer>`` tag's content; else what follows
    its last "=" (an equation's result); else the whole text."""
    tagged = _ANSWER_TAG.findall(text)
    if tagged:
        return tagged[-1].strip()
    if "=" in text:
        return text.rsplit("=", 1)[1].strip()
    return text.strip()


def _quiet_math_verify() -> None:
    # Off the main thread math-verify cannot time out and says so on every call.
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).setLevel(logging.ERROR)


def answer_reward(
    completions: Sequence[Any], answer: Sequence[Any], **_: Any
) -> list[float | None]:
    """1 when the final answer is the row's ``answer``, else 0; None (skipped by trl) for a
    row without one. Maths is compared as maths by math-verify (``0.75`` is ``3/4``);
    an answer math-verify cannot read is compared as text after SQuAD normalisation."""
    from math_verify import parse, verify

    _quiet_math_verify()
    rewards: list[float | None] = []
    for completion, gold in zip(completions, answer, strict=True):
        if gold is None or not str(gold).strip():
            rewards.append(None)
            continue
        given = final_answer(completion_text(completion))
        gold_parsed = parse(str(gold))
        if gold_parsed:
            rewards.append(float(verify(gold_parsed, parse(given))))
        else:
            rewards.append(exact_match(given, str(gold)))
    return rewards


def format_reward(pattern: str) -> RewardFunc:
    """1 when a completion matches ``pattern`` (searched, ``.`` across lines), else 0."""
    compiled = re.compile(pattern, re.DOTALL)

    def format(completions: Sequence[Any], **_: Any) -> list[float | None]:  # noqa: A001
        return [1.0 if compiled.search(completion_text(c)) else 0.0 for c in completions]

    return format


def length_reward(max_completion_length: int) -> RewardFunc:
    """0 up to the last quarter of ``max_completion_length``, then down to -1 at it."""
    from trl.rewards import get_soft_overlong_punishment

    cache = max(1, int(max_completion_length * LENGTH_CACHE_SHARE))
    punish = get_soft_overlong_punishment(max_completion_length, cache)

    def length(completion_ids: Sequence[Sequence[int]], **_: Any) -> list[float | None]:
        return list(punish(completion_ids))

    return length


def own_reward(entry: str, base: Path) -> RewardFunc:
    """``FILE.py:FUNCTION`` loaded from the file (relative to ``base``), named as written."""
    match = OWN_REWARD.fullmatch(entry)
    if match is None:
        raise UserError(f"rl.reward_funcs: {entry!r} is not FILE.py:FUNCTION.")
    path = Path(match["file"]).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise UserError(
            f"rl.reward_funcs: {entry}: no such file {path}.",
            hint="Give the path of the Python file, relative to where you launch or absolute.",
        )
    spec = importlib.util.spec_from_file_location(f"ftwizard_reward_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UserError(f"rl.reward_funcs: {entry}: cannot load {path} as Python.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    function = getattr(module, match["function"], None)
    if not callable(function):
        raise UserError(
            f"rl.reward_funcs: {entry}: {path.name} has no function {match['function']}.",
            hint="Name a function defined at the top level of the file.",
        )

    return _named(function, match["function"])


def _named(function: Callable[..., Any], name: str) -> RewardFunc:
    """``function`` under ``name``: trl logs a reward by its function's name."""

    def scored(**kwargs: Any) -> list[float | None]:
        return list(function(**kwargs))

    scored.__name__ = name
    return scored


def reward_functions(config: RunConfig, base: Path) -> list[RewardFunc]:
    """The functions of ``rl.reward_funcs``, in order (the reward model comes after)."""
    rl = config.rl
    functions: list[RewardFunc] = []
    for name in rl.reward_funcs:
        if name == "answer":
            functions.append(_named(answer_reward, "answer"))
        elif name == "format":
            functions.append(format_reward(rl.format_pattern))
        elif name == "length":
            functions.append(length_reward(rl.max_completion_length))
        else:
            functions.append(own_reward(name, base))
    return functions
