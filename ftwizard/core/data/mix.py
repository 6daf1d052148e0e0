"""Mixing other datasets into the training data at given shares (``data.mix``), so a
model learns a domain without forgetting what it knew: e.g. 80 % domain rows, 20 %
general chat.

``data.path`` keeps all its rows; each other source gives ``weight / (1 - sum of the
weights)`` rows per row of ``data.path``, in the training split and the validation
split alike, so the shares hold in both. A source is read as a stream and only as far
as its share needs: a large file or a Hub dataset gives its first rows (shuffle it
beforehand if its order means something). A source with too few rows is repeated,
which the launch says before training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ftwizard.core.data.split import in_validation
from ftwizard.core.data.validate import DataReport, validate_path
from ftwizard.core.errors import UserError

R = TypeVar("R")


class Source(Protocol):
    """What a mixed-in source says (``config.parts.MixSource``)."""

    @property
    def path(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def name(self) -> str | None: ...
    @property
    def split(self) -> str: ...
    @property
    def format(self) -> str: ...


@dataclass(frozen=True)
class MixPart:
    """One source's part of the mixed data."""

    label: str
    weight: float
    """The share asked for."""
    train: int
    """Its training rows."""
    validation: int
    read: int
    """Rows read from it (valid ones)."""
    repeated: bool
    """It had too few rows: some appear more than once."""


def wanted(primary_rows: int, weights: list[float]) -> list[int]:
    """Rows each source gives beside ``primary_rows`` of ``data.path``."""
    rest = 1 - sum(weights)
    return [round(w / rest * primary_rows) for w in weights]


def label_of(path: str) -> str:
    """A source as reports name it: a file by its name, a Hub id as it is."""
    return Path(path).name if Path(path).exists() else path


class _Enough(Exception):
    """Raised from ``on_row`` to stop reading a source once its share is met."""


def _read_source(
    source: Source, seed: int, share: float, need: tuple[int, int], shape: str
) -> tuple[list[Any], list[Any]]:
    """The source's first training and validation rows, as many as ``need`` asks."""
    train: list[Any] = []
    held: list[Any] = []
    count = [0]

    def take(row: dict[str, Any]) -> None:
        goes_to = held if in_validation(count[0], seed, share) else train
        count[0] += 1
        if len(goes_to) < (need[1] if goes_to is held else need[0]):
            goes_to.append(row)
        if len(train) >= need[0] and len(held) >= need[1]:
            raise _Enough

    report: DataReport | None = None
    try:
        report = validate_path(
            source.path, source.format, on_row=take, name=source.name, split=source.split
        )
    except _Enough:
        pass
    if report is not None and report.detection.trainer_shape != shape:
        raise UserError(
            f"data.mix {source.path}: its rows are {report.detection.trainer_shape}, "
            f"data.path's are {shape}; mixed sources must have one shape.",
            hint="Convert it, or mix a source of the same layout.",
        )
    if not train and need[0]:
        raise UserError(f"data.mix {source.path}: no usable rows.")
    return train, held


def _cycled(rows: list[R], count: int) -> list[R]:
    return [rows[i % len(rows)] for i in range(count)] if rows else []


def mix_rows(
    primary: list[Any],
    held: list[bool],
    sources: Sequence[Source],
    seed: int,
    share: float,
    shape: str,
    primary_label: str,
) -> tuple[list[Any], list[bool], list[MixPart]]:
    """``primary`` with every source's rows appended (and which of all are held out for
    validation), and each part's figures, ``data.path``'s first."""
    primary_held = sum(held)
    weights = [s.weight for s in sources]
    rows, flags = list(primary), list(held)
    parts = [
        MixPart(
            label_of(primary_label),
            1 - sum(weights),
            len(primary) - primary_held,
            primary_held,
            len(primary),
            False,
        )
    ]
    for number, (source, train_n, held_n) in enumerate(
        zip(
            sources,
            wanted(len(primary) - primary_held, weights),
            wanted(primary_held, weights),
            strict=True,
        )
    ):
        # Each source is split by its own seed: its held-out rows do not follow data.path's.
        train, validation = _read_source(source, seed + 1 + number, share, (train_n, held_n), shape)
        taken_train, taken_held = _cycled(train, train_n), _cycled(validation or train, held_n)
        rows += taken_train + taken_held
        flags += [False] * len(taken_train) + [True] * len(taken_held)
        parts.append(
            MixPart(
                label_of(source.path),
                source.weight,
                len(taken_train),
                len(taken_held),
                len(train) + len(validation),
                len(train) < train_n or len(validation) < held_n,
            )
        )
    return rows, flags, parts


def plan_mix(
    primary_rows: int,
    sources: Sequence[Source],
    seed: int,
    share: float,
    shape: str,
    primary_label: str,
) -> list[MixPart]:
    """The parts ``mix_rows`` will make of ``primary_rows`` rows of ``data.path``, read
    from the sources the same way: what the launch says before training."""
    held = [in_validation(i, seed, share) for i in range(primary_rows)]
    return mix_rows([None] * primary_rows, held, sources, seed, share, shape, primary_label)[2]


def mix_words(parts: list[MixPart]) -> str:
    """ "data mix: 75 % a.jsonl (90 rows), 25 % b.jsonl (30 rows)" (training rows)."""
    total = sum(p.train for p in parts) or 1
    shown = ", ".join(f"{p.train / total:.0%} {p.label} ({p.train:,} rows)" for p in parts)
    return f"data mix: {shown} of the training rows"


def repeat_warnings(parts: list[MixPart]) -> list[str]:
    return [
        f"data.mix {part.label}: {part.read} rows for a {part.weight:.0%} share that needs "
        f"{part.train + part.validation}: some rows are used more than once"
        for part in parts
        if part.repeated
    ]
