"""How much of the data the plan holds out for evaluation, and how often it evaluates.

Without a validation split the dashboard has no eval curve and over-fitting cannot be
seen, so a plan holds out a share whenever the data can spare it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftwizard.core.config.schema import EvaluationSection

MIN_ROWS = 100  # below this every example is worth more in training than in evaluation
SHARE = 0.05
MAX_HELD = 500  # enough rows for a steady eval loss; more only slows each evaluation
EVALUATIONS_PER_RUN = 10  # points on the eval curve


@dataclass(frozen=True)
class ValidationChoice:
    val_size: float
    eval_steps: int
    choice: str
    reason: str


def plan_validation(
    rows: int, effective_batch: int, epochs: float, base: EvaluationSection
) -> ValidationChoice:
    """The plan's validation split. What the configuration already says is kept: a
    validation file, a share of its own, or a share of 0 set on purpose (``--set
    evaluation.val_size=0``, a preset naming it)."""
    planned = _planned(rows, effective_batch, epochs, base.eval_steps)
    if base.val_path:
        return ValidationChoice(
            base.val_size, base.eval_steps, "your file", f"validation from {base.val_path}"
        )
    if base.val_size > 0 and base.val_size != planned.val_size:
        return ValidationChoice(
            base.val_size,
            base.eval_steps,
            f"{base.val_size:.1%}",
            f"as configured, evaluated every {base.eval_steps} steps",
        )
    if base.val_size == 0 and "val_size" in base.model_fields_set and planned.val_size > 0:
        return ValidationChoice(0.0, base.eval_steps, "off", "your choice: no validation")
    return planned


def _planned(rows: int, effective_batch: int, epochs: float, eval_steps: int) -> ValidationChoice:
    if rows < MIN_ROWS:
        return ValidationChoice(
            0.0,
            eval_steps,
            "off",
            f"under {MIN_ROWS} examples: each one is worth more in training "
            "(set evaluation.val_size to hold some out anyway)",
        )
    held = min(MAX_HELD, math.ceil(rows * SHARE))
    val_size = round(held / rows, 4)
    steps = math.ceil(math.ceil((rows - held) / effective_batch) * epochs)
    every = max(1, round(steps / EVALUATIONS_PER_RUN))
    return ValidationChoice(
        val_size,
        every,
        f"{held:,} rows",
        f"{SHARE:.0%} held out (at most {MAX_HELD}), evaluated every {every} steps: an eval "
        "curve that shows over-fitting (evaluation.val_size=0 turns it off)",
    )
