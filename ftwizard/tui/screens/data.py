"""Step 2: the dataset: its format and evidence, problems, token lengths and a preview."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static, Switch

from ftwizard.core.data.validate import ReportSummary, validate_path
from ftwizard.core.errors import in_words
from ftwizard.core.models.builtin import BUILTIN_MODELS
from ftwizard.core.trainer_calls import (
    TokenStatsReply,
    TokenStatsRequest,
    prepare_builtin_model,
    token_stats,
)
from ftwizard.tui.screens.step import StepScreen
from ftwizard.tui.widgets.path_input import PathSuggester
from ftwizard.tui.widgets.toggle import Toggle
from ftwizard.views.data import preview_view, report_view, stats_view


class DataScreen(StepScreen):
    STEP = "Data"
    BINDINGS = [
        Binding("n", "example(1)", "Next example"),
        Binding("p", "example(-1)", "Prev example"),
    ]

    class Checked(Message):
        """The validation report, or why the path cannot be read."""

        def __init__(
            self, path: str, report: ReportSummary | None, error: str | None = None
        ) -> None:
            super().__init__()
            self.path, self.report, self.error = path, report, error

    class Tokenised(Message):
        """Token statistics and the preview, or why there are none."""

        def __init__(self, path: str, result: TokenStatsReply | None, note: str | None) -> None:
            super().__init__()
            self.path, self.result, self.note = path, result, note

    def __init__(self) -> None:
        super().__init__()
        self._example = 0

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Path to the dataset: a file or folder (json, jsonl, csv, tsv, parquet, txt) or a "
            "Hub id. Right arrow completes a name; Enter checks it.",
            classes="help",
        )
        yield Input(
            placeholder="e.g. data/train.jsonl",
            id="data-path",
            value=self.state.data_path or "",
            suggester=PathSuggester(),
        )
        yield Static("", id="data-error", classes="field-error")
        yield Toggle(
            "skip invalid rows (they are counted) instead of refusing to train",
            self.state.config.data.skip_invalid,
            "skip-invalid",
        )
        yield Static("", id="data-report", classes="panel")
        yield Static("", id="data-tokens", classes="panel")
        yield Static("", id="data-preview", classes="panel")

    def on_mount(self) -> None:
        self.set_ready(False)
        self.query_one(
            "#data-preview", Static
        ).border_title = "Preview (n / p: next / previous example)"
        if self.state.data_report is not None:
            self._show(self.state.data_report, self.state.data_stats)
        elif self.state.data_path:  # a new run from an earlier one's configuration
            self._check(self.state.data_path)
        else:
            self.query_one("#data-path", Input).focus()

    @on(Input.Submitted, "#data-path")
    def _submitted(self, event: Input.Submitted) -> None:
        self._example = 0
        self._check(event.value.strip())

    @on(Switch.Changed, "#skip-invalid")
    def _skip_changed(self, event: Switch.Changed) -> None:
        self.state.config = self.state.config.with_sections(data={"skip_invalid": event.value})
        if self.state.data_report is not None:
            self._show(self.state.data_report, self.state.data_stats)

    def action_example(self, delta: int) -> None:
        if self.state.data_report is None or not self.state.data_path:
            return
        rows = self.state.data_report.rows_valid
        self._example = max(0, min(rows - 1, self._example + delta))
        self._tokenise(self.state.data_path)

    def _check(self, text: str) -> None:
        if not text:
            self.field_message("#data-error", "x Type a path first.", ok=False)
            return
        self.field_message("#data-error", f"Checking {text}...", ok=True)
        self.set_ready(False)
        self.query_one("#data-report", Static).loading = True
        self._run_check(text)

    @work(thread=True, exclusive=True, group="data")
    def _run_check(self, path: str) -> None:
        # Validation streams the whole file: never on the event loop.
        data = self.state.config.data
        try:
            report = validate_path(path, data.format, data.column_map).summary()
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.post_message(self.Checked(path, None, in_words(error)))
            return
        self.post_message(self.Checked(path, report))

    def on_data_screen_checked(self, message: Checked) -> None:
        self.query_one("#data-report", Static).loading = False
        if message.report is None:
            self.field_message("#data-error", f"x {message.error}", ok=False)
            self.query_one("#data-report", Static).update("")
            return
        self.field_message("#data-error", f"checked: {message.path}", ok=True)
        self.state.data_path = message.path
        self.state.data_report = message.report
        self.state.data_stats = None
        self.state.plan = None
        self.set_ready(self._show(message.report, None), focus=True)
        if message.report.rows_valid:
            self._tokenise(message.path)

    def _tokenise(self, path: str) -> None:
        self.query_one("#data-tokens", Static).update(
            "Tokenising with the model's tokenizer (in its own process)..."
        )
        config = self.state.base_config()
        self._run_tokenise(path, config.model.model_name_or_path, config.training.max_length)

    @work(thread=True, exclusive=True, group="tokens")
    def _run_tokenise(self, path: str, model: str, max_length: int) -> None:
        # The tokenizer needs transformers: it loads in the trainer package's process.
        data = self.state.config.data
        try:
            builtin = BUILTIN_MODELS.get(model)
            if builtin is not None and not builtin.prepared:
                prepare_builtin_model(model)  # once, about 20 s; the launch needs it anyway
            request = TokenStatsRequest(
                path=path,
                model=model,
                max_length=max_length,
                data_format=data.format,
                column_map=data.column_map,
                example=self._example,
                train_on=data.train_on,
            )
            result = token_stats(request)
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.post_message(self.Tokenised(path, None, f"no token statistics: {in_words(error)}"))
            return
        self.post_message(self.Tokenised(path, result, None))

    def on_data_screen_tokenised(self, message: Tokenised) -> None:
        if message.path != self.state.data_path or self.state.data_report is None:
            return  # an answer about a path typed before this one
        self.state.data_stats = message.result
        self._show(self.state.data_report, message.result)
        if message.note:
            self.query_one("#data-tokens", Static).update(message.note)

    def _show(self, report: ReportSummary, result: TokenStatsReply | None) -> bool:
        """Show the report (and token statistics); whether the data can be trained on."""
        skip = self.state.config.data.skip_invalid
        self.query_one("#data-report", Static).update(report_view(report, skip))
        tokens = self.query_one("#data-tokens", Static)
        preview = self.query_one("#data-preview", Static)
        if result is not None:
            tokens.update(stats_view(result.stats, result.warnings))
            preview.update("no preview" if result.preview is None else preview_view(result.preview))
        else:
            tokens.update("Token statistics appear here once the model's tokenizer is available.")
            preview.update("")
        ready = report.trainable(skip)
        self.set_ready(ready)
        self.say_problem(
            "" if ready else "This dataset cannot be trained on yet: see the x lines above."
        )
        return ready

    def go_next(self) -> None:
        from ftwizard.tui.screens.purpose import PurposeScreen

        self.app.push_screen(PurposeScreen())
