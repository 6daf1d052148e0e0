"""Dataset layouts: detect which one a file uses, and normalise rows to trl's shapes.

trl's trainers take six shapes: conversational ``messages`` (plus ``tools``),
``prompt``/``completion``, ``text``, ``prompt``/``chosen``/``rejected``, KTO's
``prompt``/``completion``/``label``, and online RL's ``prompt`` alone (with the
``answer`` a reward checks). Every layout people use maps onto one of
them here. A row that cannot be mapped raises :class:`RowProblem` with a kind and
a message, so validation can count and list every problem at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftwizard.core.data.conversations import (
    RowProblem,
    check_order,
    conversation,
    text_field,
    tools_of,
)

__all__ = ["Detection", "RowProblem", "apply_column_map", "conversation", "detect", "normaliser"]


Normaliser = Callable[[Mapping[str, Any]], dict[str, Any]]


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
        tools = tools_of(row)
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


def _answer(row: Mapping[str, Any]) -> dict[str, str]:
    """The row's checkable answer (``answer``, or ``solution`` as trl's rewards call it)."""
    for key in ("answer", "solution"):
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise RowProblem("wrong_type", f"`{key}` must be text or a number")
        return {"answer": str(value)}
    return {}


def _prompt_only(row: Mapping[str, Any]) -> dict[str, Any]:
    """A prompt for online RL, always as a conversation (so the chat template applies)."""
    prompt = _side(row, "prompt")
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    check_order(prompt, "prompt", ends_with_assistant=False)
    return {"prompt": prompt, **_answer(row)}


def _open_messages(row: Mapping[str, Any]) -> dict[str, Any]:
    """``messages`` that end with the user's turn: the prompt the model answers."""
    messages = conversation(row.get("messages"), "messages", "role", "content")
    check_order(messages, "messages", ends_with_assistant=False)
    if messages[-1]["role"] != "user":
        raise RowProblem("role_order", "`messages` must end with the user's turn")
    return {"prompt": messages, **_answer(row)}


def _ends_with_user(row: Mapping[str, Any]) -> bool:
    turns = row.get("messages")
    return (
        isinstance(turns, list)
        and bool(turns)
        and isinstance(turns[-1], dict)
        and turns[-1].get("role") == "user"
    )


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
    ("prompts", "messages", "prompts", ("messages",), _open_messages),  # ends with the user
    ("messages", "openai", "messages", ("messages",), _messages),
    ("alpaca", "alpaca", "messages", ("instruction",), _alpaca),
    (
        "prompt_completion",
        "prompt_completion",
        "prompt-completion",
        ("prompt", "completion"),
        _prompt_completion,
    ),
    ("prompts", "prompt", "prompts", ("prompt",), _prompt_only),
    ("text", "text", "text", ("text",), _text),
]
FORMATS = sorted({layout[0] for layout in LAYOUTS})


def _match(row: Mapping[str, Any]) -> tuple[str, str, str, tuple[str, ...], Normaliser] | None:
    keys = set(row)
    for layout in LAYOUTS:
        if not set(layout[3]) <= keys:
            continue
        # A conversation waiting for its answer is a prompt, not an example to imitate.
        if layout[4] is _open_messages and not _ends_with_user(row):
            continue
        return layout
    return None


def detect(sample: Sequence[Mapping[str, Any]], forced: str = "auto") -> Detection | None:
    """The layout most sampled rows match, with evidence; None when nothing matches."""
    votes: Counter[tuple[str, str]] = Counter()
    by_key: dict[tuple[str, str], tuple[str, str, str, tuple[str, ...], Normaliser]] = {}
    for row in sample:
        layout = _match(row)
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
    if fmt in ("sharegpt", "messages", "kto") or variant in ("sharegpt", "messages"):
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
    """Read the person's columns as the expected ones: {instruction: question}. A dotted
    path reads inside nested rows: {output: instances.0.output}."""
    if not column_map:
        return dict(row)
    renamed = {k: v for k, v in row.items() if k not in column_map.values()}
    for expected, actual in column_map.items():
        if actual in row:
            renamed[expected] = row[actual]
        elif "." in actual:
            found = value_at(row, actual)
            if found is not None:
                renamed[expected] = found
    return renamed


def value_at(row: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``instances.0.output``): keys of objects, indices
    of lists; None where the path leads nowhere."""
    value: Any = row
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
