"""The dashboard's figures: progress, speed, optimiser state and memory, in words."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.core.runs.folder import ACTIVE
from ftwizard.core.runs.watch import RunWatch, duration, eta_words
from ftwizard.core.units import gib, percent
from ftwizard.tui.widgets.bars import share_bar


def stats_view(
    status: dict[str, Any], watch: RunWatch, report: HardwareReport | None, now: float | None = None
) -> RenderableType:
    now = time.time() if now is None else now
    step, total = int(status.get("step") or 0), int(status.get("max_steps") or 0)
    state = str(status.get("state"))
    phase = f" ({status['phase']})" if status.get("phase") else ""
    started = status.get("started_at")
    end = now if state in ACTIVE else status.get("finished_at") or status.get("stopped_at") or now
    elapsed = end - started if started else None
    share = f"{step / total:.0%}" if total else "?"
    head = Text.assemble(("state: ", "bold"), (state.upper() + phase, "bold"))
    bar = share_bar(step, total or None, width=30)
    progress = Text(
        f"step {step}/{total or '?'} ({share})   elapsed {duration(elapsed)}   "
        f"ETA {eta_words(status)}"
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    log = watch.last_log
    if watch.train_loss:
        grid.add_row("loss", f"{watch.train_loss[-1][1]:.4f} (step {watch.train_loss[-1][0]})")
    if watch.eval_loss:
        grid.add_row("eval loss", f"{watch.eval_loss[-1][1]:.4f} (step {watch.eval_loss[-1][0]})")
    if log.get("learning_rate") is not None:
        grad = log.get("grad_norm")
        grid.add_row(
            "lr / grad norm",
            f"{log['learning_rate']:.2e} / {'n/a' if grad is None else f'{grad:.3f}'}",
        )
    if log.get("tokens_per_s"):
        grid.add_row("tokens/s", f"{log['tokens_per_s']:,.0f}")
    estimate = status.get("estimate_gb")
    planned = f", plan estimate {estimate:.1f} GB" if isinstance(estimate, (int, float)) else ""
    gpu = report.gpus[0] if report and report.gpus else None
    if "gpu_allocated_gb" in log:
        total_gb = f" of {gib(gpu.memory_total_bytes)}" if gpu else ""
        grid.add_row(
            "GPU memory",
            f"{log['gpu_allocated_gb']:.1f} GB allocated{total_gb}, "
            f"peak {log['gpu_peak_gb']:.1f} GB{planned}",
        )
    elif "ram_gb" in log:
        peak = watch.peak_memory_gb or log["ram_gb"]
        grid.add_row(
            "trainer RAM", f"{log['ram_gb']:.1f} GB, peak {peak:.1f} GB{planned} (CPU training)"
        )
    if watch.memory_per_rank:
        grid.add_row("per GPU (rank)", watch.memory_per_rank)
    if gpu is not None:
        grid.add_row("GPU utilisation", percent(gpu.utilization_percent))
    if report is not None:
        grid.add_row(
            "machine RAM",
            f"{gib(report.ram_available_bytes)} free of {gib(report.ram_total_bytes)}",
        )
    return Group(head, bar, progress, grid)


def problem_view(status: dict[str, Any], name: str) -> RenderableType | None:
    """What went wrong and what to do, for a failed run; None otherwise."""
    if status.get("state") != "failed":
        return None
    lines: list[RenderableType] = [
        Text(f"x FAILED: {status.get('error') or 'see the trainer log'}", style="bold red")
    ]
    advice = status.get("advice") or []
    for index, item in enumerate(advice):
        lines.append(
            Text(f"  {index + 1}. {item['text']} (saves about {item['saves_gib']:.1f} GB)")
        )
    if advice:
        lines.append(
            Text("Press a to resume with advice 1, or u to pick a checkpoint.", style="bold")
        )
    else:
        lines.append(
            Text(f"The trainer log is {name}/trainer.log; u picks a checkpoint to resume.")
        )
    return Group(*lines)
