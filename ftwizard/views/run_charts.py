"""A run's charts: loss, memory, speed and the objective's own numbers, as
:class:`~ftwizard.views.charts.Chart` values built from what a
:class:`~ftwizard.core.runs.watch.RunWatch` has read. The dashboard, ``attach``,
``runs NAME`` and ``ftwizard plot`` draw these, so they show the same curves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ftwizard.core.runs.series import Aggregate, Point, Series, smoothed
from ftwizard.core.runs.status import RunStatus
from ftwizard.core.runs.watch import RunWatch
from ftwizard.views.charts import DOTS_PER_COLUMN, Chart, Line, Mark

# "Last N steps": the end of a long run at full resolution.
RECENT_STEPS = 200
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red")
# Memory and GPU lines: never the plan's yellow or the limit's red.
DEVICE_COLOURS = ("green", "blue", "cyan", "magenta")
# Past this many cards, or on a chart narrower than NARROW columns with several, the
# memory chart shows what each card allocated, not also what it reserved.
RESERVED_UP_TO_CARDS, NARROW = 2, 60
# The device's size is drawn across the memory chart once the run comes within this
# share of it; further below, the legend says it.
FAR_FROM_LIMIT = 0.5
# Labels where the full ones do not fit.
SHORT_LABELS = {"trainer RAM": "RAM", "trainer RAM peak": "peak", "tokens/s": "tok/s"}


def _short(label: str) -> str:
    return SHORT_LABELS.get(label, label.removesuffix(" allocated").replace(" busy", " %"))


@dataclass(frozen=True)
class ChartOptions:
    """How a person asked to see the curves (the dashboard's keys)."""

    smooth: bool = False
    log_scale: bool = False
    recent: bool = False
    """The last ``RECENT_STEPS`` steps only, as logged, rather than the whole run."""
    width: int = 80
    """Columns the chart will take: how many points are worth drawing."""


def _device_colour(index: int) -> str:
    return DEVICE_COLOURS[index % len(DEVICE_COLOURS)]


def _points(series: Series, options: ChartOptions, aggregate: Aggregate = "mean") -> list[Point]:
    if options.recent and series:
        points = series.since(series.latest[0] - RECENT_STEPS)
    else:
        points = series.points(options.width * DOTS_PER_COLUMN, aggregate)
    return smoothed(points) if options.smooth and aggregate == "mean" else points


def _notes(options: ChartOptions) -> tuple[str, ...]:
    return tuple(
        note
        for note, on in (
            ("smoothed", options.smooth),
            ("log scale", options.log_scale),
            (f"last {RECENT_STEPS} steps", options.recent),
        )
        if on
    )


def _span(options: ChartOptions, *series: Series) -> tuple[int, int] | None:
    """The steps the chart's axis covers: the first logged to the latest."""
    present = [s for s in series if s]
    if not present:
        return None
    last = max(s.latest[0] for s in present)
    first = min(s.first[0] for s in present)
    return (max(first, last - RECENT_STEPS + 1), last) if options.recent else (first, last)


def _resumes(watch: RunWatch) -> tuple[Mark, ...]:
    return tuple(Mark(f"resumed at step {s}", s, "yellow") for s in watch.resumed_at)


def loss_chart(watch: RunWatch, options: ChartOptions = ChartOptions()) -> Chart:
    """Train loss and eval loss, with where the run resumed."""
    return Chart(
        lines=(
            Line("train loss", _points(watch.train_loss, options), "cyan"),
            Line("eval loss", _points(watch.eval_loss, options), "magenta"),
        ),
        steps=_resumes(watch),
        log_scale=options.log_scale,
        span=_span(options, watch.train_loss, watch.eval_loss),
        empty="No loss logged yet: the first point comes at the first logging step.",
        notes=_notes(options),
    )


def memory_chart(
    watch: RunWatch, status: RunStatus, options: ChartOptions = ChartOptions()
) -> Chart:
    """Memory at each logged step (each bucket's highest: a peak is never averaged
    away), with the plan's estimate and the device's size across it."""
    plain = ChartOptions(recent=options.recent, width=options.width)
    shown = watch.memory
    cards = sum(label.endswith("allocated") for label in shown)
    if cards > RESERVED_UP_TO_CARDS or (cards > 1 and options.width < NARROW):
        shown = {k: v for k, v in shown.items() if not k.endswith("reserved")}
    lines = tuple(
        Line(label, _points(series, plain, "max"), _device_colour(index), short=_short(label))
        for index, (label, series) in enumerate(shown.items())
    )
    levels, notes = [], []
    if status.estimate_gb:
        plan = status.estimate_gb
        levels.append(Mark(f"plan {plan:.1f} GB", plan, "yellow", short=f"plan {plan:.3g}"))
    limit = watch.memory_limit_gb
    if limit:
        device = "GPU" if any(label.startswith("GPU") for label in watch.memory) else "RAM"
        highest = max([v for line in lines for _, v in line.points] + [status.estimate_gb or 0])
        if highest >= FAR_FROM_LIMIT * limit:
            levels.append(
                Mark(f"{device} {limit:.0f} GB", limit, "red", short=f"{device} {limit:.0f}")
            )
        else:  # far below it: a line up there would flatten the curves into one row
            notes.append(f"of {limit:.0f} GB {device}")
    return Chart(
        lines=lines,
        levels=tuple(levels),
        steps=_resumes(watch),
        unit="GB",
        notes=tuple(notes),
        span=_span(plain, *watch.memory.values()),
        empty="No memory logged yet.",
    )


def speed_chart(watch: RunWatch, options: ChartOptions = ChartOptions()) -> Chart:
    """Tokens a second, and each GPU's utilisation on the right-hand axis."""
    plain = ChartOptions(recent=options.recent, width=options.width)
    busy = tuple(
        Line(
            f"{label} busy",
            _points(series, plain),
            _device_colour(index),
            right=True,
            short=_short(f"{label} busy"),
        )
        for index, (label, series) in enumerate(watch.gpu_busy.items())
    )
    return Chart(
        lines=(
            Line("tokens/s", _points(watch.tokens_per_s, plain), "yellow", short="tok/s"),
            *busy,
        ),
        steps=_resumes(watch),
        right_unit="%" if busy else "",
        span=_span(plain, watch.tokens_per_s, *watch.gpu_busy.values()),
        empty="No speed logged yet.",
    )


# The preference objectives' implicit rewards (trl's names) and how the chart names them.
PREFERENCE_LINES = (
    ("rewards/margins", "margin"),
    ("rewards/chosen", "chosen"),
    ("rewards/rejected", "rejected"),
)
ObjectiveKind = Literal["online RL", "preference", "pair accuracy", "stages"]


def objective_kind(watch: RunWatch) -> ObjectiveKind | None:
    """Which chart of its own the run has, if any (cheap: nothing is drawn)."""
    if watch.reward:
        return "online RL"
    if "rewards/margins" in watch.metrics:
        return "preference"
    if "accuracy" in watch.eval_metrics:
        return "pair accuracy"
    if len(watch.stage_starts) > 1:
        return "stages"
    return None


def objective_chart(watch: RunWatch, options: ChartOptions = ChartOptions()) -> Chart | None:
    """The objective's own curves: online RL's reward and KL, DPO's (ORPO's, KTO's)
    implicit rewards and their margin, a reward model's held-out pair accuracy, or a run
    in stages' eval loss across its stages. None where there is nothing of the kind."""
    plain = ChartOptions(smooth=options.smooth, recent=options.recent, width=options.width)
    kind = objective_kind(watch)
    if kind == "online RL":
        kl = watch.metrics.get("kl")
        lines = [Line("mean reward", _points(watch.reward, plain), "green")]
        if kl:
            lines.append(Line("KL", _points(kl, plain), "yellow", right=True))
        span = _span(plain, watch.reward)
        return Chart(tuple(lines), steps=_resumes(watch), notes=_notes(plain), span=span)
    if kind == "preference":
        lines = [
            Line(label, _points(watch.metrics[key], plain), COLOURS[index])
            for index, (key, label) in enumerate(PREFERENCE_LINES)
            if key in watch.metrics
        ]
        span = _span(plain, *watch.metrics.values())
        return Chart(tuple(lines), steps=_resumes(watch), notes=_notes(plain), span=span)
    if kind == "pair accuracy":
        accuracy = [(s, v * 100) for s, v in watch.eval_metrics["accuracy"].points()]
        return Chart((Line("held-out pair accuracy", accuracy, "green"),), unit="%")
    if kind == "stages":
        marks = tuple(
            Mark(f"stage starts ({', '.join(o for _, o in watch.stage_starts)})", s, "yellow")
            for s, _ in watch.stage_starts[1:]
        )
        return Chart(
            (Line("eval loss, every stage", watch.stage_eval.points(), "magenta"),),
            steps=marks,
            empty="No evaluation yet.",
        )
    return None


def objective_title(watch: RunWatch) -> str:
    """The objective chart's title (the box's, or the heading's)."""
    kind = objective_kind(watch)
    if kind == "online RL":
        return "Reward and KL" if "kl" in watch.metrics else "Reward"
    return {"preference": "Preference rewards", "pair accuracy": "Pair accuracy"}.get(
        kind or "", "Eval loss over stages"
    )
