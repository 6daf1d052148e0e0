"""The loss masks of conversations (``trainer/components/masks.py``) against independent oracles.

- Templates trl can mark: trl's own ``{% generation %}`` masks (through transformers'
  ``return_assistant_tokens_mask``), token for token, on real multi-turn, system-prompt
  and tool-call rows of ``../shared/data``. Every difference is listed below with its
  reason; ftwizard never trains a token trl leaves out.
- Templates trl cannot mark (Llama 3.1/3.2 Instruct as trl ships them, SmolLM2's own, a
  Mistral-style ``[INST]`` template that moves the system prompt into the last user
  turn): every assistant turn's text and closing token carry loss, nothing else does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ftwizard.core.data.validate import validate_path
from ftwizard.trainer.components.loss_plan import _trl_templates_folder, trl_training_template
from ftwizard.trainer.components.masks import (
    ConversationMasker,
    Unmaskable,
    offsets_mask,
)
from tests.conftest import TEST_CACHE, TEST_DATA

SHARED = TEST_DATA
# The demo model's tokenizer: every test that reads it asks for the `demo_model_folder`
# fixture, which converts the model there once per checkout.
DEMO_TOKENIZER = TEST_CACHE / "models" / "smollm2-135m-instruct"
TEMPLATES = _trl_templates_folder()
assert TEMPLATES is not None

# The special tokens a template writes, added to the test tokenizer as the model's own
# tokenizer would have them (otherwise "<|end|>" splits into pieces that merge with
# the text around them).
SPECIAL = re.compile(
    r"<[|｜][^<>|｜\s]{1,40}[|｜]>|<(?:start|end)_of_turn>|<end_of_utterance>|\[/?INST\]|</?s>"
    r"|</?think>|<\|[^<>|\s]{1,40}>|<[^<>|\s/]{1,40}\|>"
)

# Tokens trl's training templates put inside {% generation %} that ftwizard leaves out,
# by template, with the reason. Whitespace-only tokens are allowed for every template:
# the newline after the closing token (a generation stops at the closing token and never
# writes it) or after the header (written by the generation prompt).
HEADER_IN_TRL_MASK = "trl's template trains the turn header, which the generation prompt writes"
PREFILLED_THINK = "the generation prompt writes this (an empty or opened think block)"
ALLOWED_DIFFERENCES: dict[str, tuple[set[str], str]] = {
    "deepseek_r1_distill": ({"<｜Assistant｜>", "<｜tool▁outputs▁end｜>"}, HEADER_IN_TRL_MASK),
    "deepseekv3": ({"<｜Assistant｜>", "<｜tool▁outputs▁end｜>"}, HEADER_IN_TRL_MASK),
    "gptoss": ({"<|start|>", "assistant"}, HEADER_IN_TRL_MASK),
    "muse_glimmer": ({"<|start|>", "assistant"}, HEADER_IN_TRL_MASK),
    "nemotron_3_5_lightning": ({"<think>", "</think>"}, PREFILLED_THINK),
    "nemotron_3_nano": ({"<think>", "</think>"}, PREFILLED_THINK),
    "nemotron_3_super": ({"<think>", "</think>"}, PREFILLED_THINK),
    "nemotron_3_ultra": ({"<think>", "</think>"}, PREFILLED_THINK),
    "qwen3_5_nothink": ({"<think>", "</think>"}, PREFILLED_THINK),
    "qwen3_5_think": ({"<think>"}, PREFILLED_THINK),
    "qwen3_6": ({"<think>"}, PREFILLED_THINK),
    "qwen3_8": ({"<think>"}, PREFILLED_THINK),
}

# Tokens ftwizard trains that trl's template leaves out, with the reason.
EXTRA_IN_FTWIZARD: dict[str, tuple[set[str], str]] = {
    "diffusion_gemma": (
        {"<|tool_response>", "<|turn>model\n"},
        "the template closes a tool-call turn with <|tool_response>, and after a tool result "
        "its generation prompt stops at <tool_response|>: what follows is the model's to write",
    ),
}


def _rows(name: str, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    validate_path(SHARED / name, on_row=rows.append)
    return rows[:limit]


def _shared_conversations() -> list[dict[str, Any]]:
    """Multi-turn rows with tool calls, the same with a system prompt, typed-content rows."""
    tool_rows = [r for r in _rows("glaive_toolcall_en_demo.json", 80) if r.get("tools")][:6]
    multi_turn = [
        r
        for r in _rows("glaive_toolcall_en_demo.json", 80)
        if sum(m["role"] == "assistant" for m in r["messages"]) > 1
        and not any("tool_calls" in m for m in r["messages"])
    ][:4]
    with_system = [
        {
            "messages": [{"role": "system", "content": "You are a careful assistant."}]
            + r["messages"]
        }
        for r in multi_turn[:2]
    ]
    return tool_rows + multi_turn + with_system + _rows("v1_sft_demo.jsonl", 3)


def _tokenizer(template: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(DEMO_TOKENIZER)
    specials = sorted(set(SPECIAL.findall(template)))
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    return tokenizer


def _trl_mask(tokenizer: Any, template: str, row: dict[str, Any]) -> tuple[list[int], list[int]]:
    out = tokenizer.apply_chat_template(
        row["messages"],
        tools=row.get("tools"),
        chat_template=template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    return list(out["input_ids"]), list(out["assistant_masks"])


def _runs(tokenizer: Any, ids: list[int], flags: list[bool]) -> list[str]:
    """The text of each run of consecutive flagged tokens."""
    runs: list[list[int]] = []
    for position, flagged in enumerate(flags):
        if flagged and position and flags[position - 1]:
            runs[-1].append(ids[position])
        elif flagged:
            runs.append([ids[position]])
    return [tokenizer.decode(run) for run in runs]


def _markable() -> list[str]:
    return sorted(
        p.name.removesuffix("_training.jinja")
        for p in TEMPLATES.glob("*_training.jinja")
        if (TEMPLATES / p.name.replace("_training", "")).is_file()
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", _markable())
def test_spans_equal_trls_generation_masks(demo_model_folder: Path, name: str) -> None:
    template = (TEMPLATES / f"{name}_training.jinja").read_text()
    tokenizer = _tokenizer(template)
    allowed, reason = ALLOWED_DIFFERENCES.get(name, (set(), ""))
    compared = multi_turn = 0
    for row in _shared_conversations():
        try:
            ids, trl_mask = _trl_mask(tokenizer, template, row)
        except Exception:  # the template refuses this row (no system role, no tools...)
            continue
        if 1 not in trl_mask:
            continue
        masked = ConversationMasker(tokenizer, template).mask(row["messages"], row.get("tools"))
        assert masked.input_ids == ids, f"{name}: not the ids trl trains"
        only_ours = [a > b for a, b in zip(masked.assistant_masks, trl_mask, strict=True)]
        ours_allowed, ours_reason = EXTRA_IN_FTWIZARD.get(name, (set(), ""))
        for piece in _runs(tokenizer, ids, only_ours):
            rest = piece
            for text in ours_allowed:
                rest = rest.replace(text, "")
            assert not rest.strip(), f"{name}: ftwizard trains {piece!r}, trl does not"
        only_trl = [b > a for a, b in zip(masked.assistant_masks, trl_mask, strict=True)]
        for piece in _runs(tokenizer, ids, only_trl):
            rest = piece
            for text in allowed:
                rest = rest.replace(text, "")
            assert not rest.strip(), (
                f"{name}: trl trains {piece!r}, ftwizard does not "
                f"(allowed here: {sorted(allowed)} - {reason or 'nothing'})"
            )
        compared += 1
        multi_turn += sum(m["role"] == "assistant" for m in row["messages"]) > 1
    if name in ("gemma", "llava_next"):  # no system role / multimodal content only
        return
    assert compared >= 3 and multi_turn >= 1, f"{name}: compared {compared} rows"


@pytest.mark.slow
def test_the_template_trl_trains_with_is_trls_answer(demo_model_folder: Path) -> None:
    """``trl_training_template`` reads trl's files to spare a torch import; it must
    give the template trl's SFT trainer masks with, for every template trl ships."""
    from transformers import PreTrainedTokenizerFast
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    tokenizer = PreTrainedTokenizerFast.from_pretrained(DEMO_TOKENIZER)
    for path in sorted(TEMPLATES.glob("*.jinja")):
        template = path.read_text()
        tokenizer.chat_template = template
        # As SFTTrainer decides: a template with markers is used as it is.
        if has_generation_markers(template):
            expected: str | None = template
        else:
            try:
                patched = get_training_chat_template(tokenizer)
            except ValueError:
                expected = None
            else:
                expected = template if patched is None else patched
        assert trl_training_template(template) == expected, path.name


# --- Templates trl cannot mark --------------------------------------------------------

MISTRAL_STYLE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% if loop.last or loop.index0 == messages|length - 2 %}"
    "{% if messages[0]['role'] == 'system' %}"
    "{{ '[INST] ' + messages[0]['content'] + '\n\n' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}"
    "{% else %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}"
    "{% endif %}{% endfor %}"
)
"""Mistral Instruct v0.1-style: the system prompt rides in the *last* user turn, so a
rendering up to an earlier turn is not a prefix of the whole (the fallback path)."""


def _unmarkable_templates(demo_model_folder: Path) -> dict[str, str]:
    return {
        "llama3_1": (TEMPLATES / "llama3_1.jinja").read_text(),
        "llama3_2": (TEMPLATES / "llama3_2.jinja").read_text(),
        "smollm2": (demo_model_folder / "chat_template.jinja").read_text(),
        "mistral_inst": MISTRAL_STYLE,
    }


def _plain_conversations() -> list[dict[str, Any]]:
    with_system = [
        {
            "messages": [{"role": "system", "content": "You are Wiz, a small assistant."}]
            + r["messages"]
        }
        for r in _shared_conversations()
        if not r.get("tools") and not any(m["role"] == "system" for m in r["messages"])
    ][:3]
    return [r for r in _shared_conversations() if not r.get("tools")] + with_system


@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama3_1", "llama3_2", "smollm2", "mistral_inst"])
def test_every_answer_and_its_closing_token_train_where_trl_cannot_mark(
    demo_model_folder: Path, name: str
) -> None:
    template = _unmarkable_templates(demo_model_folder)[name]
    assert trl_training_template(template) is None
    tokenizer = _tokenizer(template)
    if name == "mistral_inst":
        tokenizer.add_special_tokens({"eos_token": "</s>", "bos_token": "<s>"})
    masker = ConversationMasker(tokenizer, template)
    closing = {"llama3_1": "<|eot_id|>", "llama3_2": "<|eot_id|>"}.get(
        name, "</s>" if name == "mistral_inst" else "<|im_end|>"
    )
    assert closing in masker.closings
    rows = _plain_conversations()
    if name == "mistral_inst":  # the fallback path is the one under test
        row = next(r for r in rows if r["messages"][0]["role"] == "system")
        assert not masker.render(row["messages"]).startswith(masker.render(row["messages"][:3]))
    assert sum(sum(m["role"] == "assistant" for m in r["messages"]) > 1 for r in rows) >= 3
    for row in rows:
        masked = masker.mask(row["messages"])
        encoding = tokenizer(masked.text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoding["offset_mapping"]
        # The oracle: each message's text found in the rendering in order, and for an
        # answer the closing token right after it.
        cursor, expected_on, expected_off = 0, [], []
        for message in row["messages"]:
            content = message["content"].strip()
            start = masked.text.find(content, cursor)
            if message["role"] == "system" and name == "mistral_inst":
                start = masked.text.find(content)  # moved into the last user turn
            assert start >= 0, f"{name}: {content[:40]!r} not rendered"
            end = start + len(content)
            if message["role"] == "assistant":
                close = masked.text.index(closing, end)
                assert not masked.text[end:close].strip()
                expected_on.append((start, close + len(closing)))
            else:
                expected_off.append((start, end))
            if message["role"] != "system" or name != "mistral_inst":
                cursor = end
        on = offsets_mask(offsets, expected_on)
        off = offsets_mask(offsets, expected_off)
        got = masked.assistant_masks
        assert all(got[i] for i, v in enumerate(on) if v), f"{name}: an answer token untrained"
        assert not any(got[i] for i, v in enumerate(off) if v), f"{name}: a prompt token trained"
        closing_id = tokenizer.convert_tokens_to_ids(closing)
        closing_trained = [got[i] for i, t in enumerate(masked.input_ids) if t == closing_id]
        answers = sum(m["role"] == "assistant" for m in row["messages"])
        assert sum(closing_trained) == answers, f"{name}: closing tokens trained"


@pytest.mark.slow
def test_the_last_answer_only_and_every_token(demo_model_folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(DEMO_TOKENIZER)
    template = tokenizer.chat_template
    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "second answer"},
    ]
    every = ConversationMasker(tokenizer, template).mask(messages)
    last = ConversationMasker(tokenizer, template, "last_assistant").mask(messages)
    whole = ConversationMasker(tokenizer, template, "all").mask(messages)
    assert [every.text[a:b] for a, b in every.spans] == [
        "first answer<|im_end|>",
        "second answer<|im_end|>",
    ]
    assert [last.text[a:b] for a, b in last.spans] == ["second answer<|im_end|>"]
    assert sum(whole.assistant_masks) == len(whole.input_ids)
    assert 0 < sum(last.assistant_masks) < sum(every.assistant_masks) < len(every.input_ids)


@pytest.mark.slow
def test_a_conversation_that_cannot_be_masked_says_why(demo_model_folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(DEMO_TOKENIZER)
    # A template that drops the assistant's words, and is not prefix-preserving.
    template = (
        "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}"
        "{% if loop.last %}!{% endif %}{% endif %}{% endfor %}"
    )
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    with pytest.raises(Unmaskable, match="not in the rendering"):
        ConversationMasker(tokenizer, template).mask(messages)


def test_offsets_mask_counts_a_token_by_where_it_starts() -> None:
    offsets = [(0, 2), (2, 5), (5, 5), (5, 9), (9, 12)]
    assert offsets_mask(offsets, [(2, 9)]) == [0, 1, 0, 1, 0]
    assert offsets_mask(offsets, [(0, 2), (9, 12)]) == [1, 0, 0, 0, 1]
    assert json.dumps(offsets_mask([], [(0, 1)])) == "[]"


@pytest.mark.slow
def test_trl_trains_exactly_the_masked_tokens(tmp_path: Path, tiny_model: Path) -> None:
    """The pre-tokenised rows reach trl's SFT trainer, which builds its labels from
    ``assistant_masks``: the trained tokens are the answers and their closing tokens."""
    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.core.runs.folder import create_run
    from ftwizard.trainer.components.build import build_trainer
    from ftwizard.trainer.components.data import prepare
    from ftwizard.trainer.components.loading import load_model, load_tokenizer, lora_config

    messages = [
        {"role": "user", "content": "Hi, I am Ann. Who are you?"},
        {"role": "assistant", "content": "I am Wiz, nice to meet you Ann."},
        {"role": "user", "content": "Nice to meet you."},
        {"role": "assistant", "content": "You too!"},
    ]
    data = tmp_path / "conv.jsonl"
    data.write_text(json.dumps({"messages": messages}) + "\n")
    config = load_config(
        None,
        [
            f"model.model_name_or_path={tiny_model}",
            f"data.path={data}",
            "model.dtype=float32",
            f"output.runs_root={tmp_path / 'runs'}",
            "training.max_length=128",
        ],
    )
    tokenizer = load_tokenizer(config)
    prepared = prepare(config, tokenizer)
    assert prepared.loss_mode == "assistant" and not prepared.trl_masks
    trainer = build_trainer(
        config,
        create_run(config),
        load_model(config),
        tokenizer,
        lora_config(config),
        prepared,
        [],
    )
    row = trainer.train_dataset[0]
    trained = [i for i, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    assert (
        tokenizer.decode(trained) == "I am Wiz, nice to meet you Ann.<|im_end|>You too!<|im_end|>"
    )


@pytest.mark.slow
def test_conversations_that_cannot_be_masked_are_left_out_and_named(
    tmp_path: Path, tiny_model: Path
) -> None:
    """A template that rewrites answers (upper case) and is not prefix-preserving (it
    ends every conversation with "!"): the rows whose first answer it changes cannot be
    located, so they are left out and counted, with example numbers; the others train
    with their masks."""
    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.trainer.components.data import prepare
    from ftwizard.trainer.components.loading import load_tokenizer

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"{i} {i}" if i % 3 else f"answer {i}"},
                {"role": "user", "content": "and then?"},
                {"role": "assistant", "content": "42"},
            ]
        }
        for i in range(9)
    ]
    data = tmp_path / "conv.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = load_config(
        None, [f"model.model_name_or_path={tiny_model}", f"data.path={data}", "model.dtype=float32"]
    )
    tokenizer = load_tokenizer(config)
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{{ m['content'] | upper if m['role'] == 'assistant' else m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        "{% if not add_generation_prompt %}!{% endif %}"
    )
    prepared = prepare(config, tokenizer)
    assert prepared.masked_by == "ftwizard"
    assert prepared.unmaskable["count"] == 3 and prepared.unmaskable["examples"] == [0, 3, 6]
    assert "not in the rendering" in prepared.unmaskable["reason"]
    assert len(prepared.train) == 6
    answers = [f"{i} {i}" for i in range(9) if i % 3]
    for row, answer in zip(prepared.train, answers, strict=True):
        trained = [t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m]
        # both answers with their closing token (and the "!" the template writes after
        # the last one, as trl's own marks train phi-3's end-of-text after the last turn)
        assert tokenizer.decode(trained) == f"{answer}<|im_end|>42<|im_end|>\n!"
