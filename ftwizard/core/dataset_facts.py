"""What the planner needs to know about a dataset.

The dataset reader fills these in from real files; until then a plan can be
made from a row count and the kind of data (``ftwizard plan --rows N``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

DataKind = Literal["chat", "preference", "kto", "text"]
DATA_KINDS: tuple[DataKind, ...] = ("chat", "preference", "kto", "text")


@dataclass(frozen=True)
class DatasetFacts:
    rows: int
    kind: DataKind = "chat"
    """chat: instruction or conversation examples; preference: chosen/rejected pairs;
    kto: examples labelled good or bad; text: raw text for continued pre-training."""
    tokens_mean: float | None = None
    tokens_p95: int | None = None
    source: str = "row count"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
