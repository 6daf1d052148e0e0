"""A run's checkpoints as table rows, the same in ``ftwizard runs NAME`` and the resume picker."""

from __future__ import annotations

import time

from ftwizard.core.runs.checkpoints import Checkpoint
from ftwizard.core.units import human_size

CHECKPOINT_COLUMNS = ("step", "loss", "saved", "size", "kind")


def checkpoint_cells(checkpoint: Checkpoint, with_problem: bool = True) -> tuple[str, ...]:
    """``with_problem``: say why beside the kind (the resume picker says it below the
    table instead, where an 80-column terminal has room)."""
    problem = f" ({checkpoint.problem})" if checkpoint.problem and with_problem else ""
    kind = checkpoint.kind + problem
    return (
        str(checkpoint.step),
        "n/a" if checkpoint.loss is None else f"{checkpoint.loss:.4f}",
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(checkpoint.time)),
        human_size(checkpoint.size_bytes),
        kind,
    )
