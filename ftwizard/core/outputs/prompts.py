"""Prompts for ``ftwizard sample``: a question, or a conversation that ends with one."""

from __future__ import annotations

import json
from typing import Any

from ftwizard.core.errors import UserError
from ftwizard.core.files import load_json

ROLES = ("system", "user", "assistant")


def prompt_messages(text: str) -> list[dict[str, str]]:
    """The chat messages of a prompt: plain text is one user turn; a JSON list of
    ``{"role", "content"}`` objects ending with a user turn is a conversation so far
    (to ask something in the middle of one)."""
    if not text.lstrip().startswith("["):
        return [{"role": "user", "content": text}]
    try:
        turns: Any = load_json(text)
    except json.JSONDecodeError as error:
        raise UserError(
            f"--prompt {text[:60]}...: not valid JSON ({error.msg} at character {error.pos}).",
            hint='A conversation is a JSON list: \'[{"role": "user", "content": "Hi"}, ...]\'',
        ) from None
    if (
        not isinstance(turns, list)
        or not turns
        or not all(
            isinstance(t, dict)
            and t.get("role") in ROLES
            and isinstance(t.get("content"), str)
            and set(t) <= {"role", "content"}
            for t in turns
        )
    ):
        raise UserError(
            f"--prompt {text[:60]}: a conversation must be a list of "
            '{"role": ..., "content": ...} objects with roles system, user or assistant.'
        )
    if turns[-1]["role"] != "user":
        raise UserError(
            f"--prompt {text[:60]}: the conversation must end with a user turn, the one "
            "the models answer."
        )
    return [{"role": t["role"], "content": t["content"]} for t in turns]


def prompt_label(messages: list[dict[str, str]]) -> str:
    """How a prompt is shown beside its answers: the question, or every turn."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
