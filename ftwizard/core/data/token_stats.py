"""A dataset through a model's tokenizer and chat template: its token lengths, the share
of tokens that carry the loss, and one example as the trainer sees it.

``trainer/data_stats.py`` computes them in its own process (it needs transformers);
``ftwizard data --model``, the wizard's data step and the launch's ETA read them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LengthHistogram(Record):
    bucket_tokens: int
    counts: list[int]
    max_length: int


class TokenStats(Record):
    """The examples' token lengths through the model's tokenizer and chat template."""

    rows: int
    tokens_p50: int
    tokens_p95: int
    tokens_max: int
    tokens_mean: float
    max_length: int
    truncated_rows: int
    truncated_share: float
    tokens_per_epoch: int
    loss_token_share: float
    loss_covers: str
    train_on: str
    suggested_max_length: int
    length_histogram: LengthHistogram


class Preview(Record):
    """One example as the trainer sees it, with the character spans the loss covers."""

    example: int
    text: str
    loss_spans: list[tuple[int, int]]
    template: str
    loss: str
    masks: str | None
