"""Chat with a finished run: the fine-tuned model, the base, or both side by side.

The same conversation rules as ``ftwizard chat`` (``core/outputs/chat.py``); the models load
and answer in their own process, driven from a worker thread, so the screen stays live
while an answer streams in.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from ftwizard.core.errors import UserError, in_words
from ftwizard.core.outputs import chat
from ftwizard.core.runs.folder import RunFolder
from ftwizard.tui.screens.base import WizardScreen

LABELS_OF_MODE = {**chat.LABELS, "both": "both, side by side"}


class Answer(Static):
    """One model's answer as it streams in, titled with the model that wrote it."""

    def __init__(self, model: str) -> None:
        super().__init__("", classes=f"chat-answer -{model}")
        self.model = model
        self.text = ""
        self.border_title = chat.LABELS[model]

    def add(self, piece: str) -> None:
        self.text += piece
        self.update(Text(self.text))


class ChatScreen(WizardScreen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, run: RunFolder) -> None:
        super().__init__()
        self.run = run
        self.models: chat.ChatModels | None = None
        self.conversation = chat.Conversation()
        self.answers: dict[str, Answer] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="chat-log")
        yield Static(self._status(), id="chat-status")
        yield Input(placeholder="loading the models...", id="chat-input", disabled=True)
        yield Footer()

    def _status(self) -> str:
        return f"answers from: {LABELS_OF_MODE[self.conversation.mode]}  ·  /help: commands"

    def on_mount(self) -> None:
        self.query_one("#chat-log").border_title = f"Chat with {self.run.name}"
        warning = self.run.read_config().model.remote_code_warning()
        if warning:
            self._note(f"warning: {warning}", "bold yellow")
        self._load()

    def _note(self, text: str, style: str = "dim") -> None:
        log = self.query_one("#chat-log", VerticalScroll)
        log.mount(Static(Text(text, style=style), classes="chat-note"))
        log.scroll_end(animate=False)

    def _ready_for_input(self, placeholder: str = "ask something, or /help") -> None:
        field = self.query_one("#chat-input", Input)
        field.disabled = False
        field.placeholder = placeholder
        field.focus()

    @work(thread=True, exclusive=True, group="chat")
    def _load(self) -> None:
        try:
            models = chat.ChatModels(self.run)
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.app.call_from_thread(self._note, f"x {in_words(error)}", "bold red")
            return
        self.models = models
        self.conversation = chat.Conversation.for_run(self.run)
        if self.conversation.system:
            self.app.call_from_thread(
                self._note, f"system prompt (as in training): {self.conversation.system}"
            )
        what = "its LoRA adapter on the base" if models.adapter else "a full fine-tune"
        self.app.call_from_thread(
            self._note, f"{what}, on {models.device}, loaded in {models.load_s:.1f} s"
        )
        self.app.call_from_thread(self._ready_for_input)

    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.input.value = ""
        try:
            command = chat.parse(event.value)
        except UserError as error:
            self._note(f"{error.message} {error.hint or ''}", "red")
            return
        if command.name == "quit":
            self.action_back()
        elif command.name == "say" and command.argument:
            self._say(command.argument)
        elif command.name != "say":
            self._command(command)

    def _command(self, command: chat.Command) -> None:
        if command.name in ("tuned", "base", "both"):
            self.conversation.mode = command.name  # type: ignore[assignment]
            self.query_one("#chat-status", Static).update(self._status())
        elif command.name == "system":
            self.conversation.system, self.conversation.turns = command.argument, []
            self._note("system prompt " + ("set" if command.argument else "cleared"))
        elif command.name == "reset":
            self.conversation.turns = []
            self.query_one("#chat-log", VerticalScroll).remove_children()
        elif command.name == "save":
            try:
                turns = self.conversation.save(Path(command.argument))
            except UserError as error:
                self._note(error.message, "red")
                return
            self._note(f"saved {turns} turns to {command.argument} (one JSONL row)")
        elif command.name == "help":
            for name, text in chat.HELP:
                self._note(f"{name}  {text}", "")

    def _say(self, text: str) -> None:
        log = self.query_one("#chat-log", VerticalScroll)
        log.mount(Static(Text(text), classes="chat-user"))
        models = self.conversation.models()
        self.answers = {model: Answer(model) for model in models}
        if len(models) == 2:
            log.mount(Horizontal(*self.answers.values(), classes="chat-pair"))
        else:
            log.mount(*self.answers.values())
        log.scroll_end(animate=False)
        self.query_one("#chat-input", Input).disabled = True
        self._ask(text)

    def _add(self, model: str, piece: str) -> None:
        self.answers[model].add(piece)
        self.query_one("#chat-log", VerticalScroll).scroll_end(animate=False)

    @work(thread=True, exclusive=True, group="chat")
    def _ask(self, text: str) -> None:
        assert self.models is not None
        try:
            answers = self.conversation.ask(
                self.models,
                text,
                lambda _model: None,
                lambda model, piece: self.app.call_from_thread(self._add, model, piece),
                chat.Sampling(),
            )
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.app.call_from_thread(self._note, f"x {in_words(error)}", "bold red")
        else:
            for answer in answers:
                self.app.call_from_thread(self._note, chat.figures(answer))
        self.app.call_from_thread(self._ready_for_input)

    def on_unmount(self) -> None:
        if self.models is not None:
            self.models.close()

    def action_back(self) -> None:
        self.app.pop_screen()
