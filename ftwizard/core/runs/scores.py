"""What ``ftwizard eval`` leaves in a run folder, typed: ``eval.json`` (answers scored
against references, base beside fine-tuned) and ``harness.json`` (lm-evaluation-harness
tasks before and after). The card, ``runs`` and ``compare`` read them from here."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ftwizard.core.errors import UserError
from ftwizard.core.files import read_small_text
from ftwizard.core.runs.folder import RunFolder, write_atomic
from ftwizard.core.runs.stages import result_of

EVAL_FILE = "eval.json"
HARNESS_FILE = "harness.json"
SCORE_FILE_BYTES = 32 * 1024 * 1024  # a few thousand scored answers with their text


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Interval(Record):
    value: float
    low: float
    high: float


class ModelScores(Record):
    label: str
    """"base" or "tuned"."""
    rouge_l: float
    """Mean ROUGE-L F1 over the answers, 0-1."""
    bleu: float
    """Corpus BLEU, 0-100."""
    chrf: float
    """Corpus chrF, 0-100."""
    exact_match: float
    """Share of answers equal to the reference after normalisation, 0-1."""
    loss: float | None
    """Mean loss per reference token; None when not measured."""
    perplexity: float | None


class ExampleScore(Record):
    row: int
    prompt: str
    reference: str
    answers: dict[str, str]
    """By model label."""
    rouge_l: dict[str, float]
    exact_match: dict[str, float]
    loss: dict[str, float]


class EvalReport(Record):
    data: str
    """What the answers were scored on: "validation split of FILE" or a file."""
    rows: int
    device: str
    models: list[ModelScores]
    rouge_l_change: Interval
    """Fine-tuned minus base ROUGE-L, per example, with its 95 % interval."""
    exact_match_change: Interval
    examples: list[ExampleScore]
    """Biggest ROUGE-L regressions first."""
    created: float

    def scores(self, label: str) -> ModelScores:
        return next(m for m in self.models if m.label == label)


class TaskScore(Record):
    task: str
    metric: str
    base: float
    base_stderr: float | None
    tuned: float
    tuned_stderr: float | None
    samples: int

    @property
    def forgot(self) -> bool:
        """The fine-tuned score is lower than the base's by more than the noise of the
        two (1.96 times the standard error of the difference)."""
        spread = ((self.base_stderr or 0.0) ** 2 + (self.tuned_stderr or 0.0) ** 2) ** 0.5
        return bool(self.base - self.tuned > 1.96 * spread)


class HarnessReport(Record):
    scores: list[TaskScore]
    limit: int | None
    device: str
    created: float


def save_eval(run: RunFolder, report: EvalReport) -> None:
    write_atomic(run.path / EVAL_FILE, report.model_dump_json(indent=1))  # 0600: prompts


def save_harness(run: RunFolder, report: HarnessReport) -> None:
    write_atomic(run.path / HARNESS_FILE, report.model_dump_json(indent=1))


R = TypeVar("R", EvalReport, HarnessReport)


def _read(run: RunFolder, name: str, kind: type[R], what: str, command: str) -> R | None:
    """``name`` in the run folder as ``kind``; None if absent, a UserError if damaged."""
    path = run.path / name
    if not path.exists():
        return None
    try:
        return kind.model_validate_json(read_small_text(path, name, SCORE_FILE_BYTES))
    except ValidationError as error:
        raise UserError(
            f"{path}: not {what} ({error.errors()[0]['msg']}).",
            hint=f"Run `{command}` again to write it anew.",
        ) from None


def read_eval(run: RunFolder) -> EvalReport | None:
    """The run's last eval, None if it has none; a damaged file is a UserError."""
    return _read(run, EVAL_FILE, EvalReport, "an eval report", "ftwizard eval")


def read_harness(run: RunFolder) -> HarnessReport | None:
    return _read(run, HARNESS_FILE, HarnessReport, "a harness report", "ftwizard eval --tasks")


def score_words(run: RunFolder) -> str:
    """A run's scores in a few characters for the ``runs`` table: ROUGE-L base→tuned,
    or "" when it has not been evaluated. A run in stages shows its result's."""
    try:
        result = result_of(run)
    except UserError:
        return ""  # a run in stages with no finished stage yet
    try:
        report = read_eval(result)
    except UserError:
        return "damaged"
    if report is None:
        return ""
    labels = [m.label for m in report.models]
    if labels[:2] != ["base", "tuned"]:
        return ""
    return f"R-L {report.scores('base').rouge_l:.2f}→{report.scores('tuned').rouge_l:.2f}"
