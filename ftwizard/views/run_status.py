"""Where a run stands, in one picture: the dashboard's figures panel, the live view of
``ftwizard --preset`` and ``attach``, and ``ftwizard runs NAME`` draw this same view, so
they cannot disagree (the elapsed clock stops when the run ends, in each of them)."""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.core.runs.status import RunStatus
from ftwizard.core.runs.step_words import step_seconds
from ftwizard.core.runs.watch import (
    RunWatch,
    completion_words,
    duration,
    eta_words,
    reward_means,
)
from ftwizard.core.units import gib, percent
from ftwizard.views.bars import share_bar


def elapsed_s(status: RunStatus, now: float) -> float | None:
    """Seconds since this (re)start, up to now while it runs, up to its end after."""
    if status.started_at is None:
        return None
    end = now if status.active else status.finished_at or status.stopped_at or now
    return end - status.started_at


def _memory_rows(
    grid: Table, status: RunStatus, watch: RunWatch, report: HardwareReport | None
) -> None:
    """Each card the run trains on (its memory and how busy it is), or the trainer's RAM
    on a CPU: never a card the run does not use."""
    log = watch.last_log
    planned = f"; plan {status.estimate_gb:.1f}" if status.estimate_gb else ""
    limit = watch.memory_limit_gb
    total = report.gpus[0].memory_total_bytes if report and report.gpus else None
    if limit is None and total:  # runs from before train_begin said it
        limit = total / 1024**3
    if log is not None and log.gpu_allocated_gb is not None:
        cards = log.ranks if len(log.ranks) > 1 else (log,)
        for index, card in enumerate(cards):
            name = f"GPU {index}" if len(cards) > 1 else "GPU"
            size = f" of {limit:.0f}" if limit else ""
            busy = "" if card.gpu_utilization is None else f", {card.gpu_utilization:.0f}% busy"
            grid.add_row(name, f"{card.gpu_allocated_gb:.1f}{size} GB{busy}")
        peaks = [card.gpu_peak_gb for card in cards if card.gpu_peak_gb is not None]
        if peaks or planned:
            peak = f"{max(peaks):.1f}" if peaks else "n/a"
            grid.add_row("peak", f"{peak}{planned} GB")
        if all(card.gpu_utilization is None for card in cards):
            gpu = report.gpus[0] if report and report.gpus else None
            if gpu is not None:  # older runs: the probe's reading of the first card
                grid.add_row("GPU utilisation", percent(gpu.utilization_percent))
    elif log is not None:
        peak_gb = watch.peak_memory_gb or log.ram_gb
        grid.add_row("trainer RAM", f"{log.ram_gb:.1f} GB (peak {peak_gb:.1f}{planned})")
    trains_on_cpu = log is None or log.gpu_allocated_gb is None
    if trains_on_cpu and report is not None and report.ram_available_bytes is not None:
        grid.add_row(
            "machine RAM",
            f"{report.ram_available_bytes / 1024**3:.0f} of {gib(report.ram_total_bytes)} free",
        )


def status_view(
    status: RunStatus,
    watch: RunWatch,
    report: HardwareReport | None = None,
    now: float | None = None,
) -> RenderableType:
    """State, progress, ETA, losses, schedule, speed and memory. ``report``: this
    machine's hardware, for the GPU's size and the free RAM (the wizard has it)."""
    now = time.time() if now is None else now
    step, total = status.step, status.max_steps or 0
    phase = f" ({status.phase})" if status.phase else ""
    share = f" ({step / total:.0%})" if total else ""
    head = Text.assemble(
        (status.state.upper() + phase, "bold"), f"   step {step}/{total or '?'}{share}"
    )
    progress = Text(f"elapsed {duration(elapsed_s(status, now))}   ETA {eta_words(status)}")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    if watch.reward:
        _reward_rows(grid, watch)
    elif watch.train_loss:
        step_at, loss = watch.train_loss.latest
        grid.add_row("loss", f"{loss:.4f} (step {step_at})")
    if watch.eval_loss:
        step_at, loss = watch.eval_loss.latest
        grid.add_row("eval loss", f"{loss:.4f} (step {step_at})")
    if watch.last_eval is not None and "accuracy" in watch.last_eval.metrics:
        grid.add_row(
            "pair accuracy",
            f"{watch.last_eval.metrics['accuracy']:.1%} of held-out pairs "
            f"(step {watch.last_eval.step})",
        )
    log = watch.last_log
    if log is not None:
        grad = "n/a" if log.grad_norm is None else f"{log.grad_norm:.3f}"
        grid.add_row("lr / grad norm", f"{log.learning_rate:.2e} / {grad}")
        speed = [f"{log.tokens_per_s:,.0f} tok/s"] if log.tokens_per_s else []
        if log.step_times is not None:
            times = log.step_times
            speed.append(f"{step_seconds(times.step_s)}/step")
            if times.device_busy is not None:
                speed.append(f"GPU busy {times.device_busy:.0%}")
        if speed:
            grid.add_row("speed", ", ".join(speed))
    _memory_rows(grid, status, watch, report)
    return Group(head, share_bar(step, total or None, width=30), progress, grid)


def _reward_rows(grid: Table, watch: RunWatch) -> None:
    """Online RL: the mean reward (and where it started), each function's, the KL and the
    completions' length."""
    step, reward = watch.reward.latest
    first = watch.reward.first[1]
    metrics = watch.last_log.metrics if watch.last_log is not None else {}
    spread = f" ± {metrics['reward_std']:.3f}" if "reward_std" in metrics else ""
    grid.add_row("reward", f"{reward:.3f}{spread} (step {step}; {first:.3f} at the start)")
    each = reward_means(metrics)
    if each:
        grid.add_row("per function", ", ".join(f"{k} {v:.2f}" for k, v in each.items()))
    if "kl" in metrics:
        grid.add_row("KL", f"{metrics['kl']:.4f}")
    words = completion_words(metrics)
    if words:
        grid.add_row("completions", words)


def problem_view(status: RunStatus, name: str) -> RenderableType | None:
    """What went wrong and what to do, for a failed or damaged run; None otherwise."""
    if status.state == "damaged":
        return Text(f"x DAMAGED: {status.damage}", style="bold red")
    if status.state != "failed":
        return None
    lines: list[RenderableType] = [
        Text(f"x FAILED: {status.error or 'see the trainer log'}", style="bold red")
    ]
    for index, item in enumerate(status.advice or ()):
        lines.append(Text(f"  {index + 1}. {item.text} (saves about {item.saves_gib:.1f} GB)"))
    if status.advice:
        lines.append(
            Text("Press a to resume with advice 1, or u to pick a checkpoint.", style="bold")
        )
    else:
        lines.append(
            Text(f"The trainer log is {name}/trainer.log; u picks a checkpoint to resume.")
        )
    return Group(*lines)
