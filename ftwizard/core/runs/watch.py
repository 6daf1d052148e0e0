"""Reading a run as it trains: event lines for people and the series behind the charts.

Both viewers (the headless console and the TUI dashboard) tail ``events.jsonl``
through :class:`RunWatch` and describe events with :func:`describe`, so they say
the same thing about the same run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.runs.folder import RunFolder

# The data event's ``loss`` (data.train_on, or the shape's only choice) in words.
LOSS_WORDS = {
    "assistant": "every answer",
    "last_assistant": "the final answer",
    "all": "every token",
    "completion": "the completion",
}


def duration(seconds: float | None) -> str:
    """``2d07h`` / ``1h05m`` / ``4m09s`` / ``42s``; ``n/a`` when unknown."""
    if seconds is None:
        return "n/a"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


# The measured ETA extrapolates from the steps run since this start (or resume); over
# fewer steps than this, the plan's ETA is shown beside it.
ETA_TRUSTED_AFTER_STEPS = 5


def planned_remaining(status: dict[str, Any]) -> float | None:
    """The plan's ETA (written at launch) for the steps still to run."""
    planned, total = status.get("estimate_eta_s"), status.get("max_steps")
    if not isinstance(planned, (int, float)) or not total:
        return None
    return float(planned) * max(0, int(total) - int(status.get("step") or 0)) / int(total)


def eta_words(status: dict[str, Any]) -> str:
    """The ETA a viewer shows: measured from the steps run since the last (re)start, with
    the plan's figure beside it until enough steps are in to trust the measurement."""
    if status.get("state") != "running":
        return "n/a"
    measured, steps = status.get("eta_s"), status.get("eta_steps")
    planned = planned_remaining(status)
    # Runs written before eta_steps existed: their measured ETA is all there is.
    trusted = measured is not None and steps is not None and steps >= ETA_TRUSTED_AFTER_STEPS
    if planned is None or steps is None or trusted:
        return duration(measured)
    if measured is None:
        return f"{duration(planned)} (plan)"
    counted = f"{steps} step{'s' if steps != 1 else ''}"
    return f"{duration(measured)} (after {counted}; plan {duration(planned)})"


def memory_words(event: dict[str, Any]) -> str:
    """This step's memory: one figure, or one per GPU (rank) of a distributed run."""
    ranks = event.get("ranks")
    if isinstance(ranks, list) and len(ranks) > 1:
        if all("gpu_allocated_gb" in r for r in ranks):
            each = ", ".join(f"{r['gpu_allocated_gb']:.1f}" for r in ranks)
            return f"GPU {each} GB"
        return "RAM " + ", ".join(f"{r.get('ram_gb', 0):.1f}" for r in ranks) + " GB"
    if "gpu_allocated_gb" in event:
        return f"GPU {event['gpu_allocated_gb']:.1f} GB"
    return f"RAM {event.get('ram_gb', 0):.1f} GB"


def describe(event: dict[str, Any]) -> str:
    """One line for one event, the same in every view."""
    kind = event.get("type")
    if kind == "log":
        memory = memory_words(event)
        speed = f", {event['tokens_per_s']:.0f} tok/s" if event.get("tokens_per_s") else ""
        grad = f", grad {event['grad_norm']:.2f}" if event.get("grad_norm") is not None else ""
        return (
            f"step {event['step']}/{event['max_steps']}: loss {event['loss']:.4f}, "
            f"lr {event['learning_rate']:.2e}{grad}{speed}, {memory}"
        )
    if kind == "eval":
        return (
            f"eval at step {event['step']}: loss {event['eval_loss']:.4f}, "
            f"perplexity {event['perplexity']:.2f}"
        )
    if kind == "checkpoint":
        return f"checkpoint saved at step {event['step']}"
    if kind == "error":
        return f"error ({event.get('kind')}): {event.get('message', '')[:300]}"
    if kind == "data":
        share, loss = event.get("loss_token_share"), event.get("loss", "all")
        return (
            f"data: {event['rows_train']} train / {event['rows_eval']} validation rows "
            f"({event['format']}), loss on {LOSS_WORDS.get(loss, loss)}"
            + (f" ({share:.0%} of the tokens)" if share is not None else "")
            + (
                f", {event['skipped_invalid']} invalid skipped"
                if event.get("skipped_invalid")
                else ""
            )
        )
    if kind == "train_begin":
        return f"training: {event['max_steps']} steps from step {event['step']}"
    if kind == "status":
        extra = event.get("reason") or event.get("phase") or event.get("note") or ""
        return f"{event.get('state')}{f': {extra}' if extra else ''}"
    if kind == "launch":
        return f"trainer started (pid {event['pid']})"
    if kind == "damaged":
        return f"damaged: {event.get('message', '')}"
    if kind == "warning":
        return f"warning: {event.get('message', '')}"
    if kind == "config_changed":
        return "configuration changed: " + ", ".join(sorted(event.get("changes", {})))
    return str(event)[:300]


Point = tuple[int, float]


@dataclass
class RunWatch:
    """Tails a run's events from where it left off and keeps what the views plot."""

    run: RunFolder
    log_lines: int = 200
    offset: int = 0
    train_loss: list[Point] = field(default_factory=list)
    eval_loss: list[Point] = field(default_factory=list)
    learning_rate: list[Point] = field(default_factory=list)
    grad_norm: list[Point] = field(default_factory=list)
    last_log: dict[str, Any] = field(default_factory=dict)
    last_error: dict[str, Any] | None = None
    peak_memory_gb: float | None = None
    memory_per_rank: str | None = None
    """Each GPU's (rank's) memory at the last step of a distributed run, in words."""
    recent: deque[str] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.log_lines)

    def poll(self) -> list[dict[str, Any]]:
        """Read new events; returns them (already folded into the series)."""
        events, self.offset = self.run.read_events(self.offset)
        for event in events:
            self._fold(event)
        return events

    def _fold(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        step = event.get("step")
        if kind == "log" and isinstance(step, int):
            self.last_log = event
            for series, key in (
                (self.train_loss, "loss"),
                (self.learning_rate, "learning_rate"),
                (self.grad_norm, "grad_norm"),
            ):
                value = event.get(key)
                if isinstance(value, (int, float)):
                    _append(series, step, float(value))
            for source in event.get("ranks") or [event]:
                peak = source.get("gpu_peak_gb", source.get("ram_gb"))
                if isinstance(peak, (int, float)):
                    self.peak_memory_gb = max(self.peak_memory_gb or 0.0, float(peak))
            ranks = event.get("ranks")
            if isinstance(ranks, list) and len(ranks) > 1:
                self.memory_per_rank = memory_words(event)
        elif kind == "eval" and isinstance(step, int):
            _append(self.eval_loss, step, float(event["eval_loss"]))
        elif kind == "error":
            self.last_error = event
        if kind != "log":
            self.recent.append(describe(event))


def _append(series: list[Point], step: int, value: float) -> None:
    # A resumed run logs again from its checkpoint's step: the new values replace
    # the ones it had logged past that point before it stopped.
    while series and series[-1][0] >= step:
        series.pop()
    series.append((step, value))


def downsample(points: list[Point], buckets: int) -> list[Point]:
    """At most ``buckets`` points: the mean of each run of steps, so a chart of
    thousands of steps stays readable (and shows the trend, not the noise)."""
    if buckets <= 0 or len(points) <= buckets:
        return list(points)
    size = len(points) / buckets
    result: list[Point] = []
    for index in range(buckets):
        chunk = points[int(index * size) : int((index + 1) * size)] or [points[-1]]
        result.append((chunk[-1][0], sum(v for _, v in chunk) / len(chunk)))
    return result
