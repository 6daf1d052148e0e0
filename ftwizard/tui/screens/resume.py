"""The resume picker: a run's checkpoints, what each can do, and the resume itself."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static, Switch

from ftwizard.core.errors import in_words
from ftwizard.core.runs.checkpoints import list_checkpoints
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.resume import ResumePlan, plan_resume, start_resume
from ftwizard.core.runs.stages import checkpoints_of
from ftwizard.tui.screens.base import WizardScreen
from ftwizard.tui.widgets.toggle import Toggle
from ftwizard.views.runs import CHECKPOINT_COLUMNS, checkpoint_cells


class ResumeScreen(WizardScreen):
    BINDINGS = [
        Binding("enter", "resume", "Resume from this one", priority=True),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, run: RunFolder) -> None:
        super().__init__()
        self.run = run
        self.plan: ResumePlan | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        status = self.run.read_status()
        yield Static(
            f"Resume {self.run.name} ({status.state} at step {status.step}). "
            "Pick a checkpoint: only resumable ones continue exactly where they were.",
            classes="help",
        )
        table: DataTable[str] = DataTable(id="checkpoints", cursor_type="row")
        yield table
        advice = bool(status.advice)
        yield Toggle(
            "apply the out-of-memory advice"
            if advice
            else "(no out-of-memory advice for this run)",
            advice,
            "use-advice",
            disabled=not advice,
        )
        yield Input(
            placeholder="changes, e.g. training.num_train_epochs=3 (optional; space-separated)",
            id="resume-set",
        )
        yield Static("", id="resume-diff", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#checkpoints", DataTable)
        table.add_columns(*CHECKPOINT_COLUMNS)
        checkpoints = list_checkpoints(checkpoints_of(self.run))  # a run in stages: the stage's
        for checkpoint in checkpoints:
            table.add_row(
                *checkpoint_cells(checkpoint, with_problem=False),
                key=str(checkpoint.step),
            )
        resumable = [c for c in checkpoints if c.resumable]
        if resumable:  # start on the newest checkpoint that can resume
            table.move_cursor(row=table.get_row_index(str(resumable[-1].step)))
        self._replan()

    def _chosen_step(self) -> int | None:
        table = self.query_one("#checkpoints", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(str(key))

    @on(DataTable.RowHighlighted, "#checkpoints")
    @on(Switch.Changed, "#use-advice")
    @on(Input.Changed, "#resume-set")
    def _replan(self) -> None:
        panel = self.query_one("#resume-diff", Static)
        step = self._chosen_step()
        if step is None:
            panel.update(Text("No checkpoints yet: this run cannot resume.", style="bold red"))
            return
        try:
            typed = self.query_one("#resume-set", Input).value.split()
            self.plan = plan_resume(
                self.run,
                list(typed),
                checkpoint_step=step,
                apply_oom_advice=self.query_one("#use-advice", Switch).value,
            )
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.plan = None
            panel.update(Text(f"x {in_words(error)}", style="bold red"))
            return
        lines = Text(f"Resumes from checkpoint-{step}.\n", style="bold")
        if self.plan.advice:
            lines.append(f"advice: {self.plan.advice}\n")
        if self.plan.changes:
            lines.append("configuration changes:\n")
            for key, (before, after) in self.plan.changes.items():
                lines.append(f"  - {key}: {before!r}\n", style="red")
                lines.append(f"  + {key}: {after!r}\n", style="green")
        else:
            lines.append("The configuration is unchanged.")
        for key in self.plan.unsafe:
            lines.append(
                f"\nx {key} cannot change on resume (the data order or schedule would break): "
                "start a new run for it.",
                style="bold red",
            )
        panel.update(lines)

    def action_resume(self) -> None:
        if self.plan is None:
            self.notify("Pick a resumable checkpoint first.", severity="warning")
            return
        try:
            start_resume(self.plan, allow_changes=True)
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.notify(in_words(error), severity="error", timeout=10)
            return
        self.wizard.open_dashboard(self.run)

    def action_back(self) -> None:
        self.app.pop_screen()
