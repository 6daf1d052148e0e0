"""A finished run: its losses, where the adapter is, merge, sample, and a new run from it."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Static

from ftwizard.core.errors import UserError, in_words
from ftwizard.core.evaluation.harness import forgetting_advice
from ftwizard.core.evaluation.messages import Progress
from ftwizard.core.evaluation.scoring import evaluate_run
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.scores import EvalReport
from ftwizard.core.runs.stages import result_of, started_stages
from ftwizard.core.trainer_calls import SampleRow, merge_outputs, sample_outputs
from ftwizard.tui.screens.base import WizardScreen
from ftwizard.views.scores import change_line, summary_table

PROMPTS = ["Who are you?", "What can you help me with?"]


def _loss(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"


class DoneScreen(WizardScreen):
    BINDINGS = [
        Binding("c", "chat", "Chat"),
        Binding("e", "evaluate", "Eval"),
        Binding("j", "judge", "Judge"),
        # Said in the help line: the footer holds the rest at 80 columns.
        Binding("s", "sample", "Sample", show=False),
        Binding("m", "merge", "Merge", show=False),
        Binding("n", "new_run", "New run"),
        Binding("f", "next_stage", "Next"),
        Binding("u", "train_longer", "Resume"),
        Binding("escape", "back", "Back"),
    ]

    class Finished(Message):
        def __init__(
            self, what: str, result: str | list[SampleRow] | EvalReport | None, error: str | None
        ) -> None:
            super().__init__()
            self.what, self.result, self.error = what, result, error

    def __init__(self, run: RunFolder) -> None:
        super().__init__()
        self.run = run
        # What merge, sample, chat and the next stage work on: a run in stages stands
        # for its last finished stage.
        try:
            self.result = result_of(run)
        except UserError:
            self.result = run

    def compose(self) -> ComposeResult:
        yield Header()
        status = self.run.read_status()
        summary = Table.grid(padding=(0, 2))
        summary.add_column(style="bold")
        summary.add_column()
        summary.add_row("run", self.run.name)
        summary.add_row("state", status.state)
        stages = started_stages(self.run)
        for stage in stages:
            done = stage.read_status()
            summary.add_row(
                f"stage {stage.number}",
                f"{stage.read_config().method.objective}: {done.state}, final loss "
                f"{_loss(done.final_loss)}\n{stage.final_dir}",
            )
        if not stages:
            summary.add_row("final train loss", _loss(status.final_loss))
            summary.add_row("final eval loss", _loss(status.final_eval_loss))
            summary.add_row("adapter / model", str(self.run.final_dir))
        summary.add_row(
            "use it",
            f"ftwizard chat {self.run.name}\nftwizard export {self.run.name} --ollama NAME",
        )
        yield Static(summary, id="done-summary", classes="panel")
        advice = forgetting_advice(self.result)
        if advice:
            yield Static(Text(advice, style="yellow"), id="done-advice", classes="help")
        yield Static(
            "e scores the base and the fine-tuned answers on the validation rows (ROUGE-L, "
            "BLEU, exact match); j lets you judge them A against B, each decision kept as a "
            "DPO pair; m merges the adapter into the base model; s answers two prompts with "
            "both models; c opens a chat with either or both; n starts a "
            "new run from this configuration; f starts the next stage from this model (DPO "
            "on preference pairs after SFT: the wizard asks for its data).",
            classes="help",
        )
        yield Static("", id="done-output", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#done-summary").border_title = "Finished"

    def _busy(self, text: str) -> None:
        warning = self.run.read_config().model.remote_code_warning()
        if warning:
            self.notify(warning, severity="warning", timeout=10)
        output = self.query_one("#done-output", Static)
        output.update(text)
        output.loading = True

    def action_merge(self) -> None:
        self._busy("Merging...")
        self._work("merge")

    def action_sample(self) -> None:
        self._busy("Generating with both models...")
        self._work("sample")

    def action_evaluate(self) -> None:
        self._busy("Both models answer the validation rows...")
        self._work("eval")

    def action_judge(self) -> None:
        from ftwizard.tui.screens.judge import JudgeScreen

        self.app.push_screen(JudgeScreen(self.result))

    def _moved(self, progress: Progress) -> None:
        text = f"{progress.label} answers {progress.done} of {progress.total}..."
        self.app.call_from_thread(self.query_one("#done-output", Static).update, text)

    @work(thread=True, exclusive=True, group="outputs")
    def _work(self, what: str) -> None:
        # Each loads the models in the trainer package's own process.
        try:
            result: str | list[SampleRow] | EvalReport
            if what == "merge":
                result = merge_outputs(str(self.result.path))
            elif what == "eval":
                result = evaluate_run(self.result, self._moved)
            else:
                result = sample_outputs(str(self.result.path), PROMPTS)
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.post_message(self.Finished(what, None, in_words(error)))
            return
        self.post_message(self.Finished(what, result, None))

    def on_done_screen_finished(self, message: Finished) -> None:
        output = self.query_one("#done-output", Static)
        output.loading = False
        if message.error:
            output.update(Text(f"x {message.what} failed: {message.error}", style="bold red"))
        elif message.what == "merge":
            output.update(f"merged model written to {message.result}")
        elif isinstance(message.result, EvalReport):
            output.update(Group(summary_table(message.result), change_line(message.result)))
        else:
            table = Table("prompt", "base model", "fine-tuned", show_lines=True, expand=True)
            assert isinstance(message.result, list)
            for row in message.result:
                table.add_row(row.prompt, row.base, row.fine_tuned)
            output.update(table)

    def action_chat(self) -> None:
        from ftwizard.tui.screens.chat import ChatScreen

        self.app.push_screen(ChatScreen(self.result))

    def action_new_run(self) -> None:
        self.wizard.new_run_from(self.run.read_config())

    def action_next_stage(self) -> None:
        if self.result.read_status().state != "finished":
            self.notify("Only a finished run's result can start the next stage.", severity="error")
            return
        self.wizard.next_stage_from(self.result)

    def action_train_longer(self) -> None:
        from ftwizard.tui.screens.resume import ResumeScreen

        self.app.push_screen(ResumeScreen(self.run))

    def action_back(self) -> None:
        self.app.pop_screen()
