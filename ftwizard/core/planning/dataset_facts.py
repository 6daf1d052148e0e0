"""What the planner needs to know about a dataset.

The dataset reader fills these in from real files; until then a plan can be
made from a row count and the kind of data (``ftwizard plan --rows N``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ftwizard.core.data.token_stats import TokenStats
from ftwizard.core.data.validate import ReportSummary

DataKind = Literal["chat", "preference", "kto", "text", "prompts"]
DATA_KINDS: tuple[DataKind, ...] = ("chat", "preference", "kto", "text", "prompts")
# The trainer shape a detected format normalises to -> the planner's kind of data.
KIND_OF_SHAPE: dict[str, DataKind] = {
    "messages": "chat",
    "prompt-completion": "chat",
    "preference": "preference",
    "kto": "kto",
    "text": "text",
    "prompts": "prompts",
}


@dataclass(frozen=True)
class DatasetFacts:
    rows: int
    kind: DataKind = "chat"
    """chat: instruction or conversation examples; preference: chosen/rejected pairs;
    kto: examples labelled good or bad; text: raw text for continued pre-training;
    prompts: prompts alone (with answers to check), for online RL."""
    tokens_mean: float | None = None
    tokens_p95: int | None = None
    source: str = "row count"
    tokens_max: int | None = None
    """The longest example (before truncation): a batch is padded to its longest, so a
    CPU run's memory peaks with it."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def facts_from_report(
    report: ReportSummary, stats: TokenStats | None = None, no_tokens: str = ""
) -> DatasetFacts:
    """From a validation report, and token statistics when the tokenizer was here;
    ``no_tokens`` says why it was not (shown beside "characters / 4")."""
    kind = KIND_OF_SHAPE[report.trainer_shape]
    if stats is not None:
        return DatasetFacts(
            report.rows_valid,
            kind,
            stats.tokens_mean,
            stats.tokens_p95,
            "tokenizer",
            stats.tokens_max,
        )
    # No tokenizer: about 4 characters per token in English text.
    chars = report.chars_total / 4 / max(1, report.rows_valid)
    source = f"characters / 4 ({no_tokens})" if no_tokens else "characters / 4"
    return DatasetFacts(report.rows_valid, kind, chars, None, source)
