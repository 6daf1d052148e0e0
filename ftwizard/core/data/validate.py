"""Read a whole dataset once: detect its layout, normalise every row, report every problem.

Nothing is dropped silently: invalid rows are counted by kind and listed with
their location; a run may skip them only when the person says so
(``--skip-invalid``), and the number skipped travels with the run.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ftwizard.core.data.formats import (
    FORMATS,
    Detection,
    RowProblem,
    apply_column_map,
    detect,
    normaliser,
)
from ftwizard.core.data.sources import ParseError, Row, TextSplit, read_items
from ftwizard.core.errors import UserError

SAMPLE_ROWS = 200
SHOWN_PER_KIND = 20  # problems listed per kind; the counts are always complete
REMEMBER_WHERE = 100_000  # past this many rows, duplicates are found but not located
BLOCKING = {
    "unparsable",
    "missing_field",
    "wrong_type",
    "empty_text",
    "unknown_role",
    "role_order",
    "last_turn_not_assistant",
    "non_string_content",
    "unsupported_content",
    "incomplete_pair",
    "not_an_object",
}


@dataclass(frozen=True)
class Problem:
    where: str
    kind: str
    message: str

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING


@dataclass
class DataReport:
    path: str
    detection: Detection
    rows_read: int = 0
    rows_valid: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    """The first problems of each kind, with their locations."""
    chars_total: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rows_invalid(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind in BLOCKING)

    @property
    def usable(self) -> bool:
        return self.rows_valid > 0

    def summary(self) -> ReportSummary:
        """The report as it crosses a process and shows in views (and in --json)."""
        return ReportSummary(
            path=self.path,
            format=self.detection.format,
            layout=self.detection.layout,
            trainer_shape=self.detection.trainer_shape,
            confidence=self.detection.confidence,
            evidence=list(self.detection.evidence),
            rows_read=self.rows_read,
            rows_valid=self.rows_valid,
            rows_invalid=self.rows_invalid,
            problem_counts=dict(self.counts),
            problems=[
                ProblemRow(where=p.where, kind=p.kind, message=p.message, blocking=p.blocking)
                for p in self.problems
            ],
            notes=list(self.notes),
            chars_total=self.chars_total,
        )


class ProblemRow(BaseModel):
    where: str
    kind: str
    message: str
    blocking: bool


class ReportSummary(BaseModel):
    """A dataset's validation report: its layout and the evidence, the row counts, the
    first problems of each kind with their locations."""

    model_config = ConfigDict(frozen=True)

    path: str
    format: str
    layout: str
    trainer_shape: str
    confidence: float
    evidence: list[str]
    rows_read: int
    rows_valid: int
    rows_invalid: int
    problem_counts: dict[str, int]
    problems: list[ProblemRow]
    notes: list[str]
    chars_total: int

    def trainable(self, skip_invalid: bool) -> bool:
        """Whether the trainer would accept it: valid rows, and invalid ones only when
        they are to be skipped."""
        return self.rows_valid > 0 and (self.rows_invalid == 0 or skip_invalid)


def _digest(normalised: Mapping[str, Any]) -> bytes:
    # Normalised rows are built in one key order, so repr is a canonical (and fast) form.
    return hashlib.blake2b(repr(normalised).encode(), digest_size=8).digest()


def _chars(normalised: Mapping[str, Any]) -> int:
    total = 0
    for value in normalised.values():
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, list):
            total += sum(len(m.get("content") or "") for m in value if isinstance(m, dict))
    return total


def detect_path(
    path: str | Path,
    fmt: str = "auto",
    column_map: Mapping[str, str] | None = None,
    text_split: TextSplit = "auto",
    name: str | None = None,
    split: str = "train",
) -> Detection:
    """Detect the layout from the first rows; a UserError that names the columns otherwise."""
    sample: list[dict[str, Any]] = []
    unreadable: ParseError | None = None
    for item in islice(read_items(path, text_split, name, split), SAMPLE_ROWS * 2):
        if isinstance(item, Row) and isinstance(item.data, dict):
            sample.append(apply_column_map(item.data, column_map or {}))
        elif isinstance(item, ParseError):
            unreadable = unreadable or item
        if len(sample) >= SAMPLE_ROWS:
            break
    if not sample and unreadable is not None:
        raise UserError(
            f"{unreadable.where}: {unreadable.message}; no readable example in the first rows."
        )
    if not sample:
        raise UserError(
            f"{path}: no readable example in the first rows (each example must be a "
            "JSON object or a CSV row)."
        )
    found = detect(sample, fmt)
    if found is None:
        columns = sorted({k for row in sample for k in row})
        wanted = "" if fmt == "auto" else f" as `{fmt}`"
        raise UserError(
            f"{path}: cannot tell the dataset layout{wanted} from its columns: "
            f"{', '.join(columns)}.",
            hint="Known layouts: alpaca (instruction/input/output), sharegpt (conversations), "
            "messages, prompt/completion, text, preference (chosen/rejected), kto (label). "
            "Map your columns, e.g. --map instruction=question,output=answer",
        )
    return found


def validate_path(
    path: str | Path,
    fmt: str = "auto",
    column_map: Mapping[str, str] | None = None,
    text_split: TextSplit = "auto",
    on_row: Callable[[dict[str, Any]], None] | None = None,
    name: str | None = None,
    split: str = "train",
) -> DataReport:
    """Every row, once, streaming. Each valid normalised row goes to ``on_row`` when given."""
    if fmt != "auto" and fmt not in FORMATS:
        raise UserError(f"--format {fmt}: unknown; use one of auto, {', '.join(FORMATS)}.")
    detection = detect_path(path, fmt, column_map, text_split, name, split)
    normalise = normaliser(detection)
    report = DataReport(str(path), detection)
    seen: dict[bytes, str | None] = {}  # 8-byte digests keep a 1 GB file's set small
    report.notes.extend(detection.notes)
    shown: Counter[str] = Counter()

    def record(problem: Problem) -> None:
        report.counts[problem.kind] += 1
        if shown[problem.kind] < SHOWN_PER_KIND:
            shown[problem.kind] += 1
            report.problems.append(problem)

    for item in read_items(path, text_split, name, split):
        report.rows_read += 1
        if isinstance(item, ParseError):
            record(Problem(item.where, "unparsable", item.message))
            continue
        if not isinstance(item.data, dict):
            record(
                Problem(
                    item.where,
                    "not_an_object",
                    f"an example must be an object, not {type(item.data).__name__}",
                )
            )
            continue
        try:
            normalised = normalise(apply_column_map(item.data, column_map or {}))
        except RowProblem as problem:
            record(Problem(item.where, problem.kind, problem.message))
            continue
        digest = _digest(normalised)
        if digest in seen:
            first = seen[digest]
            record(
                Problem(
                    item.where,
                    "duplicate",
                    f"the same as {first}" if first else "the same as an earlier example",
                )
            )
        else:
            seen[digest] = item.where if report.rows_read <= REMEMBER_WHERE else None
        report.rows_valid += 1
        report.chars_total += _chars(normalised)
        if on_row is not None:
            on_row(normalised)
    return report
