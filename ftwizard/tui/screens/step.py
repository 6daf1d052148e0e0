"""The frame every wizard step shares: a title saying where you are, Back and Next."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Static

from ftwizard.tui.screens.base import WizardScreen

STEPS = ("Model", "Data", "Purpose", "Settings", "Review")


class StepScreen(WizardScreen):
    """A wizard step. Subclasses give ``STEP``, ``compose_body`` and ``go_next``."""

    STEP: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next step", priority=True),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        number = STEPS.index(self.STEP) + 1
        trail = " > ".join(f"[{name}]" if name == self.STEP else name for name in STEPS)
        # Text, not markup: the [brackets] around the current step are literal.
        yield Static(Text(f"Step {number} of {len(STEPS)}   {trail}"), classes="trail")
        yield from self.compose_pinned()
        with VerticalScroll(classes="step-body"):
            yield from self.compose_body()
        yield Static("", id="step-problem", classes="problem")
        with Horizontal(classes="step-buttons"):
            yield Button("Back (Esc)", id="back", compact=True)
            yield Button("Next (Ctrl+N)", id="next", variant="primary", compact=True)
        yield Footer()

    def compose_pinned(self) -> ComposeResult:
        """Widgets that stay in view above the scrolling body."""
        yield from ()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def field_message(self, selector: str, text: str, ok: bool) -> None:
        """The line under a field: a problem (x, in the error colour) or a confirmation."""
        widget = self.query_one(selector, Static)
        widget.update(text)
        widget.set_class(ok, "-ok")

    def say_problem(self, text: str) -> None:
        """One line above the buttons, in words: why Next cannot go on yet."""
        self.query_one("#step-problem", Static).update(text)

    def set_ready(self, ready: bool, focus: bool = False) -> None:
        """Enable Next; with ``focus``, move there so a second Enter goes on."""
        button = self.query_one("#next", Button)
        button.disabled = not ready
        if ready and focus:
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            event.stop()
            self.action_back()
        elif event.button.id == "next":
            event.stop()
            self.action_next()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next(self) -> None:
        if self.query_one("#next", Button).disabled:
            return
        self.go_next()

    def go_next(self) -> None:
        raise NotImplementedError
