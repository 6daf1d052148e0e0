"""One greedy answer, and the loss of a given answer, under a loaded model: what
``sample``, ``eval`` and ``judge`` ask of a model."""

from __future__ import annotations

import math
from typing import Any

import torch

from ftwizard.core.outputs.prompts import prompt_label


def _prompt_inputs(tokenizer: Any, messages: list[dict[str, str]]) -> dict[str, Any]:
    if tokenizer.chat_template:
        return dict(
            tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        )
    return dict(tokenizer(prompt_label(messages), return_tensors="pt"))


def generate(
    model: Any, tokenizer: Any, messages: list[dict[str, str]], max_new_tokens: int
) -> str:
    """The model's greedy answer to a conversation that ends with a user turn."""
    inputs = {k: v.to(model.device) for k, v in _prompt_inputs(tokenizer, messages).items()}
    with torch.no_grad():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(
        tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    ).strip()


def _answer_ids(
    tokenizer: Any, messages: list[dict[str, str]], answer: str
) -> tuple[list[int], int]:
    """The conversation with ``answer`` as the assistant's turn, and where the answer starts.

    With a chat template, the answer is rendered as the template renders a turn (its end
    marker included) when the rendering of the prompt is a prefix of it; otherwise the
    answer's own tokens follow the prompt."""
    prompt = [int(i) for i in _prompt_inputs(tokenizer, messages)["input_ids"][0]]
    if tokenizer.chat_template:
        whole = tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": answer}], return_dict=True
        )["input_ids"]
        whole = [int(i) for i in whole]
        if whole[: len(prompt)] == prompt and len(whole) > len(prompt):
            return whole, len(prompt)
    tail = tokenizer(answer, add_special_tokens=False)["input_ids"]
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return prompt + list(tail) + eos, len(prompt)


def answer_nll(
    model: Any, tokenizer: Any, messages: list[dict[str, str]], answer: str
) -> tuple[float, int]:
    """The mean negative log-likelihood of ``answer``'s tokens after ``messages``, and
    their count (the loss the trainer reports, on this one answer)."""
    ids, start = _answer_ids(tokenizer, messages, answer)
    input_ids = torch.tensor([ids], device=model.device)
    labels = input_ids.clone()
    labels[0, :start] = -100
    with torch.no_grad():
        loss = model(input_ids=input_ids, labels=labels).loss
    value = float(loss)
    return (value if math.isfinite(value) else math.inf), len(ids) - start
