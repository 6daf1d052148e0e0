"""The Textual application. Kept small: behaviour lives in screens and widgets."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from textual.app import App
from textual.binding import Binding

from ftwizard import __version__
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.hardware.probe import HardwareReport, probe
from ftwizard.core.lifetime import EXIT_HANGUP, exit_on_hangup, leave, terminal_hung_up
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.launch import stop
from ftwizard.tui.screens.start import StartScreen
from ftwizard.tui.state import WizardState

HardwareProbe = Callable[[], HardwareReport]
HANGUP_CHECK_S = 1.0


class FtwizardApp(App[int]):
    """ftwizard's wizard, from the hardware report to a trained adapter."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "ftwizard"
    SUB_TITLE = f"fine-tuning wizard {__version__}"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    def __init__(
        self,
        hardware_probe: HardwareProbe = probe,
        runs_root: str = "runs",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        # Injected so tests and screenshots can show any hardware at a fixed time.
        self.hardware_probe = hardware_probe
        self.clock = clock
        self.state = WizardState(runs_root=runs_root)

    def on_mount(self) -> None:
        self.push_screen(StartScreen(self.hardware_probe))
        if not self.is_headless and sys.stdin.isatty():
            # A hang-up whose signal never arrives still leaves the terminal dead.
            self.set_interval(HANGUP_CHECK_S, self._check_terminal)

    def _check_terminal(self) -> None:
        if terminal_hung_up(sys.stdin.fileno()):
            leave(EXIT_HANGUP)

    def _back_to_start(self) -> None:
        while not isinstance(self.screen, StartScreen) and len(self.screen_stack) > 1:
            self.pop_screen()

    def start_wizard(self) -> None:
        from ftwizard.tui.screens.model import ModelScreen

        self.push_screen(ModelScreen())

    def open_dashboard(self, run: RunFolder) -> None:
        """Show a run's dashboard on top of the start screen (Esc goes back to the runs)."""
        from ftwizard.tui.screens.dashboard import DashboardScreen

        self._back_to_start()
        self.push_screen(DashboardScreen(run))

    def new_run_from(self, config: RunConfig) -> None:
        """The wizard again, filled in from ``config`` (a finished run's)."""
        self.state = WizardState(
            runs_root=self.state.runs_root,
            report=self.state.report,
            model_id=config.model.model_name_or_path,
            data_path=config.data.path or None,
            config=config.with_sections(output={"run_name": None}),
        )
        self._back_to_start()
        self.start_wizard()

    def next_stage_from(self, run: RunFolder) -> None:
        """The wizard again, from ``run``'s result (``model.from_run``): the next stage of
        the guides' path, e.g. DPO after SFT. The model is chosen; the data step asks for
        the stage's data and the plan follows from it."""
        config = run.read_config()
        start = RunConfig().with_sections(
            model={
                "model_name_or_path": config.model.model_name_or_path,
                "from_run": str(run.path.resolve()),
                "dtype": config.model.dtype,
                "trust_remote_code": config.model.trust_remote_code,
            }
        )
        self.state = WizardState(
            runs_root=self.state.runs_root,
            report=self.state.report,
            model_id=config.model.model_name_or_path,
            config=start,
        )
        self._back_to_start()
        self.start_wizard()

    def watched_active_run(self) -> RunFolder | None:
        """A run shown in a dashboard that is still training."""
        from ftwizard.tui.screens.dashboard import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen) and screen.run.read_status().active:
                return screen.run
        return None

    async def action_quit(self) -> None:
        """Quitting never stops a trainer without asking."""
        from ftwizard.tui.screens.prompt import Choose

        run = self.watched_active_run()
        if run is None:
            self.exit(0)
            return

        def answered(answer: str | None) -> None:
            if answer == "detach":
                self.exit(0, message=f"{run.name} keeps training: `ftwizard attach {run.name}`.")
            elif answer == "stop":
                stop(run)
                self.exit(0, message=f"{run.name} is stopping with a resumable checkpoint.")

        self.push_screen(
            Choose(
                f"{run.name} is training. Quit how?",
                [
                    ("detach", "Quit, keep training", "k"),
                    ("stop", "Stop and quit", "s"),
                    ("cancel", "Cancel", "c"),
                ],
            ),
            answered,
        )


def run_app(runs_root: str = "runs") -> NoReturn:
    """Open the wizard, and end the process with it (``core/lifetime.py``): a hang-up
    ends it at once, and on the way out it waits neither for worker threads nor for the
    processes they started. Only the trainer keeps running."""
    # Our own loop: asyncio.run() would join every worker thread before returning.
    loop = asyncio.new_event_loop()
    with exit_on_hangup():
        result = FtwizardApp(runs_root=runs_root).run(loop=loop)
    leave(result if isinstance(result, int) else 0)
