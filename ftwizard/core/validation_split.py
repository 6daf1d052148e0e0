"""How much of the data the plan holds out for evaluation, and how often it evaluates.

Without a validation split the dashboard has no eval curve and over-fitting cannot be
seen, so a plan holds out a share whenever the data can spare it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftwizard.core.config import EvaluationSection

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
    """The plan's validation split; the person's own choice (a preset or ``--set``
    naming ``evaluation.val_size`` or ``val_path``) is kept as it is."""
    if base.val_path:
        return ValidationChoice(
            base.val_size, base.eval_steps, "your file", f"validation from {base.val_path}"
        )
    if "val_size" in base.model_fields_set:
        if base.val_size == 0:
            return ValidationChoice(0.0, base.eval_steps, "off", "your choice: no validation")
        return ValidationChoice(
            base.val_size,
            base.eval_steps,
            f"{base.val_size:.0%}",
            f"your choice, evaluated every {base.eval_steps} steps",
        )
    if rows < MIN_ROWS:
        return ValidationChoice(
            0.0,
            base.eval_steps,
            "off",
            f"under {MIN_ROWS} examples: each one is worth more in training "
            "(set evaluation.val_size to hold some out anyway)",
        )
    held = min(MAX_HELD, math.ceil(rows * SHARE))
    val_size = round(held / rows, 4)
    steps = math.ceil(math.ceil((rows - held) / effective_batch) * epochs)
    eval_steps = max(1, round(steps / EVALUATIONS_PER_RUN))
    return ValidationChoice(
        val_size,
        eval_steps,
        f"{val_size:.1%} (about {held:,} rows)",
        f"{SHARE:.0%} held out, at most {MAX_HELD} rows, evaluated every {eval_steps} steps "
        f"(about {EVALUATIONS_PER_RUN} points on the eval curve) so over-fitting shows; "
        "evaluation.val_size=0 turns it off",
    )
