"""Train/validation split: deterministic by seed, decided row by row (so it streams)."""

from __future__ import annotations

import hashlib

_SCALE = float(2**64)


def in_validation(index: int, seed: int, val_size: float) -> bool:
    """Whether row ``index`` is held out; the same answer for the same seed, every time."""
    if val_size <= 0:
        return False
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < val_size


def split_counts(rows: int, seed: int, val_size: float) -> tuple[int, int]:
    """(train rows, validation rows) for ``rows`` rows."""
    held = sum(in_validation(i, seed, val_size) for i in range(rows))
    return rows - held, held
