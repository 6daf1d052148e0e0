"""Step 3: what the fine-tune is for, and the plan that follows (the same as `ftwizard plan`)."""

from __future__ import annotations

from typing import cast

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Input, RadioButton, RadioSet, Static

from ftwizard.core.config.choices import ONLINE_RL, Adapter
from ftwizard.core.data.validate import validate_path
from ftwizard.core.errors import in_words
from ftwizard.core.planning.dataset_facts import facts_from_report
from ftwizard.core.planning.plan import Plan
from ftwizard.core.planning.recommend import recommend
from ftwizard.core.planning.stages import Stage, plan_stages, staged_config
from ftwizard.core.planning.tables import PURPOSES, Purpose
from ftwizard.core.planning.time_advice import warning_words, with_time_advice
from ftwizard.core.runs.watch import duration
from ftwizard.tui.screens.step import StepScreen
from ftwizard.tui.widgets.path_input import PathSuggester


def stage_lines(stages: list[Stage]) -> list[Text]:
    """The later stages the purpose calls for: planned on the pairs given below, trained
    in this run after stage 1; or what they wait for."""
    lines = []
    for stage in stages[1:]:
        what = f"stage {stage.number}: {stage.objective} from stage {stage.starts_from}'s result"
        rows = "prompts" if stage.objective in ONLINE_RL else "pairs"
        plan = stage.plan
        if plan is None:
            tail = f" - waits: {stage.waiting}; give {rows} below, or later f on the done screen"
        else:
            memory = plan.estimate.device_total_gib if plan.estimate else 0.0
            tail = (
                f" on {stage.rows:,} {rows}: about {memory:.1f} GB, ETA "
                f"{duration(plan.eta_seconds)}; it trains in this run after stage 1"
            )
        lines.append(Text(what + tail, style="cyan"))
    return lines


def decisions_view(plan: Plan, stages: list[Stage] | None = None) -> RenderableType:
    table = Table(
        "decision", "choice", "why", expand=True, title="Recommendation", box=box.SIMPLE_HEAD
    )
    for decision in plan.decisions:
        table.add_row(decision.topic, decision.choice, decision.reason)
    parts: list[RenderableType] = []
    if plan.time_warning is not None:  # read first: the plan fits, but not in time
        parts.append(Text(warning_words(plan.time_warning), style="bold yellow"))
    parts.append(table)
    if plan.estimate is not None:
        parts.append(
            Text(
                f"estimate {plan.estimate.device_total_gib:.1f} GB - "
                f"{'fits' if plan.fits else 'does NOT fit'}; ETA {duration(plan.eta_seconds)}",
                style="bold" if plan.fits else "bold red",
            )
        )
    parts += [Text(f"to fit: {change}", style="yellow") for change in plan.changes_needed]
    parts += [Text(f"note: {note}", style="dim") for note in plan.notes]
    parts += stage_lines(stages or [])
    return Group(*parts)


def purpose_label(name: Purpose, chosen: bool) -> Text:
    return Text(f"{'*' if chosen else ' '} {name}: {PURPOSES[name]}")


class PurposeScreen(StepScreen):
    STEP = "Purpose"

    class Planned(Message):
        def __init__(self, plan: Plan, stages: list[Stage], problem: str | None) -> None:
            super().__init__()
            self.plan, self.stages, self.problem = plan, stages, problem

    def __init__(self) -> None:
        super().__init__()
        self._method: Adapter | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(
            "What is this fine-tune for? Arrows move, Enter chooses (marked *).", classes="help"
        )
        with RadioSet(id="purpose"):
            for name in PURPOSES:
                chosen = name == self.state.purpose
                yield RadioButton(purpose_label(name, chosen), value=chosen, name=name)
        yield Static("", id="plan-decisions", classes="panel")
        yield Input(
            placeholder="pairs for DPO (chat, production) or prompts for GRPO (checkable), Enter",
            id="pairs-path",
            value=self.state.pairs_path or "",
            suggester=PathSuggester(),
        )
        yield Static("", id="pairs-error", classes="field-error")
        yield Static(
            "Every method on this machine (Enter on a row picks it instead):", classes="help"
        )
        table: DataTable[str] = DataTable(id="methods", cursor_type="row")
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#methods", DataTable)
        table.add_columns("method", "estimate", "verdict", "micro-batch", "checkpointing")
        self.set_ready(False)
        self._plan()

    @on(RadioSet.Changed, "#purpose")
    def _purpose_changed(self, event: RadioSet.Changed) -> None:
        self.state.purpose = cast(Purpose, event.pressed.name)
        for button in self.query(RadioButton):
            # The choice in words too: the radio mark differs only by colour.
            button.label = purpose_label(cast(Purpose, button.name), button.value)
        self._method = None
        self._plan()

    @on(Input.Submitted, "#pairs-path")
    def _pairs_given(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        self.state.pairs_path = path or None
        self.state.pairs_facts = None
        if path:
            self.field_message("#pairs-error", f"Reading {path}...", ok=True)
        self._plan()

    @on(DataTable.RowSelected, "#methods")
    def _method_picked(self, event: DataTable.RowSelected) -> None:
        self._method = cast(Adapter, event.row_key.value)
        self._plan()

    def _plan(self) -> None:
        self.query_one("#plan-decisions", Static).loading = True
        self._run_plan(self.state.purpose, self._method)

    @work(thread=True, exclusive=True, group="plan")
    def _run_plan(self, purpose: Purpose, method: Adapter | None) -> None:
        state = self.state
        assert state.model_facts is not None and state.data_facts is not None
        base = state.base_config()
        facts, data = state.model_facts, state.data_facts
        plan = recommend(state.target, facts, data, purpose, base, method)
        plan = with_time_advice(plan, state.target, facts, data, purpose, base)
        problem = None
        if state.pairs_path and state.pairs_facts is None:
            try:  # characters / 4 for its tokens: quick, and the launch counts them again
                report = validate_path(state.pairs_path).summary()
                state.pairs_facts = facts_from_report(report, None)
            except Exception as error:  # noqa: BLE001 - shown to the person
                problem = in_words(error)
        pairs = state.pairs_facts
        stages = plan_stages(plan, purpose, state.target, facts, pairs, state.pairs_path)
        self.post_message(self.Planned(plan, stages, problem))

    def on_purpose_screen_planned(self, message: Planned) -> None:
        plan = message.plan
        self.state.plan, self.state.stages = plan, message.stages
        pairs = self.state.pairs_path
        if message.problem:
            self.field_message("#pairs-error", f"x {message.problem}", ok=False)
        elif pairs:
            self.field_message("#pairs-error", f"pairs: {pairs}", ok=True)
        panel = self.query_one("#plan-decisions", Static)
        panel.loading = False
        panel.update(decisions_view(plan, message.stages))
        table = self.query_one("#methods", DataTable)
        table.clear()
        for option in plan.methods:
            chosen = " (chosen)" if option.adapter == plan.config.method.adapter else ""
            table.add_row(
                option.adapter + chosen,
                f"{option.estimate.device_total_gib:.1f} GB",
                option.verdict,
                str(option.micro_batch),
                "on" if option.gradient_checkpointing else "off",
                key=option.adapter,
            )
        self.set_ready(True)
        self.say_problem(
            "" if plan.fits else "The chosen method may run out of memory: see 'to fit' above."
        )

    def go_next(self) -> None:
        from ftwizard.tui.screens.params import ParamsScreen

        assert self.state.plan is not None
        stages = self.state.stages or [Stage(1, self.state.plan, "", None)]
        self.state.config = staged_config(stages)
        self.app.push_screen(ParamsScreen())
