"""The training dashboard: a live view of one run folder, also reached by attach.

It reads the run's files only (events and status), so it can be closed and opened
again at any time; stop and save-checkpoint are signals to the trainer process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Header, RichLog, Static

from ftwizard.core.errors import in_words
from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.core.runs.completions import read_completions
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.launch import request_checkpoint, stop
from ftwizard.core.runs.resume import plan_resume, start_resume
from ftwizard.core.runs.status import RunStatus
from ftwizard.core.runs.watch import RunWatch, describe
from ftwizard.tui.screens.base import WizardScreen
from ftwizard.tui.screens.prompt import Choose
from ftwizard.tui.widgets.chart import ChartView
from ftwizard.views.completions import completions_view
from ftwizard.views.run_charts import (
    RECENT_STEPS,
    ChartOptions,
    loss_chart,
    memory_chart,
    objective_chart,
    objective_kind,
    objective_title,
    speed_chart,
)
from ftwizard.views.run_status import problem_view, status_view
from ftwizard.views.step_times import step_time_view

POLL_S = 0.5
# Charts are drawn again at most this often while events come in (each redraw is a few
# plotext builds, tens of milliseconds taken from a trainer on the same cores).
CHART_REDRAW_S = 2.0
TALL_ENOUGH_FOR_HELP = 30
HARDWARE_POLL_S = 3.0


class DashboardScreen(WizardScreen):
    BINDINGS = [
        Binding("s", "stop", "Stop"),
        Binding("c", "checkpoint", "Save now"),
        Binding("d", "detach", "Detach"),
        Binding("o", "folder", "Folder"),
        Binding("g", "completions", "Completions"),
        Binding("t", "step_times", "Time"),
        Binding("a", "apply_advice", "Resume with advice"),
        Binding("u", "resume_picker", "Resume..."),
        Binding("enter", "results", "Results"),
        Binding("escape", "back", "Back"),
        # The charts' own keys: named in the chart's border, not in the footer.
        Binding("v", "swap_chart", "Other chart", show=False),
        Binding("e", "chart_option('smooth')", "Smooth", show=False),
        Binding("l", "chart_option('log_scale')", "Log scale", show=False),
        Binding("w", "chart_option('recent')", "Last steps", show=False),
    ]

    class HardwareRead(Message):
        def __init__(self, report: HardwareReport) -> None:
            super().__init__()
            self.report = report

    def __init__(self, run: RunFolder) -> None:
        super().__init__()
        self.run = run
        self.tail = RunWatch(run)
        self.status = RunStatus()
        self.report: HardwareReport | None = None
        self._stats_shown: tuple[object, ...] = ()
        self._outcome_shown: tuple[object, ...] = ()
        self._completions_shown: int | None = -1
        self._step_times_shown: int | None = -1
        self._timed = False
        self.options = ChartOptions()
        self._charts_stale, self._charts_drawn = False, 0.0
        self.main_chart: str | None = None
        """"loss", "objective" or "memory": None until the run's kind is known (online RL
        opens on its reward, a run that ran out of memory on its memory)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"run {self.run.name}"), id="run-title")
        yield Static(
            "s: stop with a checkpoint   d: leave it training (attach again later)",
            classes="help",
        )
        yield Static("", id="run-problem", classes="problem")
        with Horizontal(id="dash-top"):
            yield ChartView(id="main-chart")
            yield Static("", id="run-stats")
        with Horizontal(id="dash-charts"):
            yield ChartView(id="lower-chart")
            yield ChartView(id="speed-chart")
        # min_width: RichLog renders every line at least 78 columns wide by default, one
        # more than an 80-column terminal leaves it, and a sideways scrollbar appears.
        yield RichLog(id="event-log", max_lines=500, wrap=True, min_width=20)
        yield Static("", id="completions")
        yield Static("", id="step-times")
        # The most keys of any screen (online RL adds one): compact, to fit 80 columns.
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#main-chart").border_title = "Loss"
        self.query_one("#lower-chart").border_title = "Memory"
        self.query_one("#speed-chart").border_title = "Speed"
        self.query_one("#event-log").border_title = "Events"
        self.query_one("#completions").border_title = "Latest completions (g: events)"
        self.query_one("#step-times").border_title = "Where a step goes (t: events)"
        self.refresh_view()
        self.call_after_refresh(self._show_charts)  # again at the charts' laid-out size
        self.set_interval(POLL_S, self.refresh_view)
        self.set_interval(HARDWARE_POLL_S, self._read_hardware)
        self._read_hardware()

    def refresh_view(self) -> None:
        """Read what the trainer wrote since the last look (a small file read).

        Widgets are touched only when what they show changed: on a machine whose
        cores all train, every redraw of the dashboard is time taken from the trainer.
        """
        events = self.tail.poll()
        self.status = self.run.read_status()
        if events:
            log = self.query_one("#event-log", RichLog)
            for event in events:
                log.write(describe(event))
            self._charts_stale = True
            timed = self.tail.last_log is not None and self.tail.last_log.step_times is not None
            if timed != self._timed:  # the step-time key is offered once there are times
                self._timed = timed
                self.refresh_bindings()
        if self._charts_stale and time.monotonic() - self._charts_drawn >= CHART_REDRAW_S:
            self._show_charts()
        self._show_stats()
        self._show_completions()
        self._show_step_times()
        # The banner and the keys on offer follow the state (and a failure's words).
        outcome = (self.status.state, self.status.error, self.status.advice)
        if outcome == self._outcome_shown:
            return
        self._outcome_shown = outcome
        self._fit_height()
        problem = problem_view(self.status, str(self.run.path))
        banner = self.query_one("#run-problem", Static)
        if problem is not None:
            banner.update(problem)
        elif self.status.state == "finished":
            banner.update("finished: press Enter for the results (merge, sample, new run).")
        elif self.status.state == "stopped":
            banner.update("stopped with a resumable checkpoint: press u to resume.")
        else:
            banner.update("")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.status.state
        if action in ("stop", "checkpoint"):
            return self.status.active
        if action == "apply_advice":
            return state == "failed" and bool(self.status.advice)
        if action == "resume_picker":
            return state in ("failed", "stopped")
        if action == "results":
            return state == "finished"
        if action == "completions":
            return bool(self.tail.reward)  # online RL only
        if action == "step_times":  # not beside a failure's keys (`runs NAME` shows them)
            log = self.tail.last_log
            timed = log is not None and log.step_times is not None
            return timed and (self.status.active or state == "finished")
        return True

    def _main_charts(self) -> list[str]:
        """What the main box can show, in the order ``v`` goes through them."""
        has_objective = objective_kind(self.tail) is not None
        return ["loss", *(["objective"] if has_objective else []), "memory"]

    def _show_charts(self) -> None:
        self._charts_stale, self._charts_drawn = False, time.monotonic()
        watch, box = self.tail, self.query_one("#main-chart", ChartView)
        width = max(20, box.content_size.width)
        options = replace(self.options, width=width)
        if self.main_chart is None and (watch.train_loss or self.status.oom):
            oom = self.status.oom and self.status.state == "failed"
            self.main_chart = "memory" if oom else "objective" if watch.reward else "loss"
        shown = self.main_chart if self.main_chart in self._main_charts() else "loss"
        if shown == "objective":
            box.chart = objective_chart(watch, options) or loss_chart(watch, options)
            box.border_title = objective_title(watch)
        elif shown == "memory":
            box.chart = memory_chart(watch, self.status, options)
            box.border_title = "Memory"
        else:
            box.chart = loss_chart(watch, options)
            box.border_title = "Loss"
        box.border_subtitle = self._chart_keys(shown, width)
        small = ChartOptions(recent=self.options.recent, width=width // 2)
        left = self.query_one("#lower-chart", ChartView)
        if shown == "memory":  # the memory is in the main box: the loss takes its place
            left.chart, left.border_title = loss_chart(watch, small), "Loss"
        else:
            left.chart, left.border_title = memory_chart(watch, self.status, small), "Memory"
        self.query_one("#speed-chart", ChartView).chart = speed_chart(watch, small)

    def on_resize(self) -> None:
        self._fit_height()
        self.call_after_refresh(self._show_charts)

    def _fit_height(self) -> None:
        """A short terminal gives the help line's row to the events (the footer has the
        keys), and beside a failure's words it keeps the main chart and the events."""
        short = self.size.height < TALL_ENOUGH_FOR_HELP
        self.query_one(".help").display = not short
        failed = problem_view(self.status, "") is not None
        self.query_one("#dash-charts").display = not (short and failed)

    def _chart_keys(self, shown: str, width: int) -> str:
        """The chart's keys, in its border (the footer has no room for them): in words
        where they fit, the keys alone where not."""
        o = self.options
        charts = self._main_charts()
        following = charts[(charts.index(shown) + 1) % len(charts)]
        names = {"objective": objective_title(self.tail).lower()}
        keys = [
            ("v", names.get(following, following)),
            ("e", "raw" if o.smooth else "smooth"),
            ("l", "linear" if o.log_scale else "log"),
            ("w", "all" if o.recent else f"last {RECENT_STEPS}"),
        ]
        spelled = [f"{key} {word}" for key, word in keys]
        for words in (" · ".join(spelled), " ".join(spelled)):
            if len(words) <= width - 6:
                return words
        return "keys " + " ".join(key for key, _ in keys)

    def action_swap_chart(self) -> None:
        """The next chart in the main box: the loss, the objective's own (reward and KL,
        the preference rewards, the eval loss across stages), the memory."""
        charts = self._main_charts()
        shown = self.main_chart if self.main_chart in charts else "loss"
        self.main_chart = charts[(charts.index(shown) + 1) % len(charts)]
        self._show_charts()

    def action_chart_option(self, option: str) -> None:
        """Smoothing, a log scale, or only the last steps: on or off."""
        self.options = replace(self.options, **{option: not getattr(self.options, option)})
        self._show_charts()

    def _show_completions(self) -> None:
        panel = self.query_one("#completions", Static)
        if not panel.display:
            return
        latest = read_completions(self.run)
        shown = None if latest is None else latest.step
        if shown == self._completions_shown:
            return
        self._completions_shown = shown
        panel.update(completions_view(latest))

    def _show_step_times(self) -> None:
        panel = self.query_one("#step-times", Static)
        log = self.tail.last_log
        if not panel.display or log is None:
            return
        if log.step == self._step_times_shown:
            return
        self._step_times_shown = log.step
        panel.update(step_time_view(log.step_times, log.step))

    def _swap_with_events(self, panel_id: str) -> None:
        """Show ``panel_id`` in place of the events, or the events again."""
        panel = self.query_one(panel_id, Static)
        showing = not panel.display
        for other in ("#completions", "#step-times"):
            self.query_one(other, Static).display = False
        panel.display = showing
        self.query_one("#event-log", RichLog).display = not showing
        self._completions_shown = self._step_times_shown = -1

    def action_completions(self) -> None:
        """Show the latest prompt's completions and rewards in place of the events."""
        self._swap_with_events("#completions")
        self._show_completions()

    def action_step_times(self) -> None:
        """Show where the latest steps' time went in place of the events."""
        self._swap_with_events("#step-times")
        self._show_step_times()

    @work(thread=True, exclusive=True, group="hardware")
    def _read_hardware(self) -> None:
        self.post_message(self.HardwareRead(self.wizard.hardware_probe()))

    def on_dashboard_screen_hardware_read(self, message: HardwareRead) -> None:
        self.report = message.report
        self._show_stats()

    def _show_stats(self) -> None:
        now = self.wizard.clock()
        # The figures change with a new event, a new status, a hardware reading or
        # the elapsed time's next second; redrawing in between only costs CPU.
        shown = (self.status, self.tail.offset, self.report, int(now))
        if shown == self._stats_shown:
            return
        self._stats_shown = shown
        # The panel's height is fixed by the stylesheet: no new layout is needed.
        self.query_one("#run-stats", Static).update(
            status_view(self.status, self.tail, self.report, now=now), layout=False
        )

    def action_stop(self) -> None:
        def answered(answer: str | None) -> None:
            if answer != "stop":
                return
            if self._attempt(lambda: stop(self.run)):
                self.notify("Stopping: the trainer saves a resumable checkpoint first.")

        self.app.push_screen(
            Choose(
                f"Stop {self.run.name}? It saves a resumable checkpoint first.",
                [("stop", "Stop training", "s"), ("cancel", "Keep training", "k")],
            ),
            answered,
        )

    def _attempt(self, act: Callable[[], object]) -> bool:
        """Run ``act`` (a signal to the trainer, a resume); a failure becomes a notice."""
        try:
            act()
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.notify(in_words(error), severity="error", timeout=10)
            return False
        return True

    def action_checkpoint(self) -> None:
        if self._attempt(lambda: request_checkpoint(self.run)):
            self.notify("Asked for a checkpoint: it is saved after the current step.")

    def action_detach(self) -> None:
        self.app.exit(
            0,
            message=f"Detached; {self.run.name} keeps training. "
            f"Attach again with `ftwizard` or `ftwizard attach {self.run.name}`.",
        )

    def action_folder(self) -> None:
        self.app.copy_to_clipboard(str(self.run.path.resolve()))
        self.notify(
            f"{self.run.path.resolve()} (copied to the clipboard where the terminal allows)"
        )

    def action_apply_advice(self) -> None:
        def resume() -> None:
            plan = plan_resume(self.run, apply_oom_advice=True)
            start_resume(plan)
            self.notify(f"Resuming from {plan.where} with: {plan.advice}")

        self._attempt(resume)

    def action_resume_picker(self) -> None:
        from ftwizard.tui.screens.resume import ResumeScreen

        self.app.push_screen(ResumeScreen(self.run))

    def action_results(self) -> None:
        from ftwizard.tui.screens.done import DoneScreen

        self.app.push_screen(DoneScreen(self.run))

    def action_back(self) -> None:
        self.app.pop_screen()
