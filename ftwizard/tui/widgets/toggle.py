"""A switch whose state is also written in its label (on / off), so it reads without colour."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Switch


class Toggle(Horizontal):
    """``Switch`` (with ``switch_id``) and ``on: text`` / ``off: text`` beside it."""

    def __init__(self, text: str, value: bool, switch_id: str, disabled: bool = False) -> None:
        super().__init__(classes="switch-row")
        self.text = text
        self.value = value
        self.switch_id = switch_id
        self.switch_disabled = disabled

    def compose(self) -> ComposeResult:
        yield Switch(value=self.value, id=self.switch_id, disabled=self.switch_disabled)
        yield Label(self._words(self.value))

    def _words(self, value: bool) -> str:
        return f"{'on' if value else 'off'}: {self.text}"

    @on(Switch.Changed)
    def _changed(self, event: Switch.Changed) -> None:
        # Not stopped: the screen reacts to the same message.
        self.query_one(Label).update(self._words(event.value))
