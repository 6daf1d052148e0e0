"""Reading text and conversations out of rows, in any role vocabulary.

Every helper raises :class:`RowProblem` with a kind and a message when a row
cannot be used, so validation can count and list every problem at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ftwizard.core.files import load_json

ROLE_NAMES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}
KNOWN_ROLES = ("system", "user", "assistant", "tool")


class RowProblem(Exception):
    """Why one row cannot be used; ``kind`` groups problems in the report."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# --- Text fields -------------------------------------------------------------------


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def nested_path(row: Mapping[str, Any], key: str, depth: int = 3) -> str | None:
    """Where a nested object of the row holds ``key`` (``instances.0.output``), if anywhere."""
    if depth == 0:
        return None
    for name, value in row.items():
        children: list[tuple[str, Mapping[str, Any]]] = []
        if isinstance(value, Mapping):
            children = [(name, value)]
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            children = [(f"{name}.0", value[0])]  # the first item shows the layout
        for path, child in children:
            if key in child:
                return f"{path}.{key}"
            deeper = nested_path(child, key, depth - 1)
            if deeper:
                return f"{path}.{deeper}"
    return None


def text_field(row: Mapping[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None:
        if required:
            found = nested_path(row, key)
            if found:
                raise RowProblem(
                    "missing_field",
                    f"missing `{key}`; a nested `{found}` holds one: read it with "
                    f"--map {key}={found} (data.column_map), or flatten the file",
                )
            raise RowProblem("missing_field", f"missing `{key}`")
        return ""
    if not isinstance(value, str):
        raise RowProblem("wrong_type", f"`{key}` holds {_describe(value)}, not text")
    if required and not value.strip():
        raise RowProblem("empty_text", f"`{key}` is empty")
    return value


def content_text(content: Any, where: str) -> str:
    """A message's content as text: a string, or a list of text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict):
                raise RowProblem(
                    "non_string_content", f"{where}: a content part is {_describe(part)}"
                )
            kind = part.get("type", "text")
            if kind != "text":
                raise RowProblem(
                    "unsupported_content",
                    f"{where}: `{kind}` content parts need a vision model; only text is supported",
                )
            value = part.get("text", part.get("value"))
            if not isinstance(value, str):
                raise RowProblem("non_string_content", f"{where}: a text part has no text")
            texts.append(value)
        return "".join(texts)
    if content is None:
        raise RowProblem("missing_field", f"{where}: no content")
    raise RowProblem("non_string_content", f"{where}: content is {_describe(content)}, not text")


# --- Conversations -------------------------------------------------------------------


def _tool_call(value: str, where: str) -> dict[str, Any]:
    try:
        call = load_json(value)
    except json.JSONDecodeError:
        raise RowProblem(
            "wrong_type",
            f'{where}: a function_call turn must hold JSON ({{"name": ..., "arguments": {{...}}}})',
        ) from None
    if not isinstance(call, dict) or "name" not in call:
        raise RowProblem("wrong_type", f"{where}: a function_call turn needs a `name`")
    return {
        "type": "function",
        "function": {"name": call["name"], "arguments": call.get("arguments", {})},
    }


def conversation(turns: Any, field: str, role_key: str, content_key: str) -> list[dict[str, Any]]:
    """Turns in any role vocabulary as trl messages (tool calls become assistant tool_calls)."""
    if not isinstance(turns, list):
        raise RowProblem(
            "wrong_type" if turns is not None else "missing_field",
            f"`{field}` must be a list of turns" if turns is not None else f"missing `{field}`",
        )
    if not turns:
        raise RowProblem("empty_text", f"`{field}` has no turns")
    messages: list[dict[str, Any]] = []
    for number, turn in enumerate(turns, start=1):
        where = f"`{field}` turn {number}"
        if not isinstance(turn, dict):
            raise RowProblem("wrong_type", f"{where} is {_describe(turn)}, not an object")
        raw_role = turn.get(role_key)
        role = ROLE_NAMES.get(str(raw_role).lower()) if raw_role is not None else None
        if role is None:
            raise RowProblem(
                "unknown_role",
                f"{where} has role {raw_role!r}; known: {', '.join(sorted(set(ROLE_NAMES)))}",
            )
        text = content_text(turn.get(content_key), where)
        if role == "function_call":
            messages.append(
                {"role": "assistant", "content": "", "tool_calls": [_tool_call(text, where)]}
            )
            continue
        if not text.strip() and not turn.get("tool_calls"):
            raise RowProblem("empty_text", f"{where} ({role}) is empty")
        message: dict[str, Any] = {"role": role, "content": text}
        if turn.get("tool_calls"):
            message["tool_calls"] = turn["tool_calls"]
        messages.append(message)
    return messages


def check_order(messages: list[dict[str, Any]], field: str, ends_with_assistant: bool) -> None:
    """System first if at all; user and assistant alternate (tools answer tool calls)."""
    previous: str | None = None
    for number, message in enumerate(messages, start=1):
        role = message["role"]
        if role == "system" and number != 1:
            raise RowProblem(
                "role_order", f"`{field}` turn {number}: a system turn after the start"
            )
        if role == "assistant" and previous in (None, "system"):
            raise RowProblem("role_order", f"`{field}` turn {number}: the assistant speaks first")
        if role == previous and role in ("user", "assistant") and "tool_calls" not in message:
            raise RowProblem("role_order", f"`{field}` turn {number}: two {role} turns in a row")
        if role == "tool" and previous not in ("assistant", "tool"):
            raise RowProblem(
                "role_order", f"`{field}` turn {number}: a tool result no call asked for"
            )
        previous = role
    if ends_with_assistant and previous != "assistant":
        raise RowProblem(
            "last_turn_not_assistant",
            f"`{field}` ends with a {previous} turn; the last turn must be the "
            "assistant's answer the model learns",
        )


def tools_of(row: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    tools = row.get("tools")
    if tools in (None, "", []):
        return None
    if isinstance(tools, str):
        try:
            tools = load_json(tools)
        except json.JSONDecodeError:
            raise RowProblem("wrong_type", "`tools` is not valid JSON") from None
    if not isinstance(tools, list):
        raise RowProblem("wrong_type", "`tools` must be a list of function schemas")
    return [t if "function" in t else {"type": "function", "function": t} for t in tools]
