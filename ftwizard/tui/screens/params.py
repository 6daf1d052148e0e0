"""Step 4: every setting, with the memory estimate and ETA following each edit."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import load_config, save_config
from ftwizard.core.errors import UserError, in_words
from ftwizard.core.files import WouldReplace, check_target
from ftwizard.core.planning.estimator import targeted_modules
from ftwizard.core.runs.preflight import launch_figures
from ftwizard.tui.screens.prompt import AskText, Choose
from ftwizard.tui.screens.step import StepScreen
from ftwizard.tui.widgets.config_form import ConfigForm


class ParamsScreen(StepScreen):
    STEP = "Settings"
    BINDINGS = [
        Binding("ctrl+s", "save_preset", "Save preset"),
        Binding("ctrl+o", "load_preset", "Load preset"),
    ]

    def compose_pinned(self) -> ComposeResult:
        yield Static("", id="estimate", classes="panel pinned")

    def compose_body(self) -> ComposeResult:
        yield ConfigForm(self.state.config, id="form")

    def on_mount(self) -> None:
        self.query_one("#estimate", Static).border_title = "Estimate (updates as you type)"
        self.query_one(ConfigForm).load(self.state.config)

    @on(ConfigForm.Changed)
    def _changed(self, message: ConfigForm.Changed) -> None:
        panel = self.query_one("#estimate", Static)
        if message.config is None:
            count = len(message.problems)
            panel.update(Text(f"{count} field(s) need fixing (marked x below).", style="bold red"))
            general = message.problems.get("")
            self.say_problem(f"x {general}" if general else "Fix the marked fields to go on.")
            self.set_ready(False)
            return
        problem = self._model_problem(message.config)
        if problem:
            panel.update(Text(problem, style="bold red"))
            self.say_problem(f"x {problem}")
            self.set_ready(False)
            return
        self.state.config = message.config
        panel.update(self._estimate_text(message.config))
        self.say_problem("")
        self.set_ready(True)

    def _model_problem(self, config: RunConfig) -> str | None:
        facts = self.state.model_facts
        if facts is None or config.method.adapter == "full":
            return None
        try:
            targeted_modules(facts, config.lora.target_modules)
        except UserError as error:
            return f"lora.target_modules: {error.message}"
        return None

    def _estimate_text(self, config: RunConfig) -> Text:
        facts, data = self.state.model_facts, self.state.data_facts
        if facts is None or data is None:
            return Text("Pick a model and a dataset for an estimate.")
        summary = launch_figures(config, facts, data, self.state.target).summary
        style = {"fits": "bold green", "tight": "bold yellow"}.get(summary.verdict, "bold red")
        return Text.assemble(
            (f"{summary.where}: ", "bold"),
            (summary.words(), style),
            f"\n{config.method.objective} + {config.method.adapter}, effective batch "
            f"{config.training.per_device_train_batch_size}"
            f" x {config.training.gradient_accumulation_steps}, {data.rows:,} examples",
        )

    def action_save_preset(self) -> None:
        name = self.state.config.output.run_name or "my-run"

        def write(answer: str) -> None:
            try:
                save_config(self.state.config, answer)
            except (OSError, UserError) as error:
                self.notify(f"Could not save {answer}: {error}", severity="error")
                return
            self.notify(f"Saved {answer}; run it with: ftwizard --preset {answer}")

        def save(answer: str | None) -> None:
            if not answer:
                return
            try:
                check_target(Path(answer), "the preset")
            except WouldReplace:
                question = f"{answer} exists already. Replace it with these settings?"
                choices = [("replace", "Replace", "r"), ("keep", "Keep it", "k")]
                self.app.push_screen(
                    Choose(question, choices), lambda c: write(answer) if c == "replace" else None
                )
                return
            except UserError as error:
                self.notify(f"Could not save {answer}: {error.message}", severity="error")
                return
            write(answer)

        self.app.push_screen(AskText("Save these settings as a preset file:", f"{name}.yaml"), save)

    def action_load_preset(self) -> None:
        def load(answer: str | None) -> None:
            if not answer:
                return
            try:
                config = load_config(Path(answer))
            except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
                self.notify(in_words(error), severity="error", timeout=10)
                return
            # The model and data stay as chosen in steps 1 and 2.
            kept = self.state.base_config()
            config = config.with_sections(
                model={"model_name_or_path": kept.model.model_name_or_path},
                data={"path": kept.data.path},
            )
            self.query_one(ConfigForm).load(config)
            self.notify(f"Loaded {answer} (model and dataset kept from steps 1 and 2)")

        self.app.push_screen(AskText("Load settings from a preset file:"), load)

    def go_next(self) -> None:
        from ftwizard.tui.screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen())
