"""Small modal questions: a line of text, or one of a few choices."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class AskText(ModalScreen[str | None]):
    """Ask for one line (a file path); Enter answers, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            yield Input(self.value, id="answer")
            yield Static("Enter: OK   Esc: cancel", classes="help")

    @on(Input.Submitted, "#answer")
    def _answered(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Choose(ModalScreen[str]):
    """One of a few answers. Each has a letter (shown in its button) that picks it, so
    the choice never depends on seeing which button has the focus; Esc cancels."""

    BINDINGS = [Binding("escape", "choose('cancel')", "Cancel")]

    def __init__(self, question: str, choices: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices  # (answer id, button label, its letter)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            with Horizontal(classes="dialog-buttons"):
                for answer, label, letter in self.choices:
                    yield Button(f"{label} ({letter})", id=f"choice-{answer}", compact=True)
            letters = ", ".join(f"{letter}: {label.lower()}" for _, label, letter in self.choices)
            yield Static(f"Press {letters}; Esc cancels.", classes="help")

    def on_key(self, event: Key) -> None:
        for answer, _, letter in self.choices:
            if event.key == letter:
                event.stop()
                self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        assert event.button.id is not None
        self.dismiss(event.button.id.removeprefix("choice-"))

    def action_choose(self, answer: str) -> None:
        self.dismiss(answer)
