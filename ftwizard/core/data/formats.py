"""Dataset layouts: detect which one a file uses, and normalise rows to trl's shapes.

trl's trainers take five shapes: conversational ``messages`` (plus ``tools``),
``prompt``/``completion``, ``text``, ``prompt``/``chosen``/``rejected`` and KTO's
``prompt``/``completion``/``label``. Every layout people use maps onto one of
them here. A row that cannot be mapped raises :class:`RowProblem` with a kind and
a message, so validation can count and list every problem at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


Normaliser = Callable[[Mapping[str, Any]], dict[str, Any]]


class RowProblem(Exception):
    """Why one row cannot be used; ``kind`` groups problems in the report."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Detection:
    format: str
    """alpaca, sharegpt, messages, prompt_completion, text, preference, kto."""
    layout: str
    """The concrete variant, e.g. preference "sharegpt", "trl" or "chosen_messages"."""
    confidence: float
    evidence: list[str]
    trainer_shape: str
    """The trl shape rows become: messages, prompt-completion, text, preference, kto."""
    notes: tuple[str, ...] = ()
    """What the normalisation will not carry over, said up front."""


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


def text_field(row: Mapping[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None:
        if required:
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
        call = json.loads(value)
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


def _tools(row: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    tools = row.get("tools")
    if tools in (None, "", []):
        return None
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError:
            raise RowProblem("wrong_type", "`tools` is not valid JSON") from None
    if not isinstance(tools, list):
        raise RowProblem("wrong_type", "`tools` must be a list of function schemas")
    return [t if "function" in t else {"type": "function", "function": t} for t in tools]


# --- Normalisers, one per layout ------------------------------------------------------


def _alpaca(row: Mapping[str, Any]) -> dict[str, Any]:
    instruction = text_field(row, "instruction")
    extra = text_field(row, "input", required=False)
    output = text_field(row, "output")
    messages: list[dict[str, Any]] = []
    system = text_field(row, "system", required=False)
    if system.strip():
        messages.append({"role": "system", "content": system})
    history = row.get("history") or []
    if not isinstance(history, list):
        raise RowProblem("wrong_type", "`history` must be a list of [question, answer] pairs")
    for number, pair in enumerate(history, start=1):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        ):
            raise RowProblem(
                "wrong_type", f"`history` item {number} is not a [question, answer] pair"
            )
        messages += [
            {"role": "user", "content": pair[0]},
            {"role": "assistant", "content": pair[1]},
        ]
    prompt = f"{instruction}\n{extra}" if extra.strip() else instruction
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return {"messages": messages}


def _chat(field: str, role_key: str, content_key: str) -> Normaliser:
    """A normaliser for conversations stored under ``field`` (ShareGPT, OpenAI messages)."""

    def normalise(row: Mapping[str, Any]) -> dict[str, Any]:
        messages = conversation(row.get(field), field, role_key, content_key)
        check_order(messages, field, ends_with_assistant=True)
        result: dict[str, Any] = {"messages": messages}
        tools = _tools(row)
        if tools:
            result["tools"] = tools
        return result

    return normalise


_sharegpt = _chat("conversations", "from", "value")
_messages = _chat("messages", "role", "content")


def _side(row: Mapping[str, Any], key: str) -> str | list[dict[str, Any]]:
    value = row.get(key)
    if isinstance(value, list):
        return conversation(value, key, "role", "content")
    return text_field(row, key)


def _prompt_completion(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"prompt": _side(row, "prompt"), "completion": _side(row, "completion")}


def _text(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": text_field(row, "text")}


def _needs_pair(row: Mapping[str, Any], chosen: str, rejected: str) -> None:
    missing = [k for k in (chosen, rejected) if row.get(k) in (None, "", [], {})]
    if missing:
        have = chosen if missing == [rejected] else rejected
        raise RowProblem(
            "incomplete_pair",
            f"has `{have}` but no `{missing[0]}`"
            if len(missing) == 1
            else f"missing both `{chosen}` and `{rejected}`",
        )


def _preference_trl(row: Mapping[str, Any]) -> dict[str, Any]:
    _needs_pair(row, "chosen", "rejected")
    result = {"chosen": _side(row, "chosen"), "rejected": _side(row, "rejected")}
    if "prompt" in row:
        result = {"prompt": _side(row, "prompt"), **result}
    return result


def _preference_sharegpt(row: Mapping[str, Any]) -> dict[str, Any]:
    _needs_pair(row, "chosen", "rejected")
    prompt = conversation(row.get("conversations"), "conversations", "from", "value")
    check_order(prompt, "conversations", ends_with_assistant=False)
    answers = []
    for key in ("chosen", "rejected"):
        turn = row[key]
        if not isinstance(turn, dict):
            raise RowProblem("wrong_type", f"`{key}` must be one turn ({{from, value}})")
        answers.append(conversation([turn], key, "from", "value"))
    return {"prompt": prompt, "chosen": answers[0], "rejected": answers[1]}


def _preference_full_conversations(row: Mapping[str, Any]) -> dict[str, Any]:
    _needs_pair(row, "chosen_messages", "rejected_messages")
    chosen = conversation(row["chosen_messages"], "chosen_messages", "role", "content")
    rejected = conversation(row["rejected_messages"], "rejected_messages", "role", "content")
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == 0 or shared == len(chosen) or shared == len(rejected):
        raise RowProblem(
            "incomplete_pair", "chosen and rejected must share a prompt and then differ"
        )
    return {"prompt": chosen[:shared], "chosen": chosen[shared:], "rejected": rejected[shared:]}


def _label(row: Mapping[str, Any]) -> bool:
    label = row.get("label")
    if not isinstance(label, bool):
        raise RowProblem(
            "wrong_type" if label is not None else "missing_field",
            f"`label` must be true or false (got {label!r})"
            if label is not None
            else "missing `label`",
        )
    return label


def _kto_messages(row: Mapping[str, Any]) -> dict[str, Any]:
    label = _label(row)
    messages = conversation(row.get("messages"), "messages", "role", "content")
    check_order(messages, "messages", ends_with_assistant=True)
    return {"prompt": messages[:-1], "completion": messages[-1:], "label": label}


def _kto_prompt_completion(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**_prompt_completion(row), "label": _label(row)}


# (format, layout, trl shape, the keys that identify it, the normaliser), most specific first.
LAYOUTS: list[tuple[str, str, str, tuple[str, ...], Normaliser]] = [
    ("kto", "messages", "kto", ("messages", "label"), _kto_messages),
    ("kto", "prompt_completion", "kto", ("prompt", "completion", "label"), _kto_prompt_completion),
    (
        "preference",
        "chosen_messages",
        "preference",
        ("chosen_messages", "rejected_messages"),
        _preference_full_conversations,
    ),
    ("preference", "sharegpt", "preference", ("conversations", "chosen"), _preference_sharegpt),
    ("preference", "sharegpt", "preference", ("conversations", "rejected"), _preference_sharegpt),
    ("preference", "trl", "preference", ("chosen",), _preference_trl),
    ("preference", "trl", "preference", ("rejected",), _preference_trl),
    ("sharegpt", "sharegpt", "messages", ("conversations",), _sharegpt),
    ("messages", "openai", "messages", ("messages",), _messages),
    ("alpaca", "alpaca", "messages", ("instruction",), _alpaca),
    (
        "prompt_completion",
        "prompt_completion",
        "prompt-completion",
        ("prompt", "completion"),
        _prompt_completion,
    ),
    ("text", "text", "text", ("text",), _text),
]
FORMATS = sorted({layout[0] for layout in LAYOUTS})


def _match(keys: set[str]) -> tuple[str, str, str, tuple[str, ...], Normaliser] | None:
    return next((layout for layout in LAYOUTS if set(layout[3]) <= keys), None)


def detect(sample: Sequence[Mapping[str, Any]], forced: str = "auto") -> Detection | None:
    """The layout most sampled rows match, with evidence; None when nothing matches."""
    votes: Counter[tuple[str, str]] = Counter()
    by_key: dict[tuple[str, str], tuple[str, str, str, tuple[str, ...], Normaliser]] = {}
    for row in sample:
        layout = _match(set(row))
        if layout is not None and (forced == "auto" or layout[0] == forced):
            votes[(layout[0], layout[1])] += 1
            by_key[(layout[0], layout[1])] = layout
    if not votes:
        return None
    (fmt, variant), count = votes.most_common(1)[0]
    layout = by_key[(fmt, variant)]
    confidence = count / len(sample)
    keys = ", ".join(f"`{k}`" for k in layout[3])
    evidence = [f"{count} of {len(sample)} sampled rows have {keys}"]
    columns = sorted({k for row in sample for k in row})
    evidence.append("columns: " + ", ".join(columns))
    if fmt in ("sharegpt", "messages", "kto") or variant == "sharegpt":
        field, role_key = (
            ("conversations", "from") if "conversations" in layout[3] else ("messages", "role")
        )
        roles = Counter(
            str(t.get(role_key))
            for row in sample
            for t in (row.get(field) or [])
            if isinstance(t, dict)
        )
        if roles:
            evidence.append(
                "roles seen: " + ", ".join(f"{r} ({n})" for r, n in roles.most_common())
            )
    if any("tools" in row for row in sample):
        evidence.append("a `tools` column lists function schemas")
    if any(
        isinstance(t.get("content"), list)
        for row in sample
        for t in (row.get("messages") or [])
        if isinstance(t, dict)
    ):
        evidence.append("message content is given as a list of typed parts")
    notes: tuple[str, ...] = ()
    turns = [
        t
        for row in sample
        for key in ("messages", "conversations", "chosen_messages")
        for t in (row.get(key) or [])
        if isinstance(t, dict)
    ]
    if any("loss_weight" in t for t in turns):
        notes = (
            "per-turn `loss_weight` values are not used: the loss covers the assistant's "
            "turns (assistant-only loss)",
        )
    if len(votes) > 1:
        others = ", ".join(f"{f}/{v} ({n})" for (f, v), n in votes.most_common()[1:])
        evidence.append(f"other layouts in the sample: {others}")
    return Detection(fmt, variant, round(confidence, 3), evidence, layout[2], notes)


def normaliser(detection: Detection) -> Normaliser:
    for layout in LAYOUTS:
        if (layout[0], layout[1]) == (detection.format, detection.layout):
            return layout[4]
    raise KeyError(detection)


def apply_column_map(row: Mapping[str, Any], column_map: Mapping[str, str]) -> dict[str, Any]:
    """Read the person's columns as the expected ones: {instruction: question}."""
    if not column_map:
        return dict(row)
    renamed = {k: v for k, v in row.items() if k not in column_map.values()}
    for expected, actual in column_map.items():
        if actual in row:
            renamed[expected] = row[actual]
    return renamed
