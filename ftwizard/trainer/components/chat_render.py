"""The model's tokenizer, and the text the trainer tokenises for each normalised row.

Shared by the token statistics (``data_stats``); loads only the Rust tokenizer when
it can, so no torch import is paid for counting tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftwizard.core.data.templates import CHATML_TEMPLATE
from ftwizard.core.errors import UserError
from ftwizard.core.models.source import tokenizer_location


def _fast_tokenizer_folder(location: str) -> Path | None:
    """The folder holding ``tokenizer.json`` for a local folder or a cached Hub id."""
    folder = Path(location)
    if (folder / "tokenizer.json").is_file():
        return folder
    if not folder.exists():
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(location, "tokenizer.json")
        if isinstance(found, str):
            try:  # the chat template sits beside it
                try_to_load_from_cache(location, "tokenizer_config.json")
            except Exception:
                pass
            return Path(found).parent
    return None


def load_tokenizer(model: str) -> Any:
    location, gguf_file = tokenizer_location(model)
    try:
        folder = None if gguf_file else _fast_tokenizer_folder(location)
        if folder is not None:
            # Loading the Rust tokenizer directly skips AutoTokenizer's imports (about 2 s).
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(folder)
        from transformers import AutoTokenizer

        if gguf_file:
            return AutoTokenizer.from_pretrained(location, gguf_file=gguf_file)
        return AutoTokenizer.from_pretrained(location)
    except OSError as exc:
        raise UserError(
            f"Cannot load the tokenizer of `{model}` ({exc}).".replace("\n", " "),
            hint="Offline, the model must be a local folder, a .gguf file, a built-in "
            "name or already in the Hugging Face cache.",
        ) from None


class ChatTemplate:
    """One chat template, rendered as ``apply_chat_template`` renders it.

    transformers' compiled template skips the per-call set-up (about 5x faster); it is
    trusted once its first renderings agree with ``apply_chat_template``'s, and dropped
    for the slow path at the first disagreement or error.
    """

    CHECKS = 8  # renderings compared with the slow path before the fast one is trusted

    def __init__(self, tokenizer: Any, template: str) -> None:
        self.tokenizer = tokenizer
        self.template = template
        self._extra = dict(tokenizer.special_tokens_map)
        self._checks_left = self.CHECKS
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            self._compiled: Any = _compile_jinja_template(template)
        except Exception:  # a private helper: any change just means the slow path
            self._compiled = None

    def render(
        self, messages: list[dict[str, Any]], tools: Any = None, generation_prompt: bool = False
    ) -> str:
        if self._compiled is not None:
            try:
                fast = str(
                    self._compiled.render(
                        messages=messages,
                        tools=tools,
                        documents=None,
                        add_generation_prompt=generation_prompt,
                        **self._extra,
                    )
                )
            except Exception:  # a template raising on purpose speaks through the slow path
                self._compiled = None
            else:
                if not self._checks_left:
                    return fast
                self._checks_left -= 1
                if fast == self._slow(messages, tools, generation_prompt):
                    return fast
                self._compiled = None
        return self._slow(messages, tools, generation_prompt)

    def _slow(self, messages: list[dict[str, Any]], tools: Any, generation_prompt: bool) -> str:
        return str(
            self.tokenizer.apply_chat_template(
                messages,
                tools=tools,
                tokenize=False,
                add_generation_prompt=generation_prompt,
                chat_template=self.template,
            )
        )


class Renderer:
    """Turns normalised rows into the text the trainer tokenises, and the loss-carrying parts."""

    def __init__(self, tokenizer: Any, template: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.template = template or tokenizer.chat_template or CHATML_TEMPLATE
        self._chat = ChatTemplate(tokenizer, self.template)

    def chat(
        self, messages: list[dict[str, Any]], tools: Any = None, generation_prompt: bool = False
    ) -> str:
        return self._chat.render(messages, tools, generation_prompt)

    def _side(self, prompt: Any, completion: Any) -> tuple[str, str]:
        """(prompt text, completion text) as the trainer concatenates them."""
        if isinstance(prompt, list):
            prompt_text = self.chat(prompt, generation_prompt=True)
            full = self.chat(prompt + completion)
            if full.startswith(prompt_text):
                return prompt_text, full[len(prompt_text) :]
            return prompt_text, "".join(m.get("content", "") for m in completion)
        return str(prompt), str(completion)

    def _answers(self, row: dict[str, Any]) -> list[str]:
        """The assistant texts (which of them carry loss: ``trainer.masks``)."""
        answers = [m for m in row["messages"] if m["role"] == "assistant"]
        return [m["content"] or json.dumps(m.get("tool_calls", "")) for m in answers]

    def render(self, row: dict[str, Any]) -> tuple[str, list[str]]:
        """(full text, the texts that carry loss)."""
        if "messages" in row:
            return self.chat(row["messages"], row.get("tools")), self._answers(row)
        if "text" in row:
            return row["text"], [row["text"]]
        if "chosen" in row:
            prompt = row.get("prompt", [] if isinstance(row["chosen"], list) else "")
            prompt_text, chosen = self._side(prompt, row["chosen"])
            _, rejected = self._side(prompt, row["rejected"])
            longer = chosen if len(chosen) >= len(rejected) else rejected
            return prompt_text + longer, [longer]
        if "completion" not in row:  # a prompt for online RL: the model writes the rest
            return self.chat(row["prompt"], generation_prompt=True), []
        prompt_text, completion = self._side(row["prompt"], row["completion"])
        return prompt_text + completion, [completion]

    def spans(self, row: dict[str, Any]) -> tuple[str, list[tuple[int, int]]]:
        """The full text and the character spans the loss covers, for the preview of a
        row that is not a conversation (conversations: ``trainer.masks``)."""
        text, answers = self.render(row)
        if not answers and "text" not in row:
            return text, []
        start = len(text) - len(answers[0]) if answers else len(text)
        return text, [(0 if "text" in row else start, len(text))]


def token_counts(tokenizer: Any, texts: list[str]) -> list[int]:
    """Token counts of many texts, batched; the Rust tokenizer's fast path skips offsets."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None and hasattr(backend, "encode_batch_fast"):
        return [len(e.ids) for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
