"""The first screen: what this machine has to train with."""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ftwizard.core.hardware import HardwareReport
from ftwizard.tui.widgets.hardware_panel import HardwarePanel


class StartScreen(Screen[None]):
    """The hardware report; later steps (model, data, plan) start from here."""

    BINDINGS = [
        Binding("r", "refresh", "Refresh hardware"),
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
            "Welcome to ftwizard. This is what the planner sees on this machine; "
            "the next steps pick a model, a dataset and a method that fit it.",
            id="intro",
        )
        yield HardwarePanel()
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one(HardwarePanel).loading = True
        self._run_probe()

    @work(thread=True, exclusive=True, exit_on_error=False, group="probe")
    def _run_probe(self) -> None:
        # NVML queries can block for a moment: never on the event loop.
        self.post_message(self.HardwareProbed(self._probe()))

    def on_start_screen_hardware_probed(self, message: HardwareProbed) -> None:
        panel = self.query_one(HardwarePanel)
        panel.report = message.report
        panel.loading = False
