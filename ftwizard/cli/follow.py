"""Following a run folder from the terminal: a Rich live view, or plain lines without a TTY.

The view only reads ``events.jsonl`` (from where it left off) and ``status.json``;
Ctrl+C asks the trainer to save a checkpoint and stop, and closing the terminal
leaves it training.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import out
from ftwizard.core.lifetime import EXIT_HANGUP, exit_on_hangup, leave, terminal_hung_up
from ftwizard.core.runs.folder import ACTIVE, RunFolder
from ftwizard.core.runs.launch import stop
from ftwizard.core.runs.watch import RunWatch, describe, duration, eta_words

POLL_S = 0.5
SPARK = "▁▂▃▄▅▆▇█"
EXIT_FINISHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


def sparkline(values: list[float], width: int = 24) -> str:
    values = values[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in values)


class Follower:
    """The Rich view of a :class:`RunWatch`."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run
        self.watch = RunWatch(run, log_lines=6)

    def poll(self) -> list[dict[str, Any]]:
        return self.watch.poll()

    @property
    def last_error(self) -> dict[str, Any] | None:
        return self.watch.last_error

    def view(self, status: dict[str, Any]) -> RenderableType:
        step, total = status.get("step") or 0, status.get("max_steps") or 0
        started = status.get("started_at")
        elapsed = time.time() - started if started else None
        header = Text.assemble(
            (f"{self.run.name}", "bold"),
            f"  {status.get('state')}",
            f" ({status.get('phase')})" if status.get("phase") else "",
        )
        bar = ProgressBar(total=max(total, 1), completed=step, width=50)
        progress = Text(
            f"step {step}/{total or '?'}   elapsed {duration(elapsed)}   ETA {eta_words(status)}"
        )
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        log = self.watch.last_log
        losses = [value for _, value in self.watch.train_loss]
        if losses:
            grid.add_row("loss", f"{losses[-1]:.4f}  {sparkline(losses)}")
        if status.get("last_eval_loss") is not None:
            grid.add_row("eval loss", f"{status['last_eval_loss']:.4f}")
        if log.get("tokens_per_s"):
            grid.add_row("tokens/s", f"{log['tokens_per_s']:.0f}")
        if "gpu_allocated_gb" in log:
            grid.add_row(
                "GPU memory",
                f"{log['gpu_allocated_gb']:.1f} GB allocated, peak {log['gpu_peak_gb']:.1f} GB",
            )
        elif "ram_gb" in log:
            grid.add_row("RAM", f"{log['ram_gb']:.1f} GB")
        events = Text("\n".join(self.watch.recent), style="dim")
        hint = Text(
            "Ctrl+C stops with a checkpoint; closing the terminal leaves it training "
            f"(ftwizard attach {self.run.name}).",
            style="dim",
        )
        return Group(header, bar, progress, grid, events, hint)


def _exit_code(run: RunFolder, follower: Follower) -> int:
    status = run.read_status()
    state = status.get("state")
    if state == "finished":
        out.print(
            Text(
                f"finished: final loss {status.get('final_loss')}, eval loss "
                f"{status.get('final_eval_loss')}; output in {status.get('output')}",
                style="bold green",
            )
        )
        return EXIT_FINISHED
    if state == "stopped":
        out.print(
            Text(
                f"stopped at step {status.get('step')} with a resumable checkpoint; "
                f"continue with `ftwizard resume {run.name}`",
                style="bold yellow",
            )
        )
        return EXIT_STOPPED
    if state == "damaged":
        out.print(Text(f"damaged: {status.get('damage')}", style="bold red"))
        return EXIT_BAD_INPUT
    out.print(Text(f"failed: {status.get('error')}", style="bold red"))
    for advice in status.get("advice") or []:
        out.print(f"  - {advice['text']} (saves about {advice['saves_gib']:.1f} GB)")
    if status.get("advice"):
        out.print(f"Apply the first with `ftwizard resume {run.name} --apply-oom-advice`.")
    out.print(f"The trainer's log: {run.log_path}", style="dim")
    error = follower.last_error or {}
    return EXIT_BAD_INPUT if error.get("kind") == "input" else EXIT_FAILED


def _sleep_unless_hung_up(terminal: int | None) -> None:
    """A hang-up whose signal never arrived (it was ignored) still ends the view."""
    if terminal is not None and terminal_hung_up(terminal):
        leave(EXIT_HANGUP)
    time.sleep(POLL_S)


def follow(run: RunFolder, live: bool | None = None) -> int:
    """Follow until the run ends; Ctrl+C stops it with a checkpoint. Returns the exit code."""
    follower = Follower(run)
    live = out.is_terminal if live is None else live
    with exit_on_hangup():  # closing the terminal ends this view; the trainer goes on
        return _follow(run, follower, live)


def _follow(run: RunFolder, follower: Follower, live: bool) -> int:
    terminal = sys.stdout.fileno() if sys.stdout.isatty() else None
    try:
        if live:
            with Live(
                follower.view(run.read_status()), console=out, refresh_per_second=4, transient=False
            ) as screen:
                while True:
                    follower.poll()
                    status = run.read_status()
                    screen.update(follower.view(status))
                    if status.get("state") not in ACTIVE:
                        break
                    _sleep_unless_hung_up(terminal)
        else:
            while True:
                for event in follower.poll():
                    out.print(describe(event), markup=False, highlight=False)
                if run.read_status().get("state") not in ACTIVE:
                    for event in follower.poll():
                        out.print(describe(event), markup=False, highlight=False)
                    break
                _sleep_unless_hung_up(terminal)
    except KeyboardInterrupt:
        out.print("stopping: the trainer saves a checkpoint first...")
        try:
            stop(run, wait_s=600)
        except Exception as error:  # noqa: BLE001 - report and fall through to the status
            out.print(f"could not stop it: {error}")
    return _exit_code(run, follower)
