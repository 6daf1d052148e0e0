"""``ftwizard chat``: the conversation rules (``core/outputs/chat.py``) and the command
in a terminal.

The terminal test drives the real command through a pseudo-terminal, as a person at an
SSH prompt would, with the demo model's LoRA run answering.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from ftwizard.core.errors import UserError
from ftwizard.core.lifetime import EXIT_HANGUP
from ftwizard.core.outputs import chat
from tests.conftest import run_cli
from tests.terminal import Terminal

TURNS = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def test_lines_are_messages_or_commands() -> None:
    assert chat.parse("  Who are you? ") == chat.Command("say", "Who are you?")
    assert chat.parse("/both") == chat.Command("both")
    assert chat.parse("/SYSTEM Be brief.") == chat.Command("system", "Be brief.")
    assert chat.parse("/exit") == chat.Command("quit")
    with pytest.raises(UserError, match="/nope is not a command") as caught:
        chat.parse("/nope")
    assert caught.value.hint and "/both" in caught.value.hint
    with pytest.raises(UserError, match="/save needs a file name"):
        chat.parse("/save")


def test_a_conversation_saves_as_one_row_in_the_messages_layout(tmp_path: Path) -> None:
    conversation = chat.Conversation(system="Be brief.")
    with pytest.raises(UserError, match="no answer"):
        conversation.save(tmp_path / "x.jsonl")
    conversation.turns += [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert conversation.save(tmp_path / "x.jsonl") == 2
    assert conversation.save(tmp_path / "x.jsonl") == 2  # appends: one row per save
    rows = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    system = {"role": "system", "content": "Be brief."}
    assert rows[0] == {"messages": [system, *conversation.turns]}
    assert len(rows) == 2
    assert conversation.models() == ["tuned"]
    conversation.mode = "both"
    assert conversation.models() == ["base", "tuned"]  # the kept answer is the tuned one


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"messages": [{"role": "system", "content": "Be Wiz."}, *TURNS]}] * 3, "Be Wiz."),
        (
            [{"messages": [{"role": "system", "content": "Be Wiz."}, *TURNS]}, {"messages": TURNS}],
            "",
        ),  # fmt: skip
        ([{"instruction": "Hi", "input": "", "output": "Hello", "system": "S"}] * 2, "S"),
        ([{"messages": TURNS}] * 2, ""),
    ],
    ids=["shared", "not-every-row", "alpaca-system-column", "none"],
)
def test_the_chat_starts_with_the_system_prompt_training_used(
    tmp_path: Path, rows: list[dict[str, Any]], expected: str
) -> None:
    from ftwizard.core.config.yaml_io import load_config

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = load_config(None, [f"data.path={data}"])
    assert chat.training_system_prompt(config) == expected


@pytest.mark.slow
def test_chat_in_a_terminal_both_models_and_a_saved_transcript(
    lora_run: Any, tmp_path: Path
) -> None:
    saved = tmp_path / "good-answers.jsonl"
    terminal = Terminal(
        [sys.executable, "-m", "ftwizard.cli.main", "chat", str(lora_run.path),
         "--max-new-tokens", "16", "--temperature", "0"],
        tmp_path,
    )  # fmt: skip
    try:
        terminal.wait_for(r"Chatting with .*loaded in [\d.]+ s")
        terminal.wait_for("you >")
        terminal.type("Who are you?")
        shown = terminal.wait_for(r"tuned: \d+ tokens, first after [\d.]+ s")
        assert "fine-tuned >" in shown  # every answer says which model wrote it
        terminal.wait_for("you >")
        terminal.type("/both")
        terminal.wait_for("answers now from: both")
        terminal.type("What is the capital of France?")
        shown = terminal.wait_for(r"tuned: \d+ tokens, first after [\d.]+ s, [\d.]+ tokens/s")
        assert "base" in shown and "fine-tuned" in shown
        assert re.search(r"base: \d+ tokens, first after [\d.]+ s", shown)
        terminal.wait_for("you >")
        terminal.type(f"/save {saved}")
        terminal.wait_for("saved 4 turns")
        terminal.type("/quit")
        assert terminal.process.wait(timeout=60) == 0
    finally:
        terminal.close()

    [row] = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
    assert row["messages"][2]["content"] == "What is the capital of France?"
    assert all(m["content"] for m in row["messages"])
    checked = run_cli("data", str(saved), "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["usable"] and report["report"]["format"] == "messages"
    assert report["report"]["rows_valid"] == 1


@pytest.mark.slow
def test_the_model_process_ends_with_the_chat_that_started_it(
    lora_run: Any, tmp_path: Path
) -> None:
    """A viewer never keeps anything alive: the terminal goes, the models go too. Started
    with SIGHUP ignored, as under nohup: the chat must end anyway."""
    terminal = Terminal(
        [sys.executable, "-m", "ftwizard.cli.main", "chat", str(lora_run.path)],
        tmp_path,
        hangup_ignored=True,
    )
    try:
        terminal.wait_for("you >")
        [models] = psutil.Process(terminal.process.pid).children()
        assert "ftwizard.trainer.chat" in " ".join(models.cmdline())
        terminal.process.send_signal(signal.SIGHUP)  # the SSH connection drops
        assert terminal.wait_exit(60) == EXIT_HANGUP
        models.wait(timeout=60)  # raises if it is still running
    finally:
        terminal.close()


@pytest.mark.slow
async def test_the_done_screens_chat_pane(lora_run: Any, tmp_path: Path) -> None:
    """`c` on a finished run: the same chat, in the wizard, at 80x24."""
    from textual.widgets import Input

    from ftwizard.tui.screens.chat import Answer, ChatScreen
    from ftwizard.tui.screens.done import DoneScreen
    from tests.tui_helpers import cut_text, make_app, settle, type_into, wait_for

    app = make_app(str(tmp_path))
    saved = tmp_path / "pane.jsonl"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(DoneScreen(lora_run))
        await settle(pilot)
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        field = screen.query_one("#chat-input", Input)

        async def answered() -> None:
            await wait_for(pilot, lambda: not field.disabled, what="the models to answer")

        await answered()  # loaded
        await type_into(pilot, "#chat-input", "Who are you?")
        await answered()
        [answer] = screen.query(Answer)
        assert answer.model == "tuned" and answer.border_title == "fine-tuned"
        assert answer.text.strip()
        await type_into(pilot, "#chat-input", "/both")
        await type_into(pilot, "#chat-input", "What is the capital of France?")
        await answered()
        pair = list(screen.query(".chat-pair Answer"))
        assert [a.border_title for a in pair] == ["base", "fine-tuned"]
        assert all(a.text.strip() for a in pair)
        notes = " ".join(str(n.content) for n in screen.query(".chat-note"))
        assert re.search(r"base: \d+ tokens, first after", notes)
        assert re.search(r"tuned: \d+ tokens, first after", notes)
        assert cut_text(app) == []  # the side-by-side answers fit 80 columns
        await type_into(pilot, "#chat-input", f"/save {saved}")
        assert len(json.loads(saved.read_text())["messages"]) == 4
        process = screen.models._process  # type: ignore[union-attr]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        assert process.poll() is not None  # leaving the pane ends the models' process
