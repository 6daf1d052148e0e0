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

_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|<(?:start|end)_of_turn>|\[/?INST\]")


def special_tokens_in(template: str) -> list[str]:
    """Literal special-token strings a template writes, e.g. ``<|im_start|>``."""
    return sorted(set(_SPECIAL.findall(template)))
