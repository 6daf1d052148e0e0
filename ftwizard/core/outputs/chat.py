"""Chatting with a run's models: the conversation, the slash commands and the model process.

The rules live here once for both views (``ftwizard chat`` in the terminal, the done
screen's chat pane): which model answers, which answer the conversation keeps, how a
transcript is saved. The models themselves run in ``trainer/chat.py``'s process, spoken
to in JSON lines; when this side goes, its pipe closes and that process ends too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Literal, TypeVar

from pydantic import TypeAdapter

from ftwizard.core import lifetime
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.files import regular_file_problem
from ftwizard.core.outputs.chat_messages import (
    STARTED,
    STREAMED,
    Answer,
    ChatFailed,
    ChatRequest,
    ChatToken,
    ModelName,
)
from ftwizard.core.runs.folder import RunFolder

Reply = TypeVar("Reply")

Mode = Literal["tuned", "base", "both"]
# Every answer is labelled with the model that wrote it, in both views.
LABELS = {"tuned": "fine-tuned", "base": "base"}

HELP = [
    ("/tuned", "the fine-tuned model answers (the default)"),
    ("/base", "the base model answers, as it was before training"),
    (
        "/both",
        "both answer, side by side, with the same sampling seed; the conversation "
        "goes on with the fine-tuned answer",
    ),  # fmt: skip
    ("/system TEXT", "set the system prompt (/system alone clears it); starts over"),
    ("/reset", "start the conversation over"),
    (
        "/save FILE",
        "append the conversation to FILE as one JSONL row in the messages "
        "layout `ftwizard data` reads, to train on",
    ),  # fmt: skip
    ("/help", "this list"),
    ("/quit", "leave (Ctrl-D does too)"),
]


SYSTEM_SAMPLE_ROWS = 500


def training_system_prompt(config: RunConfig) -> str:
    """The system prompt the training conversations began with, when they all shared one
    (in the first rows read); else "" and the chat template's own default applies."""
    from itertools import islice

    from ftwizard.core.data.formats import apply_column_map, normaliser
    from ftwizard.core.data.sources import Row, read_items
    from ftwizard.core.data.validate import detect_path

    data = config.data
    try:
        detection = detect_path(
            data.path, data.format, data.column_map, name=data.name, split=data.split
        )
        normalise = normaliser(detection)
        prompts = set()
        for item in islice(read_items(data.path, name=data.name, split=data.split),
                           SYSTEM_SAMPLE_ROWS):  # fmt: skip
            if not (isinstance(item, Row) and isinstance(item.data, dict)):
                continue
            messages = normalise(apply_column_map(item.data, data.column_map)).get("messages")
            if not messages:
                return ""
            first = messages[0]
            prompts.add(first["content"] if first["role"] == "system" else "")
            if len(prompts) > 1:
                return ""
    except Exception:  # noqa: BLE001 - the data may be gone or offline: no default then
        return ""
    return prompts.pop() if len(prompts) == 1 else ""


@dataclass(frozen=True)
class Command:
    name: str  # "say" for a message to the model
    argument: str = ""


def parse(line: str) -> Command:
    """What a typed line asks for; a UserError names the commands when it is unknown."""
    text = line.strip()
    if not text.startswith("/"):
        return Command("say", text)
    name, _, argument = text[1:].partition(" ")
    name = name.lower()
    if name in ("exit", "q"):
        name = "quit"
    known = {command.split()[0][1:] for command, _ in HELP}
    if name not in known:
        raise UserError(
            f"/{name} is not a command.",
            hint="Commands: " + ", ".join(c.split()[0] for c, _ in HELP),
        )
    if name == "save" and not argument.strip():
        raise UserError("/save needs a file name.", hint="/save good-answers.jsonl")
    return Command(name, argument.strip())


@dataclass(frozen=True)
class Sampling:
    """How answers are drawn. One seed per exchange, the same for every model asked."""

    seed: int = 0
    temperature: float = 0.7  # 0: greedy, the same answer every time
    max_new_tokens: int = 256


@dataclass
class Conversation:
    system: str = ""
    turns: list[dict[str, str]] = field(default_factory=list)
    mode: Mode = "tuned"

    @classmethod
    def for_run(cls, run: RunFolder, system: str | None = None) -> Conversation:
        """A new conversation with ``system``, else the one the run trained with."""
        return cls(system=training_system_prompt(run.read_config()) if system is None else system)

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.turns

    def models(self) -> list[ModelName]:
        """Who answers the next message, in order; the last one's answer is kept."""
        return ["base", "tuned"] if self.mode == "both" else [self.mode]

    def ask(
        self,
        models: ChatModels,
        text: str,
        on_start: Callable[[str], None],
        on_token: Callable[[str, str], None],
        sampling: Sampling,
    ) -> list[Answer]:
        """One exchange: each model of the mode answers ``text`` with the same seed; the
        conversation keeps the last answer (the fine-tuned one under /both)."""
        self.turns.append({"role": "user", "content": text})
        turn = replace(sampling, seed=sampling.seed + len(self.turns))
        answers = []
        try:
            for model in self.models():
                on_start(model)
                answers.append(
                    models.answer(
                        self.messages(),
                        model,
                        lambda piece, model=model: on_token(model, piece),  # type: ignore[misc]
                        turn,
                    )
                )
        except BaseException:
            self.turns.pop()  # unanswered: the next message starts from the last answer
            raise
        self.turns.append({"role": "assistant", "content": answers[-1].text})
        return answers

    def save(self, path: Path) -> int:
        """Append the conversation as one ``{"messages": [...]}`` row; the turns saved."""
        if not any(turn["role"] == "assistant" for turn in self.turns):
            raise UserError("Nothing to save yet: no answer in this conversation.")
        row = json.dumps({"messages": self.messages()}, ensure_ascii=False) + "\n"
        # Appending is the point (one row per /save), so only a path that cannot take
        # a row is refused; the conversation stays, to /save elsewhere.
        problem = regular_file_problem(path) if path.exists() else None
        if problem is None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(row)
            except OSError as error:
                problem = f"cannot be written ({error.strerror or error})"
        if problem is not None:
            raise UserError(
                f"Not saved: {path} {problem}; the conversation is kept.",
                hint="Save it elsewhere: /save another-file.jsonl",
            )
        return len(self.turns)


class ChatModels:
    """The run's models in their own process (``trainer/chat.py``)."""

    def __init__(self, run: RunFolder) -> None:
        run.require_text_model()
        self._log: IO[str] = tempfile.TemporaryFile("w+")  # its warnings, shown if it fails
        self._process = lifetime.start(
            [sys.executable, "-m", "ftwizard.trainer.chat", str(run.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        started = self._read(STARTED)
        if isinstance(started, ChatFailed):
            self.close()
            raise UserError(started.error, hint=started.hint)
        self.adapter = started.adapter
        self.device = started.device
        self.load_s = started.load_s

    def _read(self, kind: TypeAdapter[Reply]) -> Reply:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait()
            self._log.seek(0)
            raise UserError(
                f"The chat model process ended (exit code {self._process.returncode}).",
                hint="Its last output:\n" + self._log.read()[-600:],
            )
        return kind.validate_json(line)

    def answer(
        self,
        messages: list[dict[str, str]],
        model: ModelName,
        on_token: Callable[[str], None],
        sampling: Sampling,
    ) -> Answer:
        request = ChatRequest(messages=messages, model=model, **asdict(sampling))
        assert self._process.stdin is not None
        self._process.stdin.write(request.model_dump_json() + "\n")
        self._process.stdin.flush()
        while isinstance(reply := self._read(STREAMED), ChatToken):
            on_token(reply.token)
        return reply

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=2)  # mid-answer it would finish first: no wait for it
        except subprocess.TimeoutExpired:
            self._process.kill()
        lifetime.forget(self._process)
        self._log.close()


def figures(answer: Answer) -> str:
    """One line of what the answer took, for the person to judge speed by."""
    rate = "" if answer.tokens_per_s is None else f", {answer.tokens_per_s:.1f} tokens/s"
    return (
        f"{answer.model}: {answer.new_tokens} tokens, first after "
        f"{answer.first_token_s:.2f} s{rate}"
    )
