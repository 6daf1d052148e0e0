"""Step 1: which model to fine-tune, and whether each method fits it on this machine."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import in_words
from ftwizard.core.hardware.gpus import Target
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.models.source import resolve_model_facts
from ftwizard.core.planning.catalog_fit import CatalogFit, catalog_fits
from ftwizard.core.planning.fit import MethodOption
from ftwizard.core.planning.tables import METHODS
from ftwizard.tui.screens.step import StepScreen
from ftwizard.tui.widgets.facts import model_facts_table
from ftwizard.tui.widgets.path_input import PathSuggester

MODEL_COLUMN = 30  # with the other columns, the table fits 80 columns
MARKS = {"fits": ("✓", "green"), "tight": ("~", "yellow"), "does not fit": ("✗", "red")}


def short_model_id(model_id: str, width: int = MODEL_COLUMN) -> str:
    """A model id that fits its column: the organisation goes first, then the tail."""
    if len(model_id) <= width:
        return model_id
    org, _, name = model_id.rpartition("/")
    if org and len(name) + 2 <= width:
        return f"…/{name}"
    return model_id[: width - 1] + "…"


def verdict_cell(option: MethodOption) -> Text:
    mark, style = MARKS[option.verdict]
    gib = option.estimate.device_total_gib
    return Text(f"{mark} {gib:.1f}" if gib < 100 else f"{mark} {gib:.0f}", style=style)


class ModelScreen(StepScreen):
    STEP = "Model"

    class CatalogReady(Message):
        def __init__(self, rows: list[CatalogFit]) -> None:
            super().__init__()
            self.rows = rows

    class Resolved(Message):
        def __init__(self, text: str, facts: ModelFacts | None, error: str | None) -> None:
            super().__init__()
            self.text, self.facts, self.error = text, facts, error

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[CatalogFit] = []

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Type to filter the list and press Enter to take the highlighted model (Tab moves "
            "to the list). A Hub id (org/name), a local folder or a .gguf file works too.",
            classes="help",
        )
        yield Input(
            placeholder="filter, Hub id, folder or .gguf path",
            id="model-input",
            value=self.state.model_id or "",
            suggester=PathSuggester((".gguf",)),
        )
        yield Static("", id="model-error", classes="field-error")
        yield Static(
            "full / lora / qlora: can the method train here (✓ fits, ~ tight, ✗ no) and the "
            "least memory it needs in GB (micro-batch 1, checkpointing on).",
            classes="help",
        )
        table: DataTable[str] = DataTable(id="catalog", cursor_type="row", zebra_stripes=True)
        table.loading = True
        yield table
        yield Static("", id="model-facts", classes="panel")

    def on_mount(self) -> None:
        table = self.query_one("#catalog", DataTable)
        table.add_columns("model", "params", "full", "lora", "qlora")
        self.set_ready(self.state.model_facts is not None)
        self.query_one("#model-input", Input).focus()
        if self.state.model_facts is not None:
            self._show(self.state.model_facts)
        elif self.state.model_id:  # a new run from an earlier one's configuration
            self._choose(self.state.model_id)
        self._load_catalog(self.state.base_config(), self.state.target)

    @work(thread=True, exclusive=True, group="catalog")
    def _load_catalog(self, config: RunConfig, target: Target) -> None:
        self.post_message(self.CatalogReady(catalog_fits(config, target)))

    def on_model_screen_catalog_ready(self, message: CatalogReady) -> None:
        self._rows = message.rows
        self._fill(self.query_one("#model-input", Input).value)
        self.query_one("#catalog", DataTable).loading = False

    def _fill(self, text: str) -> None:
        table = self.query_one("#catalog", DataTable)
        table.clear()
        needle = text.strip().lower()
        for row in self._rows:
            if needle and needle not in row.model_id.lower():
                continue
            table.add_row(
                short_model_id(row.model_id),
                f"{row.facts.params_billions:.2f}B",
                *(verdict_cell(row.least[m]) for m in METHODS),
                key=row.model_id,
            )

    @on(Input.Changed, "#model-input")
    def _filter(self, event: Input.Changed) -> None:
        self.query_one("#model-error", Static).update("")
        self._fill(event.value)

    @on(Input.Submitted, "#model-input")
    def _typed(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        table = self.query_one("#catalog", DataTable)
        exact = any(row.model_id == text for row in self._rows)
        if not exact and table.row_count:
            # Typed a filter: take the highlighted match (the first one, unless moved).
            text = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if text:  # an exact name, or a Hub id or path the catalog does not list
            self._choose(text)

    @on(DataTable.RowSelected, "#catalog")
    def _picked(self, event: DataTable.RowSelected) -> None:
        self._choose(str(event.row_key.value))

    @on(DataTable.RowHighlighted, "#catalog")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = next((r for r in self._rows if r.model_id == event.row_key.value), None)
        if row is not None and self.state.model_facts is None:
            self.query_one("#model-facts", Static).update(model_facts_table(row.facts))

    def _choose(self, text: str) -> None:
        self.field_message("#model-error", f"Reading {text}...", ok=True)
        self._resolve(text)

    @work(thread=True, exclusive=True, group="resolve")
    def _resolve(self, text: str) -> None:
        # A Hub id may need the network and a GGUF file a read: never on the event loop.
        try:
            facts = resolve_model_facts(text)
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.post_message(self.Resolved(text, None, in_words(error)))
            return
        self.post_message(self.Resolved(text, facts, None))

    def on_model_screen_resolved(self, message: Resolved) -> None:
        if message.facts is None:
            self.field_message("#model-error", f"x {message.text}: {message.error}", ok=False)
            self.set_ready(self.state.model_facts is not None)
            return
        source = self.state.config.model.from_run
        # The next stage of a finished run: its result, not the bare model, is trained.
        start = f", starting from run {Path(source).name}'s result" if source else ""
        self.field_message("#model-error", f"chosen: {message.text}{start}", ok=True)
        self.state.model_id = message.text
        self.state.model_facts = message.facts
        self.state.plan = None
        self._show(message.facts)
        self.set_ready(True, focus=True)
        self.say_problem("")

    def _show(self, facts: ModelFacts) -> None:
        self.query_one("#model-facts", Static).update(model_facts_table(facts))

    def go_next(self) -> None:
        from ftwizard.tui.screens.data import DataScreen

        self.app.push_screen(DataScreen())
