"""What crosses between ``ftwizard eval`` / ``judge`` and the process that holds the
models (``trainer/evaluate.py``), one type each.

The request goes in on stdin; the process prints a :class:`Progress` line per answer
and ends with one reply line (:class:`AnswersReply` or :class:`HarnessReply`).
"""

from __future__ import annotations

from typing import Literal

from ftwizard.core.runs.scores import TaskScore
from ftwizard.core.trainer_calls import Message

Which = Literal["base", "tuned"]


class EvalExample(Message):
    prompt: list[dict[str, str]]
    """The conversation up to the answer, ending with a user turn."""
    reference: str
    """The answer the data gives: what the generated one is scored against."""
    row: int
    """Its row in the data file, counted from 0 (as ``ftwizard data --example N``)."""


class ModelRef(Message):
    run: str
    """The run folder."""
    which: Which
    """The model it started from, or its result."""
    label: str
    """How reports name it: "base", "tuned" or a run's name."""


class AnswersRequest(Message):
    examples: list[EvalExample]
    models: list[ModelRef]
    max_new_tokens: int = 64
    loss: bool = True
    """Also the loss of each reference under each model (for eval, not for judging)."""


class Progress(Message):
    progress: Literal[True] = True
    label: str
    done: int
    total: int


class ModelAnswers(Message):
    label: str
    answers: list[str]
    nll: list[float]
    """Per example: the mean negative log-likelihood of the reference's tokens."""
    tokens: list[int]
    """Per example: how many reference tokens the loss is over."""


class AnswersReply(Message):
    models: list[ModelAnswers]
    device: str


class HarnessRequest(Message):
    run: str
    tasks: list[str]
    limit: int | None = None
    include_path: str | None = None
    """A folder of the harness's task YAML files, for tasks of one's own."""
    builtin_tasks: dict[str, str] = {}
    """Tasks ftwizard ships, by name: their data file (read offline)."""


class HarnessReply(Message):
    scores: list[TaskScore]
    device: str


class JudgeItem(Message):
    conversation: list[dict[str, str]]
    """The judge's own prompt (``model_judge.judge_prompt``), ending with a user turn."""


class JudgeRequest(Message):
    judge_run: str | None = None
    """A run folder: its result judges."""
    judge_model: str | None = None
    """Otherwise a model: a built-in name, a local folder or a Hub id in the cache."""
    items: list[JudgeItem]


class JudgeReply(Message):
    prefers_a: list[float]
    """Per item: the judge's probability that answer A is the better one."""
    device: str
