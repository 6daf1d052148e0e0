"""How often the trainer logs: a plan decision, since on a GPU a log waits for the step."""

from __future__ import annotations

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.planning.plan import Decision

# A log reads the loss back from the device (on a GPU a wait for every kernel queued)
# and writes an event; about one a second keeps that cost out of sight, the events file
# small on a long run, and the curves as dense as a person can follow.
LOG_INTERVAL_S = 1.0
MOST_STEPS_BETWEEN_LOGS = 50
# A short run still draws a curve: at least this many logs where it has the steps.
LEAST_LOGS = 20


def decide_logging(
    config: RunConfig, seconds_per_step: float, steps: int, base: RunConfig
) -> tuple[RunConfig, Decision | None]:
    """Log every step while a step takes a second or more, else about once a second, and
    at least ``LEAST_LOGS`` times in the run's ``steps``; a ``training.logging_steps``
    the person set is kept."""
    if "logging_steps" in base.training.model_fields_set:
        return config, None
    every = round(LOG_INTERVAL_S / max(seconds_per_step, 1e-6))
    every = max(1, min(MOST_STEPS_BETWEEN_LOGS, every, steps // LEAST_LOGS))
    if every == config.training.logging_steps:
        return config, None
    config = config.with_sections(training={"logging_steps": every})
    return config, Decision(
        "logging",
        f"every {every} steps",
        f"a step takes about {seconds_per_step:.2f} s: a log about once a second (each "
        "waits for the GPU to finish its step); the events hold every step's times",
    )
