"""Reading a run as it trains: event lines for people and the series behind the charts.

Both viewers (the headless console and the TUI dashboard) tail ``events.jsonl``
through :class:`RunWatch` and describe events with :func:`describe`, so they say
the same thing about the same run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ftwizard.core.runs.events import (
    AnyEvent,
    CheckpointSaved,
    ConfigChanged,
    Damaged,
    DataRead,
    Evaluation,
    Failure,
    Launch,
    Log,
    Memory,
    StageChange,
    StatusChange,
    TrainBegin,
    WarningNote,
)
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.series import Series
from ftwizard.core.runs.status import RunStatus

# The data event's ``loss`` (data.train_on, or the shape's only choice) in words.
LOSS_WORDS = {
    "assistant": "every answer",
    "last_assistant": "the final answer",
    "all": "every token",
    "completion": "the completion",
    "completions": "the completions it writes",
    "pairs": "the score of chosen over rejected",
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


def planned_remaining(status: RunStatus) -> float | None:
    """The plan's ETA (written at launch) for the steps still to run."""
    if status.estimate_eta_s is None or not status.max_steps:
        return None
    left = max(0, status.max_steps - status.step)
    return status.estimate_eta_s * left / status.max_steps


def eta_words(status: RunStatus) -> str:
    """The ETA a viewer shows: measured from the steps run since the last (re)start, with
    the plan's figure beside it until enough steps are in to trust the measurement."""
    if status.state != "running":
        return "n/a"
    measured, steps = status.eta_s, status.eta_steps
    planned = planned_remaining(status)
    # Runs written before eta_steps existed: their measured ETA is all there is.
    trusted = measured is not None and steps is not None and steps >= ETA_TRUSTED_AFTER_STEPS
    if planned is None or steps is None or trusted:
        return duration(measured)
    if measured is None:
        return f"{duration(planned)} (plan)"
    counted = f"{steps} step{'s' if steps != 1 else ''}"
    return f"{duration(measured)} (after {counted}; plan {duration(planned)})"


def memory_words(log: Log) -> str:
    """This step's memory: one figure, or one per GPU (rank) of a distributed run."""
    if len(log.ranks) > 1:
        if all(r.gpu_allocated_gb is not None for r in log.ranks):
            return "GPU " + ", ".join(f"{r.gpu_allocated_gb:.1f}" for r in log.ranks) + " GB"
        return "RAM " + ", ".join(f"{r.ram_gb:.1f}" for r in log.ranks) + " GB"
    if log.gpu_allocated_gb is not None:
        return f"GPU {log.gpu_allocated_gb:.1f} GB"
    return f"RAM {log.ram_gb:.1f} GB"


def _data_words(event: DataRead) -> str:
    share = event.loss_token_share
    return (
        f"data: {event.rows_train} train / {event.rows_eval} validation rows "
        f"({event.format}), loss on {LOSS_WORDS.get(event.loss, event.loss)}"
        + (f" ({share:.0%} of the tokens)" if share is not None else "")
        + (f", {event.skipped_invalid} invalid skipped" if event.skipped_invalid else "")
    )


def reward_means(metrics: dict[str, float]) -> dict[str, float]:
    """Online RL's mean reward per function, by trl's names (``rewards/NAME/mean``)."""
    return {
        key.removeprefix("rewards/").removesuffix("/mean"): value
        for key, value in metrics.items()
        if key.startswith("rewards/") and key.endswith("/mean")
    }


def reward_words(metrics: dict[str, float]) -> str | None:
    """Online RL's step in words: the reward (mean and spread, each function's mean), the
    KL from the reference and the completions' length; None for other objectives."""
    if "reward" not in metrics:
        return None
    each = ", ".join(f"{name} {value:.2f}" for name, value in reward_means(metrics).items())
    words = f"reward {metrics['reward']:.3f} ± {metrics.get('reward_std', 0.0):.3f}"
    words += f" ({each})" if each else ""
    if "kl" in metrics:
        words += f", KL {metrics['kl']:.4f}"
    length = completion_words(metrics)
    return words + (f", completions {length}" if length else "")


def completion_words(metrics: dict[str, float]) -> str:
    """The completions' mean length and the share cut at the maximum; "" before any."""
    if "completions/mean_length" not in metrics:
        return ""
    cut = metrics.get("completions/clipped_ratio")
    return f"{metrics['completions/mean_length']:.0f} tokens" + (
        f" ({cut:.0%} cut at the maximum)" if cut is not None else ""
    )


def describe(event: AnyEvent) -> str:
    """One line for one event, the same in every view."""
    if isinstance(event, Log):
        speed = f", {event.tokens_per_s:.0f} tok/s" if event.tokens_per_s else ""
        grad = f", grad {event.grad_norm:.2f}" if event.grad_norm is not None else ""
        rl = reward_words(event.metrics)
        what = rl if rl is not None else f"loss {event.loss:.4f}"
        return (
            f"step {event.step}/{event.max_steps}: {what}, "
            f"lr {event.learning_rate:.2e}{grad}{speed}, {memory_words(event)}"
        )
    if isinstance(event, Evaluation):
        if "accuracy" in event.metrics:  # a reward model: chosen scored above rejected
            return (
                f"eval at step {event.step}: loss {event.eval_loss:.4f}, "
                f"pair accuracy {event.metrics['accuracy']:.1%}"
            )
        return (
            f"eval at step {event.step}: loss {event.eval_loss:.4f}, "
            f"perplexity {event.perplexity:.2f}"
        )
    if isinstance(event, CheckpointSaved):
        return f"checkpoint saved at step {event.step}"
    if isinstance(event, Failure):
        return f"error ({event.kind}): {event.message[:300]}"
    if isinstance(event, DataRead):
        return _data_words(event)
    if isinstance(event, TrainBegin):
        return f"training: {event.max_steps} steps from step {event.step}"
    if isinstance(event, StatusChange):
        extra = event.reason or event.phase or event.note or ""
        return f"{event.state}{f': {extra}' if extra else ''}"
    if isinstance(event, Launch):
        return f"trainer started (pid {event.pid})"
    if isinstance(event, (Damaged, WarningNote)):
        return f"{event.type}: {event.message}"
    if isinstance(event, ConfigChanged):
        return "configuration changed: " + ", ".join(sorted(event.changes))
    if isinstance(event, StageChange):
        where = f"stage {event.stage} of {event.stages}: {event.objective}"
        if event.state == "finished":
            return f"{where} finished (its result: {event.path}/final)"
        start = " from the result of the stage before" if event.from_run else ""
        return f"{where} {event.state}{start}"
    return f"{event.type} event"


# Objective numbers kept as curves (trl's names): online RL's reward and KL, the
# preference objectives' implicit rewards. Others stay in the last Log event only.
CHARTED_METRICS = (
    "kl",
    "rewards/margins",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
)
CHARTED_EVAL_METRICS = ("accuracy", "reward")


def memory_sources(log: Log | Failure) -> list[tuple[str, float]]:
    """Each memory figure of one step with its label: the trainer's RAM on a CPU; each
    GPU's (rank's) allocated and reserved memory on CUDA."""
    ranks: tuple[Memory, ...] = log.ranks if isinstance(log, Log) and len(log.ranks) > 1 else ()
    figures: list[tuple[str, float]] = []
    for index, source in enumerate(ranks or (log,)):
        card = f"GPU {index} " if ranks else "GPU "
        if source.gpu_allocated_gb is None:
            name = f"RAM {index}" if ranks else "trainer RAM"
            figures.append((name, source.ram_gb))
            if source.ram_peak_gb is not None:
                figures.append((f"{name} peak", source.ram_peak_gb))
            continue
        figures.append((card + "allocated", source.gpu_allocated_gb))
        if source.gpu_reserved_gb is not None:
            figures.append((card + "reserved", source.gpu_reserved_gb))
    return figures


def gpu_busy_sources(log: Log) -> list[tuple[str, float]]:
    """Each GPU's utilisation (percent, NVML's) at one step, where the trainer read it."""
    ranks: tuple[Memory, ...] = log.ranks if len(log.ranks) > 1 else ()
    return [
        (f"GPU {index}" if ranks else "GPU", source.gpu_utilization)
        for index, source in enumerate(ranks or (log,))
        if source.gpu_utilization is not None
    ]


@dataclass
class RunWatch:
    """Tails a run's events from where it left off and keeps what the views plot."""

    run: RunFolder
    log_lines: int = 200
    offset: int = 0
    train_loss: Series = field(default_factory=Series)
    eval_loss: Series = field(default_factory=Series)
    reward: Series = field(default_factory=Series)
    """Online RL's mean reward per step (trl's ``reward``)."""
    learning_rate: Series = field(default_factory=Series)
    grad_norm: Series = field(default_factory=Series)
    tokens_per_s: Series = field(default_factory=Series)
    memory: dict[str, Series] = field(default_factory=dict)
    """GB by source (``memory_sources``): the trainer's RAM, or each GPU's."""
    gpu_busy: dict[str, Series] = field(default_factory=dict)
    """Percent by GPU, as the trainer read it at each logged step."""
    metrics: dict[str, Series] = field(default_factory=dict)
    """``CHARTED_METRICS`` the objective logs, by trl's names."""
    eval_metrics: dict[str, Series] = field(default_factory=dict)
    resumed_at: list[int] = field(default_factory=list)
    """The steps a resume started from: the charts mark them."""
    memory_limit_gb: float | None = None
    """The training device's memory (a GPU's, or the machine's RAM), from train_begin."""
    loading_ram_gb: float | None = None
    """The trainer's RAM peak while loading: on a CPU, part of the run's peak."""
    stage_eval: Series = field(default_factory=Series)
    """A run in stages: every stage's eval loss on one axis (its steps after the stages
    before); ``stage_starts`` says where each began."""
    stage_starts: list[tuple[int, str]] = field(default_factory=list)
    last_log: Log | None = None
    last_eval: Evaluation | None = None
    last_error: Failure | None = None
    peak_memory_gb: float | None = None
    memory_per_rank: str | None = None
    """Each GPU's (rank's) memory at the last step of a distributed run, in words."""
    recent: deque[str] = field(default_factory=deque)
    _stage_offset: int = 0

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.log_lines)

    def poll(self) -> list[AnyEvent]:
        """Read new events; returns them (already folded into the series)."""
        events, self.offset = self.run.read_events(self.offset)
        for event in events:
            self.fold(event)
        return events

    def fold(self, event: AnyEvent) -> None:
        """Take one event into the curves and the recent lines."""
        if isinstance(event, Log):
            self._fold_log(event)
            return
        if isinstance(event, Evaluation):
            self.eval_loss.append(event.step, event.eval_loss)
            peak = self.memory.get("trainer RAM peak")
            if event.ram_peak_gb is not None and peak is not None:  # a CPU run's evaluation
                peak.raise_to(event.step, event.ram_peak_gb)
                self.peak_memory_gb = max(self.peak_memory_gb or 0.0, event.ram_peak_gb)
            self.stage_eval.append(self._stage_offset + event.step, event.eval_loss)
            for key in CHARTED_EVAL_METRICS:
                if key in event.metrics:
                    self.eval_metrics.setdefault(key, Series()).append(
                        event.step, event.metrics[key]
                    )
            self.last_eval = event
        elif isinstance(event, TrainBegin):
            if event.step > 0 and self.train_loss:
                self.resumed_at.append(event.step)
            if event.memory_limit_gb is not None:
                self.memory_limit_gb = event.memory_limit_gb
            if event.ram_peak_gb is not None:
                self.loading_ram_gb = event.ram_peak_gb
        elif isinstance(event, Failure):
            self.last_error = event
            if event.step is not None:  # the memory chart runs up to the failure
                for label, value in memory_sources(event):
                    if value:
                        self.memory.setdefault(label, Series()).append(event.step, value)
        elif isinstance(event, StageChange) and event.state == "starting":
            # Its steps count from 0 again: the curves show the stage under way.
            if self.train_loss:
                self._stage_offset += self.train_loss.latest[0]
            self.stage_starts.append((self._stage_offset, event.objective))
            for series in self._stage_curves():
                series.clear()
            self.resumed_at.clear()
        self.recent.append(describe(event))

    def _stage_curves(self) -> list[Series]:
        return [
            self.train_loss,
            self.eval_loss,
            self.reward,
            self.learning_rate,
            self.grad_norm,
            self.tokens_per_s,
            *self.memory.values(),
            *self.gpu_busy.values(),
            *self.metrics.values(),
            *self.eval_metrics.values(),
        ]

    def _fold_log(self, log: Log) -> None:
        self.last_log = log
        self.train_loss.append(log.step, log.loss)
        if "reward" in log.metrics:
            self.reward.append(log.step, log.metrics["reward"])
        self.learning_rate.append(log.step, log.learning_rate)
        if log.grad_norm is not None:
            self.grad_norm.append(log.step, log.grad_norm)
        if log.tokens_per_s is not None:
            self.tokens_per_s.append(log.step, log.tokens_per_s)
        for key in CHARTED_METRICS:
            if key in log.metrics:
                self.metrics.setdefault(key, Series()).append(log.step, log.metrics[key])
        for label, value in memory_sources(log):
            self.memory.setdefault(label, Series()).append(log.step, value)
        for label, value in gpu_busy_sources(log):
            self.gpu_busy.setdefault(label, Series()).append(log.step, value)
        for source in log.ranks or (log,):
            peak = source.gpu_peak_gb
            if peak is None:  # a CPU run: its RAM, the loading's included
                peak = max(source.ram_gb, source.ram_peak_gb or 0.0, self.loading_ram_gb or 0.0)
            self.peak_memory_gb = max(self.peak_memory_gb or 0.0, peak)
        if len(log.ranks) > 1:
            self.memory_per_rank = memory_words(log)
