"""The JSON lines between a chat viewer (``core/outputs/chat.py``) and the process that
holds the models (``trainer/chat.py``), one type each.

The model process says :class:`ChatReady` (or :class:`ChatFailed` and exits 2) once it
has loaded; then, per :class:`ChatRequest`, one :class:`ChatToken` per piece of text as
it is generated and an :class:`Answer` with the figures at the end.
"""

from __future__ import annotations

from typing import Literal

from pydantic import TypeAdapter

from ftwizard.core.trainer_calls import Message

ModelName = Literal["base", "tuned"]


class ChatRequest(Message):
    messages: list[dict[str, str]]
    """The conversation so far, system prompt first, ending with the user's turn."""
    model: ModelName
    seed: int = 0
    """One seed per exchange, the same for every model asked."""
    temperature: float = 0.7
    """0: greedy, the same answer every time."""
    max_new_tokens: int = 256


class ChatReady(Message):
    ready: Literal[True] = True
    adapter: bool
    """The tuned model is the base with an adapter (the base answers with it off)."""
    device: str
    chat_template: bool
    load_s: float


class ChatFailed(Message):
    error: str
    hint: str | None = None


class ChatToken(Message):
    token: str


class Answer(Message):
    done: Literal[True] = True
    model: ModelName
    text: str
    new_tokens: int
    first_token_s: float
    tokens_per_s: float | None
    """The rate after the first token: what a reader sees the answer grow at."""


STARTED: TypeAdapter[ChatReady | ChatFailed] = TypeAdapter(ChatReady | ChatFailed)
STREAMED: TypeAdapter[ChatToken | Answer] = TypeAdapter(ChatToken | Answer)
