"""Where a step's time went, in words: the phases of ``StepTimes`` as people read them,
for the step-time panel (``views/step_times.py``) and the figures beside the charts."""

from __future__ import annotations

from ftwizard.core.runs.events import StepTimes

# The step's phases as people read them, in the order they happen.
PHASE_WORDS = (
    ("data_s", "data"),
    ("forward_backward_s", "forward+backward"),
    ("generation_s", "writing completions"),
    ("optimizer_s", "optimizer"),
    ("ftwizard_s", "ftwizard"),
    ("other_s", "other"),
)


def step_seconds(seconds: float) -> str:
    """``77 ms`` under a second, ``2.31 s`` above."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def step_phases(times: StepTimes) -> list[tuple[str, float, float]]:
    """Each phase with its seconds per step and share of the step, as measured (a phase
    that took no time, e.g. writing completions outside online RL, is left out)."""
    total = max(times.step_s, 1e-12)
    phases = [(name, getattr(times, key)) for key, name in PHASE_WORDS]
    return [(name, seconds, seconds / total) for name, seconds in phases if seconds > 0]


def device_wait_words(times: StepTimes) -> str | None:
    """How long the GPU waits on the host in a step, from the profiled step; None on a
    CPU or before one is profiled."""
    if times.device_busy is None:
        return None
    return (
        f"GPU busy {times.device_busy:.0%} of a step, waits on the host "
        f"{1 - times.device_busy:.0%} (profiled at step {times.profiled_step})"
    )
