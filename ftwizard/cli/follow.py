"""Following a run folder from the terminal: a Rich live view, or plain lines without a TTY.

The view only reads ``events.jsonl`` (from where it left off) and ``status.json``;
Ctrl+C asks the trainer to save a checkpoint and stop, and closing the terminal
leaves it training.
"""

from __future__ import annotations

import sys
import time

from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from ftwizard.cli.console import out
from ftwizard.core.lifetime import EXIT_HANGUP, exit_on_hangup, leave, terminal_hung_up
from ftwizard.core.runs.completions import LatestCompletions, read_completions
from ftwizard.core.runs.events import AnyEvent, Failure
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.launch import stop
from ftwizard.core.runs.status import RunStatus
from ftwizard.core.runs.watch import RunWatch, describe
from ftwizard.views.charts import draw
from ftwizard.views.completions import completions_view
from ftwizard.views.run_charts import ChartOptions, loss_chart
from ftwizard.views.run_status import status_view
from ftwizard.views.step_times import step_time_view

POLL_S = 0.5
# The loss chart in the live view: its rows, and the terminal height that leaves room
# for it below the figures (a shorter terminal shows the figures alone).
CHART_ROWS, CHART_FROM_HEIGHT = 10, 36
EXIT_FINISHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


class Follower:
    """The live view of a run: the shared status view (``views/run_status.py``), the
    latest events and how to leave."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run
        self.watch = RunWatch(run, log_lines=6)
        self._completions: LatestCompletions | None = None
        self._chart: tuple[tuple[int, int], Text] | None = None

    def poll(self) -> list[AnyEvent]:
        return self.watch.poll()

    @property
    def last_error(self) -> Failure | None:
        return self.watch.last_error

    def view(self, status: RunStatus) -> RenderableType:
        name = Text(self.run.name, style="bold")
        events = Text("\n".join(self.watch.recent), style="dim")
        hint = Text(
            "Ctrl+C stops with a checkpoint; closing the terminal leaves it training "
            f"(ftwizard attach {self.run.name}).",
            style="dim",
        )
        parts: list[RenderableType] = [name, status_view(status, self.watch)]
        chart = self.loss_chart()
        if chart is not None:
            parts.append(chart)
        if self.watch.reward:  # online RL: what the rewards were given for
            parts.append(self._latest_completions())
        log = self.watch.last_log
        if log is not None and log.step_times is not None:
            parts.append(step_time_view(log.step_times, log.step))
        return Group(*parts, events, hint)

    def loss_chart(self) -> Text | None:
        """The dashboard's loss chart, drawn again only when an event came in."""
        if out.height < CHART_FROM_HEIGHT or not self.watch.train_loss:
            return None
        width = min(out.width, 100)
        key = (self.watch.offset, width)
        if self._chart is None or self._chart[0] != key:
            chart = loss_chart(self.watch, ChartOptions(width=width))
            self._chart = (key, draw(chart, width, CHART_ROWS))
        return self._chart[1]

    def _latest_completions(self) -> RenderableType:
        """The completions panel. The file is read again only until it holds the newest
        logged step (the trainer writes it just after the step's event; the view redraws
        twice a second)."""
        step = self.watch.reward.latest[0]
        if self._completions is None or self._completions.step < step:
            self._completions = read_completions(self.run)
        return completions_view(self._completions)


def _exit_code(run: RunFolder, follower: Follower) -> int:
    status = run.read_status()
    if status.state == "finished":
        out.print(
            Text(
                f"finished: final loss {status.final_loss}, eval loss "
                f"{status.final_eval_loss}; output in {status.output}",
                style="bold green",
            )
        )
        return EXIT_FINISHED
    if status.state == "stopped":
        out.print(
            Text(
                f"stopped at step {status.step} with a resumable checkpoint; "
                f"continue with `ftwizard resume {run.name}`",
                style="bold yellow",
            )
        )
        return EXIT_STOPPED
    if status.state == "damaged":
        out.print(Text(f"damaged: {status.damage}", style="bold red"))
        return EXIT_BAD_INPUT
    out.print(Text(f"failed: {status.error}", style="bold red"))
    for advice in status.advice or ():
        out.print(f"  - {advice.text} (saves about {advice.saves_gib:.1f} GB)")
    if status.advice:
        out.print(f"Apply the first with `ftwizard resume {run.name} --apply-oom-advice`.")
    out.print(f"The trainer's log: {run.log_path}", style="dim")
    error = follower.last_error
    return EXIT_BAD_INPUT if error is not None and error.kind == "input" else EXIT_FAILED


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
                    if not status.active:
                        break
                    _sleep_unless_hung_up(terminal)
        else:
            while True:
                for event in follower.poll():
                    out.print(describe(event), markup=False, highlight=False)
                if not run.read_status().active:
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
