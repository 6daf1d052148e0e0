"""Step 5: the resolved configuration, the headless command that repeats it, and the launch."""

from __future__ import annotations

from rich.syntax import Syntax
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Button, Static

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import dump_config
from ftwizard.core.errors import in_words
from ftwizard.core.runs.folder import RunFolder, default_run_name, runs_root
from ftwizard.core.runs.preflight import prepare_launch, start_run
from ftwizard.tui.screens.step import StepScreen


def headless_command(config: RunConfig) -> str:
    """The command that runs this configuration again without the wizard."""
    name = config.output.run_name
    saved = runs_root(config) / str(name) / "config.yaml"
    return f"ftwizard --preset {saved} --set output.run_name={name}-again"


class ReviewScreen(StepScreen):
    STEP = "Review"

    class Launched(Message):
        def __init__(self, run: RunFolder | None, error: str | None) -> None:
            super().__init__()
            self.run, self.error = run, error

    def __init__(self) -> None:
        super().__init__()
        config = self.state.config
        if not config.output.run_name:
            # Named now, so the command shown below is the one that repeats this run.
            config = config.with_sections(output={"run_name": default_run_name(config)})
        self.config = config

    def compose_body(self) -> ComposeResult:
        yield Static(
            "This configuration is saved in the run folder. Launch starts the trainer in the "
            "background: quitting this window, or losing SSH, does not stop it.",
            classes="help",
        )
        yield Static(f"$ {headless_command(self.config)}", id="headless-command", classes="panel")
        yield Static(Syntax(dump_config(self.config), "yaml", theme="ansi_dark"), id="yaml")

    def on_mount(self) -> None:
        self.query_one("#next", Button).label = "Launch (Ctrl+N)"
        self.query_one("#headless-command", Static).border_title = "Headless command"

    def go_next(self) -> None:
        self.set_ready(False)
        self.say_problem("Checking the model and the data, then starting the trainer...")
        self._launch(self.config)

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self, config: RunConfig) -> None:
        try:
            # The headless command's launch, step for step (core/runs/preflight.py).
            report = self.state.report or self.wizard.hardware_probe()
            launch_plan = prepare_launch(config, report)  # converts a built-in model once
            plan = self.state.plan
            decisions = [(d.topic, d.choice, d.reason) for d in plan.decisions] if plan else None
            run = start_run(launch_plan, decisions)
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.post_message(self.Launched(None, in_words(error)))
            return
        self.post_message(self.Launched(run, None))

    def on_review_screen_launched(self, message: Launched) -> None:
        if message.run is None:
            self.say_problem(f"x {message.error}")
            self.set_ready(True)
            return
        self.state.config = self.config
        self.wizard.open_dashboard(message.run)
