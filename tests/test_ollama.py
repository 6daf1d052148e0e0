"""The Ollama Modelfile's template (``core/outputs/ollama.py``) against Go's own text/template.

The oracle is independent of the code under test: real chat templates (trl ships those
of many families) rendered by transformers on one side; on the other, the Go template
ftwizard derived from them, executed by Go's text/template on the data Ollama gives a
template (``tests/ollama_oracle/main.go``). They must write the same prompt.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ftwizard.core.outputs import ollama

TRL_TEMPLATES = Path(importlib.util.find_spec("trl").origin or "").parent / "chat_templates"  # type: ignore[union-attr]
# One or two per family the catalog covers or people train often.
FAMILIES = [
    "llama3.jinja",
    "llama3_1.jinja",
    "llama3_2.jinja",
    "qwen2_5.jinja",
    "qwen3.jinja",
    "qwen3_instruct_2507.jinja",
    "gemma3.jinja",
    "phi3_5.jinja",
    "deepseekv3.jinja",
    "cohere2.jinja",
    "lfm2.jinja",
]

SYSTEM = {"role": "system", "content": "You answer in one short sentence."}
TWO_TURNS = [
    {"role": "user", "content": "Hi! I am Ann and I am learning to cook."},
    {"role": "assistant", "content": "Nice to meet you, Ann! What would you like to cook?"},
    {"role": "user", "content": "Before we start, what should I call you?"},
]
CONVERSATIONS = [
    TWO_TURNS,
    [SYSTEM, *TWO_TURNS],
    [TWO_TURNS[0]],
    [SYSTEM, *TWO_TURNS, {"role": "assistant", "content": "Call me Wiz."}, TWO_TURNS[0]],
]


@pytest.fixture(scope="module")
def tokenizer(demo_model_folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(demo_model_folder)


def _renderer(tokenizer: Any, template: str) -> ollama.Render:
    def render(messages: list[dict[str, str]], generation_prompt: bool) -> str:
        return str(
            tokenizer.apply_chat_template(
                messages,
                chat_template=template,
                tokenize=False,
                add_generation_prompt=generation_prompt,
            )
        )

    return render


@pytest.mark.parametrize("name", [None, *FAMILIES])
def test_the_go_template_writes_the_prompt_the_chat_template_writes(
    tokenizer: Any, go_template: Callable[[str, list[dict[str, str]]], str], name: str | None
) -> None:
    text = tokenizer.chat_template if name is None else (TRL_TEMPLATES / name).read_text()
    render = _renderer(tokenizer, text)
    # A template that writes the BOS token itself: the GGUF adds it, the Modelfile must not.
    bos = tokenizer.bos_token if "bos_token" in text else None
    pieces = ollama.turn_pieces(render, bos)
    template = pieces.go_template()
    for messages in CONVERSATIONS:
        expected = render(messages, True)
        if bos:
            assert expected.startswith(bos)
            expected = expected.removeprefix(bos)
        assert go_template(template, messages) == expected, [m["role"] for m in messages]


MOVES_THE_SYSTEM_PROMPT = (  # as Mistral's: into the last user turn
    "{% set system = messages | selectattr('role', 'eq', 'system') | map(attribute="
    "'content') | join %}{% for m in messages if m.role != 'system' %}"
    "{% if m.role == 'user' %}[INST] {% if loop.last and system %}{{ system }}\n\n"
    "{% endif %}{{ m.content }}[/INST]{% else %} {{ m.content }}</s>{% endif %}"
    "{% endfor %}"
)
NUMBERS_THE_TURNS = (
    "{% for m in messages %}{{ loop.index }}. {{ m.role }}: {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}{{ messages | length + 1 }}. assistant:{% endif %}"
)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (MOVES_THE_SYSTEM_PROMPT, "does not write each message once, in order"),
        (NUMBERS_THE_TURNS, "depending on more than the turn before"),
    ],
)
def test_templates_a_turn_by_turn_replay_cannot_match_are_refused(
    tokenizer: Any, template: str, reason: str
) -> None:
    with pytest.raises(ollama.TemplateNotPortable, match=reason) as caught:
        ollama.turn_pieces(_renderer(tokenizer, template), None)
    assert caught.value.hint and "Leave out --ollama" in caught.value.hint


def test_a_template_that_refuses_a_system_prompt_is_refused_with_its_own_words(
    tokenizer: Any,
) -> None:
    render = _renderer(tokenizer, (TRL_TEMPLATES / "gemma.jinja").read_text())
    with pytest.raises(ollama.TemplateNotPortable, match="System role not supported"):
        ollama.turn_pieces(render, None)


def test_the_modelfile_names_the_file_its_stops_and_context() -> None:
    pieces = ollama.TurnPieces("<s>", "\n", "<s>", " A: ", "\nU: ", " A: ")
    text = ollama.modelfile("run-f16.gguf", pieces, ["<|im_end|>", "</s>"], 2048)
    assert "FROM ./run-f16.gguf\n" in text
    assert f'TEMPLATE """{pieces.go_template()}"""\n' in text
    assert 'PARAMETER stop "<|im_end|>"\nPARAMETER stop "</s>"\n' in text
    assert text.endswith("PARAMETER num_ctx 2048\n")
    plain = ollama.modelfile("base.gguf", None, ["</s>"], 512)
    assert "TEMPLATE" not in plain and "No chat template" in plain
    for bad in ('say """', "{{ x }}"):
        with pytest.raises(ollama.TemplateNotPortable):
            ollama.modelfile("x.gguf", ollama.TurnPieces(bad, "", "", "", "", ""), [], 512)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("wiz", True), ("me/wiz:v1", True), ("wiz.2_b-c", True), ("-wiz", False), ("a b", False)],
)
def test_ollama_model_names(name: str, ok: bool) -> None:
    if ok:
        ollama.check_model_name(name)
    else:
        with pytest.raises(ollama.UserError, match="not a name Ollama accepts"):
            ollama.check_model_name(name)
