"""The first screen: what this machine has to train with, and the runs so far."""

from __future__ import annotations

from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from ftwizard.core.hardware.gpus import target_from_report
from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.tui.screens.base import WizardScreen
from ftwizard.tui.widgets.hardware_panel import HardwarePanel
from ftwizard.tui.widgets.runs_table import RunsTable, next_action


class StartScreen(WizardScreen):
    """The hardware report and the runs list; ``n`` starts the wizard's steps."""

    BINDINGS = [
        Binding("n", "new_run", "New run"),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    class HardwareProbed(Message):
        """The probe worker finished."""

        def __init__(self, report: HardwareReport) -> None:
            super().__init__()
            self.report = report

    def __init__(self, hardware_probe: Callable[[], HardwareReport]) -> None:
        super().__init__()
        self._probe = hardware_probe

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "Welcome to ftwizard. Press n for a new run: pick a model, a dataset and a "
            "purpose, and the planner picks a method that fits this machine.",
            id="intro",
        )
        yield HardwarePanel()
        yield Static("", id="runs-help", classes="help")
        yield RunsTable(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self._fill_runs()

    def action_refresh(self) -> None:
        self.query_one(HardwarePanel).loading = True
        self._run_probe()
        self._fill_runs()

    def _fill_runs(self) -> None:
        table = self.query_one(RunsTable)
        table.fill(self.wizard.state.runs_root, now=self.wizard.clock())
        help_text = self.query_one("#runs-help", Static)
        root = self.wizard.state.runs_root
        if table.row_count:
            help_text.update(
                f"Runs in {root}/ - Enter opens the highlighted one: attach to a running run, "
                "resume a stopped or failed one, or see a finished one's results."
            )
        else:
            help_text.update(f"No runs in {root}/ yet.")
        table.display = table.row_count > 0

    @work(thread=True, exclusive=True, exit_on_error=False, group="probe")
    def _run_probe(self) -> None:
        # NVML queries can block for a moment, and a CPU's speed is measured on first
        # use (~5 s, core/hardware/cpu_speed.py): neither on the event loop.
        report = self._probe()
        target_from_report(report)
        self.post_message(self.HardwareProbed(report))

    def on_start_screen_hardware_probed(self, message: HardwareProbed) -> None:
        panel = self.query_one(HardwarePanel)
        panel.report = message.report
        panel.loading = False
        self.wizard.state.report = message.report

    def action_new_run(self) -> None:
        if self.wizard.state.report is None:
            self.notify("Still reading the hardware; try again in a moment.")
            return
        self.wizard.start_wizard()

    @on(DataTable.RowSelected, "#runs")
    def _open_run(self, event: DataTable.RowSelected) -> None:
        table = self.query_one(RunsTable)
        run = table.runs[str(event.row_key.value)]
        status = run.read_status()
        action = next_action(status.state)
        if action == "why":
            self.notify(f"damaged: {status.damage}", severity="error", timeout=15)
        elif action == "resume":
            from ftwizard.tui.screens.resume import ResumeScreen

            self.app.push_screen(ResumeScreen(run))
        elif action == "results":
            from ftwizard.tui.screens.done import DoneScreen

            self.app.push_screen(DoneScreen(run))
        else:
            self.wizard.open_dashboard(run)
