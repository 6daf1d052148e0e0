"""Chat templates: the fallback for models without one, and checks on special tokens."""

from __future__ import annotations

import re

# ChatML, used when a base model has no chat template of its own (trl does the same
# with `clone_chat_template`). The trainer and the preview use this one string.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# The same, with the `{% generation %}` markers transformers uses to mask the loss to
# the assistant's turns; the trainer installs it on models without a template.
CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Which data shapes each objective trains on.
OBJECTIVE_SHAPES = {
    "sft": ("messages", "prompt-completion", "text"),
    "cpt": ("text",),
    "dpo": ("preference",),
    "orpo": ("preference",),
    "kto": ("kto",),
    "reward": ("preference",),
    "grpo": ("prompts",),
    "rloo": ("prompts",),
}


def check_objective(objective: str, shape: str, fmt: str) -> str | None:
    """Why ``objective`` cannot train on data of ``shape``, or None when it can."""
    allowed = OBJECTIVE_SHAPES[objective]
    if shape in allowed:
        return None
    need = {
        "dpo": "preference pairs (chosen/rejected)",
        "orpo": "preference pairs (chosen/rejected)",
        "kto": "examples labelled good or bad (label)",
        "cpt": "raw text",
        "reward": "preference pairs (chosen/rejected)",
        "grpo": "prompts (a prompt, or messages ending with the user's turn)",
        "rloo": "prompts (a prompt, or messages ending with the user's turn)",
        "sft": "instructions, conversations, prompt/completion or text",
    }[objective]
    return f"the objective {objective} trains on {need}, but this dataset is {fmt}"


_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|<(?:start|end)_of_turn>|\[/?INST\]")


def special_tokens_in(template: str) -> list[str]:
    """Literal special-token strings a template writes, e.g. ``<|im_start|>``."""
    return sorted(set(_SPECIAL.findall(template)))
