"""People judging two models' answers, A against B, as the guides' human evaluation.

Both models answer the same prompts (``scoring.ask_models``); each pair is shown as A
and B in an order drawn by seed, so neither model is always on the left. A decision
names the winning model (or a tie) with optional marks: the better answer was more
helpful, more harmless, more honest. Every judgment is kept in ``RUN/judgments.jsonl``;
every decided one is appended to the pairs file as ``prompt``/``chosen``/``rejected`` in
the messages layout, which ``ftwizard data`` reads as preference pairs and DPO trains on.
The wizard's pane and ``ftwizard judge`` both drive a :class:`JudgingSession`.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ftwizard.core.errors import UserError
from ftwizard.core.evaluation.examples import judging_examples
from ftwizard.core.evaluation.intervals import Estimate, wilson
from ftwizard.core.evaluation.messages import EvalExample, ModelRef
from ftwizard.core.evaluation.scoring import OnProgress, ask_models
from ftwizard.core.files import load_json
from ftwizard.core.runs.folder import RunFolder, open_private

JUDGMENTS_FILE = "judgments.jsonl"
PAIRS_FILE = "judged-pairs.jsonl"
Mark = Literal["helpful", "harmless", "honest"]
MARK_KEYS: dict[str, Mark] = {"h": "helpful", "r": "harmless", "o": "honest"}
Key = Literal["a", "b", "t"]


class Judgment(BaseModel):
    """One line of ``judgments.jsonl``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: list[dict[str, str]]
    shown_a: str
    """The label of the model whose answer was A."""
    shown_b: str
    winner: str | None
    """The winning model's label; None for a tie."""
    marks: list[Mark] = []
    judge: str = "person"
    """"person", or "model:NAME" for a model judge."""
    time: float


@dataclass(frozen=True)
class Item:
    """One prompt as the judge sees it."""

    number: int
    prompt: list[dict[str, str]]
    a: str
    b: str
    a_label: str
    b_label: str


@dataclass(frozen=True)
class Tally:
    first: str
    second: str
    wins: int
    losses: int
    ties: int

    @property
    def judged(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> Estimate:
        """``first``'s wins, ties counted as half, over the judged pairs, with its
        Wilson 95 % interval."""
        return wilson(self.wins + self.ties / 2, self.judged)


@dataclass
class JudgingSession:
    """Two models' answers to the same prompts, judged one by one."""

    examples: list[EvalExample]
    first: str
    """The label of the model under test (RUN's result)."""
    second: str
    first_answers: list[str]
    second_answers: list[str]
    judgments_path: Path
    pairs_path: Path
    seed: int = 0
    where: str = ""
    """Where the prompts come from, in words."""
    judge: str = "person"
    decided: list[Judgment] = field(default_factory=list)

    def __post_init__(self) -> None:
        draw = random.Random(self.seed)
        self._first_is_a = [draw.random() < 0.5 for _ in self.examples]

    def item(self, number: int) -> Item:
        example = self.examples[number]
        answers = (self.first_answers[number], self.second_answers[number])
        labels = (self.first, self.second)
        if not self._first_is_a[number]:
            answers, labels = answers[::-1], labels[::-1]
        return Item(number, example.prompt, answers[0], answers[1], labels[0], labels[1])

    def decide(self, number: int, key: Key, marks: set[Mark] | None = None) -> Judgment:
        """Keep the decision on item ``number``; a decided one also as a pair."""
        item = self.item(number)
        winner = {"a": item.a_label, "b": item.b_label, "t": None}[key]
        judgment = Judgment(
            prompt=item.prompt,
            shown_a=item.a_label,
            shown_b=item.b_label,
            winner=winner,
            marks=sorted(marks or set()),
            judge=self.judge,
            time=time.time(),
        )
        with open_private(self.judgments_path) as handle:
            handle.write(judgment.model_dump_json() + "\n")
        if winner is not None:
            chosen, rejected = (item.a, item.b) if key == "a" else (item.b, item.a)
            append_pair(self.pairs_path, item.prompt, chosen, rejected)
        self.decided.append(judgment)
        return judgment

    def decide_winner(
        self, number: int, winner: str | None, marks: set[Mark] | None = None
    ) -> Judgment:
        """``decide`` by the winning model's label (None: a tie), whatever order it showed in."""
        item = self.item(number)
        key: Key = "t" if winner is None else "a" if winner == item.a_label else "b"
        return self.decide(number, key, marks)

    def tally(self) -> Tally:
        return tally(self.decided, self.first, self.second)


def append_pair(path: Path, prompt: list[dict[str, str]], chosen: str, rejected: str) -> None:
    """One preference pair in the messages layout trl's DPO reads."""
    row = {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(path) as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def tally(judgments: list[Judgment], first: str, second: str) -> Tally:
    mine = [j for j in judgments if {j.shown_a, j.shown_b} == {first, second}]
    return Tally(
        first,
        second,
        wins=sum(j.winner == first for j in mine),
        losses=sum(j.winner == second for j in mine),
        ties=sum(j.winner is None for j in mine),
    )


def read_judgments(path: Path) -> list[Judgment]:
    """Every judgment kept so far; a damaged line is skipped, not fatal."""
    if not path.exists():
        return []
    found = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                found.append(Judgment.model_validate(load_json(line)))
            except ValueError:
                continue
    return found


def agreement(model: list[Judgment], people: list[Judgment]) -> tuple[int, int]:
    """(same verdicts, prompts both judged): how often a model judge agrees with people
    on the same prompts and the same two models."""

    def key(j: Judgment) -> str:
        return json.dumps([j.prompt, sorted([j.shown_a, j.shown_b])])

    by_person = {key(j): j.winner for j in people}
    shared = [(j.winner, by_person[key(j)]) for j in model if key(j) in by_person]
    return sum(a == b for a, b in shared), len(shared)


def check_pairs_path(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise UserError(f"--pairs {path}: not a regular file.", hint="Give a .jsonl file path.")


def prepare_session(
    run: RunFolder,
    other: RunFolder | None,
    on_progress: OnProgress,
    data_path: str | None = None,
    limit: int | None = None,
    max_new_tokens: int = 96,
    pairs_path: Path | None = None,
    seed: int = 0,
) -> JudgingSession:
    """Both models' answers to the run's validation prompts (or ``data_path``'s): the
    run's result against ``other``'s, or against the model it started from."""
    where, examples = judging_examples(run, data_path, limit)
    if other is None:
        first, second = "tuned", "base"
        refs = [
            ModelRef(run=str(run.path), which="base", label=second),  # loaded once, then
            ModelRef(run=str(run.path), which="tuned", label=first),  # the adapter on it
        ]
    else:
        first, second = run.name, other.name
        if first == second:
            first, second = str(run.path), str(other.path)
        refs = [
            ModelRef(run=str(run.path), which="tuned", label=first),
            ModelRef(run=str(other.path), which="tuned", label=second),
        ]
    reply = ask_models(examples, refs, on_progress, max_new_tokens, loss=False)
    answers = {m.label: m.answers for m in reply.models}
    return JudgingSession(
        examples=examples,
        first=first,
        second=second,
        first_answers=answers[first],
        second_answers=answers[second],
        judgments_path=run.path / JUDGMENTS_FILE,
        pairs_path=pairs_path or run.path / PAIRS_FILE,
        seed=seed,
        where=where,
    )
