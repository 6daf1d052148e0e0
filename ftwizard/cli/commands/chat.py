"""``ftwizard chat RUN``: talk to the fine-tuned model, the base, or both side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import err, out, warn_remote_code
from ftwizard.core import lifetime
from ftwizard.core.errors import UserError
from ftwizard.core.outputs import chat
from ftwizard.core.outputs.chat_messages import Answer
from ftwizard.core.runs.folder import find_run
from ftwizard.core.runs.stages import result_of

LABEL_STYLE = {"tuned": "bold cyan", "base": "bold yellow"}


def run(args: argparse.Namespace) -> int:
    folder = result_of(find_run(args.name, args.root))
    warn_remote_code(folder)
    # Closing the terminal ends the chat and its model process, even where SIGHUP was
    # inherited as ignored (under nohup): a chat is a viewer, it keeps nothing alive.
    with lifetime.exit_on_hangup():
        with err.status(f"Loading {folder.name}'s models..."):
            models = chat.ChatModels(folder)
            conversation = chat.Conversation.for_run(folder, args.system)
        try:
            return _loop(models, folder.name, conversation, args)
        finally:
            models.close()


def _loop(
    models: chat.ChatModels,
    run_name: str,
    conversation: chat.Conversation,
    args: argparse.Namespace,
) -> int:
    what = "its LoRA adapter on the base" if models.adapter else "a full fine-tune"
    out.print(
        f"Chatting with {run_name} ({what}) on {models.device}, loaded in {models.load_s:.1f} s."
        " Answers come from the fine-tuned model; /both shows the base beside it, /help "
        "lists the commands.",
        soft_wrap=False,
    )
    if conversation.system and args.system is None:
        out.print(f"system prompt (as in training): {conversation.system}", markup=False)
    while True:
        try:
            line = out.input("[bold green]you >[/] ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return 0
        try:
            command = chat.parse(line)
        except UserError as error:
            err.print(f"[red]{escape(error.message)}[/] {escape(error.hint or '')}")
            continue
        if command.name == "quit":
            return 0
        if command.name == "say" and command.argument:
            _exchange(models, conversation, command.argument, args)
        elif command.name != "say":
            _command(conversation, command)


def _command(conversation: chat.Conversation, command: chat.Command) -> None:
    if command.name in ("tuned", "base", "both"):
        conversation.mode = command.name  # type: ignore[assignment]
        err.print(f"answers now from: {command.name}")
    elif command.name == "system":
        conversation.system, conversation.turns = command.argument, []
        err.print("system prompt " + ("set" if command.argument else "cleared") + "; new start")
    elif command.name == "reset":
        conversation.turns = []
        err.print("new conversation")
    elif command.name == "save":
        try:
            turns = conversation.save(Path(command.argument))
        except UserError as error:
            err.print(f"[red]{escape(error.message)}[/]")
            return
        err.print(f"saved {turns} turns to {command.argument} (one JSONL row, messages layout)")
    elif command.name == "help":
        table = Table.grid(padding=(0, 2))
        for name, text in chat.HELP:
            table.add_row(Text(name, style="bold"), text)
        err.print(table)


def _exchange(
    models: chat.ChatModels,
    conversation: chat.Conversation,
    text: str,
    args: argparse.Namespace,
) -> None:
    sampling = chat.Sampling(args.seed, args.temperature, args.max_new_tokens)
    if conversation.mode == "both":
        answers = _side_by_side(models, conversation, text, sampling)
    else:

        def start(model: str) -> None:
            out.print(Text(f"{chat.LABELS[model]} >", style=LABEL_STYLE[model]), end=" ")

        answers = conversation.ask(
            models,
            text,
            start,
            lambda _model, piece: out.print(piece, end="", markup=False, highlight=False),
            sampling,
        )
        out.print()
    for answer in answers:
        err.print(Text(chat.figures(answer), style="dim"))


def _side_by_side(
    models: chat.ChatModels,
    conversation: chat.Conversation,
    text: str,
    sampling: chat.Sampling,
) -> list[Answer]:
    """Base on the left, fine-tuned on the right, each streamed in turn, one seed."""
    texts = {"base": "", "tuned": ""}

    def view() -> Table:
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(
            *(
                Panel(
                    Text(texts[model]),
                    title=Text(chat.LABELS[model], style=LABEL_STYLE[model]),
                    title_align="left",
                )
                for model in ("base", "tuned")
            )
        )
        return grid

    with Live(view(), console=out, refresh_per_second=8, transient=False) as live:

        def token(model: str, piece: str) -> None:
            texts[model] += piece
            live.update(view())

        return conversation.ask(
            models,
            text,
            lambda _model: None,
            token,
            sampling,
        )
