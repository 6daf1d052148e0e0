"""Which tokens of a conversation carry the loss, for any chat template.

trl marks assistant tokens only for templates it can patch with ``{% generation %}``
markers (about twenty families, matched by exact text). For every other template
(Llama 3.1/3.2 Instruct, SmolLM2, Mistral ``[INST]``...) this module finds the
assistant turns itself:

1. Render the conversation up to each assistant turn, with the generation prompt
   (what the model sees before it answers) and with the answer; when both renderings
   are prefixes of the whole conversation, the characters between them are that
   turn: its content and the tokens that close it (``<|im_end|>``, ``<|eot_id|>``,
   ``</s>``), without the header that opens it and without the whitespace after the
   closing token (a generation stops at the closing token; where trl's own markers
   differ, ``tests/test_masks.py`` lists it).
2. When the template is not prefix-preserving for the conversation (one that moves
   the system prompt into the last user turn, say), find each answer's content in
   the whole rendering, in order, and add the template's closing text after it.
3. The character spans become token masks through the fast tokenizer's offsets, so
   a token that straddles a boundary is never half-trained.

A conversation neither way can mask raises :class:`Unmaskable` with the reason; the
caller counts and reports it rather than training on the wrong tokens.

No torch here: the token statistics use it on every sampled row.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ftwizard.core.config.choices import TrainOn
from ftwizard.trainer.components.chat_render import ChatTemplate

# An answer no template changes (no letters to re-case, no spaces to trim) or merges with.
_PROBE = "\u20634815162342\u2063"


class Unmaskable(Exception):
    """A conversation whose assistant turns cannot be located in its rendering."""


@dataclass(frozen=True)
class Masked:
    input_ids: list[int]
    assistant_masks: list[int]
    spans: list[tuple[int, int]]
    """The character spans of ``text`` that carry loss (for the preview)."""
    text: str


# --- Rendering ---------------------------------------------------------------------------


class ConversationMasker:
    """Renders conversations with one template and finds their loss-carrying tokens."""

    def __init__(self, tokenizer: Any, template: str, train_on: TrainOn = "assistant") -> None:
        self.tokenizer = tokenizer
        self.template = template
        self.train_on = train_on
        self._template = ChatTemplate(tokenizer, template)
        self._closings: tuple[str, ...] | None = None

    def render(
        self, messages: list[dict[str, Any]], tools: Any = None, generation_prompt: bool = False
    ) -> str:
        return self._template.render(messages, tools, generation_prompt)

    @property
    def closings(self) -> tuple[str, ...]:
        """The texts the template writes right after an answer (``<|im_end|>``,
        ``<|eot_id|>``, ``</s>``; gpt-oss ends a final answer with ``<|return|>`` and
        others with ``<|end|>``), longest first. Found once from two probe
        conversations: what follows an answer in the middle and at the end."""
        if self._closings is None:
            user = {"role": "user", "content": "hi"}
            answer = {"role": "assistant", "content": _PROBE}
            middle = self.render([user, answer, user, answer])
            last = self.render([user, answer])
            after_middle = middle[middle.index(_PROBE) + len(_PROBE) :] if _PROBE in middle else ""
            after_last = last[last.index(_PROBE) + len(_PROBE) :] if _PROBE in last else ""
            # Compared token by token: "<|end|>\n<|user|>" and "<|end|>\n<|im_end|>" share
            # the characters "<|", not a token.
            common = len(_common_prefix(after_middle, after_last))
            found = {
                after_last[: self._whole_tokens(after_last, common)].strip(),
                self._first_special(after_middle),
                self._first_special(after_last),
            }
            self._closings = tuple(sorted(filter(None, found), key=len, reverse=True))
        return self._closings

    def _first_special(self, text: str) -> str:
        """The first token of ``text`` (after whitespace) when it is a special token."""
        stripped = text.lstrip()
        ids = self.tokenizer(stripped, add_special_tokens=False)["input_ids"][:1]
        if ids and ids[0] in self.tokenizer.all_special_ids:
            return str(self.tokenizer.convert_ids_to_tokens(ids[0]))
        return ""

    def _whole_tokens(self, text: str, limit: int) -> int:
        """The longest prefix of ``text`` no longer than ``limit`` that ends on a token."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return max((end for _, end in offsets["offset_mapping"] if end <= limit), default=0)

    def spans(
        self, messages: list[dict[str, Any]], tools: Any = None, text: str | None = None
    ) -> tuple[str, list[tuple[int, int]]]:
        """The whole rendering (``text`` when the caller already has it) and the
        character span of each assistant turn that trains."""
        text = self.render(messages, tools) if text is None else text
        if self.train_on == "all":
            return text, [(0, len(text))]
        turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if self.train_on == "last_assistant":
            turns = turns[-1:]
        return text, self._locate(messages, tools, text, turns)

    def _locate(
        self, messages: list[dict[str, Any]], tools: Any, text: str, turns: list[int]
    ) -> list[tuple[int, int]]:
        """Each turn's span: where the prefix renderings put it when they are prefixes of
        the whole text, else where its content (and the closing text after it) is found."""
        spans: list[tuple[int, int]] = []
        cursor = 0  # past the previous answer, so an answer is never found twice
        for index in turns:
            before = self.render(messages[:index], tools, generation_prompt=True)
            upto = self.render(messages[: index + 1], tools)
            prior = self.render(messages[:index], tools) if not text.startswith(before) else ""
            if text.startswith(before) and len(before) >= cursor:
                start, prefixed = len(before), True
            elif prior and text.startswith(prior) and len(prior) >= cursor:
                # The generation prompt adds what this turn does not write (an opened
                # think block before a tool call): the turn starts where they part.
                common = self._whole_tokens(before, len(_common_prefix(before, text)))
                start, prefixed = max(len(prior), common), True
            else:
                start, prefixed = self._find_content(messages, index, text, cursor), False
            if prefixed and text.startswith(upto) and upto.startswith(before):
                end = len(upto.rstrip())
            else:
                end = self._content_end(messages, index, text, start)
            if end <= start:
                raise Unmaskable(f"assistant turn {index + 1} renders as nothing")
            spans.append((start, end))
            cursor = end
        return spans

    def _find_content(
        self, messages: list[dict[str, Any]], index: int, text: str, cursor: int
    ) -> int:
        content = (messages[index].get("content") or "").strip()
        if not content:
            raise Unmaskable(
                f"assistant turn {index + 1} has no text (tool calls only) and the template "
                "does not render the conversation's turns as prefixes of one another"
            )
        # Skip what was said since the last answer, so an answer that repeats the
        # question is not found inside the question.
        previous = max((i for i in range(index) if messages[i]["role"] == "assistant"), default=-1)
        for earlier in messages[previous + 1 : index]:
            said = (earlier.get("content") or "").strip()
            found = text.find(said, cursor) if said else -1
            # A system prompt moved after the answer (into the last user turn) is passed by.
            if found >= 0 and text.find(content, found + len(said)) >= 0:
                cursor = found + len(said)
        start = text.find(content, cursor)
        if start < 0:
            raise Unmaskable(f"the text of assistant turn {index + 1} is not in the rendering")
        return start

    def _content_end(
        self, messages: list[dict[str, Any]], index: int, text: str, start: int
    ) -> int:
        content = (messages[index].get("content") or "").strip()
        if not content:  # tool calls only: the turn ends at the first closing text
            found = [(f, c) for c in self.closings if (f := text.find(c, start)) >= 0]
            if found:
                position, closing = min(found)
                return position + len(closing)
        found_at = text.find(content, start) if content else -1
        if found_at < 0:
            raise Unmaskable(f"the text of assistant turn {index + 1} is not in the rendering")
        end = found_at + len(content)
        rest = text[end:].lstrip()
        for closing in self.closings:
            if rest.startswith(closing):
                return len(text) - len(rest) + len(closing)
        return end

    def mask(self, messages: list[dict[str, Any]], tools: Any = None) -> Masked:
        """Token ids (as the trainer tokenises the rendering) and a 0/1 mask per token."""
        text, spans = self.spans(messages, tools)
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = encoding["input_ids"]
        mask = offsets_mask(encoding["offset_mapping"], spans)
        if spans and 1 not in mask:
            raise Unmaskable("no token falls inside an assistant turn")
        return Masked(ids, mask, spans, text)


def offsets_mask(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """1 for each token whose text starts inside one of ``spans`` (and is not empty)."""
    mask = [0] * len(offsets)
    ordered = sorted(spans)
    span = 0
    for position, (start, end) in enumerate(offsets):
        while span < len(ordered) and ordered[span][1] <= start:
            span += 1
        if span < len(ordered) and end > start and ordered[span][0] <= start:
            mask[position] = 1
    return mask


def _common_prefix(a: str, b: str) -> str:
    from os.path import commonprefix

    return commonprefix([a, b])


def mask_many(
    masker: ConversationMasker,
    rows: list[dict[str, Any]],
    texts: list[str] | None = None,
) -> list[Masked | Unmaskable]:
    """``mask`` for many conversations (``texts``: their renderings, when already made):
    the renderings are tokenised in one batch (the Rust tokenizer spreads a batch over
    the cores)."""
    located: list[tuple[str, list[tuple[int, int]]] | Unmaskable] = []
    for position, row in enumerate(rows):
        rendered = texts[position] if texts is not None else None
        try:
            located.append(masker.spans(row["messages"], row.get("tools"), rendered))
        except Unmaskable as problem:
            located.append(problem)
    masked_texts = [item[0] for item in located if not isinstance(item, Unmaskable)]
    if not masked_texts:
        return [item for item in located if isinstance(item, Unmaskable)]
    encodings = masker.tokenizer(
        masked_texts, add_special_tokens=False, return_offsets_mapping=True
    )
    results: list[Masked | Unmaskable] = []
    position = 0
    for item in located:
        if isinstance(item, Unmaskable):
            results.append(item)
            continue
        text, spans = item
        ids = encodings["input_ids"][position]
        mask = offsets_mask(encodings["offset_mapping"][position], spans)
        position += 1
        if spans and 1 not in mask:
            results.append(Unmaskable("no token falls inside an assistant turn"))
        else:
            results.append(Masked(ids, mask, spans, text))
    return results


LOSS_SAMPLE_ROWS = 5_000
"""The loss share, a ratio of token counts, is measured on an even sample of this many
rows: on 5,000 rows of varied length it is already steady to a fraction of a percent,
and every sampled conversation costs a few template renderings."""

Item = TypeVar("Item")


class RowSample(Generic[Item]):
    """An even sample of a stream of rows (reservoir sampling: the length of a stream
    is not known in advance). The token statistics and the trainer draw the same one
    (same seed, same rows), so the loss share they report is the same figure."""

    def __init__(self, size: int = LOSS_SAMPLE_ROWS, seed: int = 0) -> None:
        self.size = size
        self.rows: list[tuple[int, Item]] = []
        self._random = random.Random(seed)

    def offer(self, index: int, item: Item) -> None:
        if len(self.rows) < self.size:
            self.rows.append((index, item))
            return
        slot = self._random.randrange(index + 1)
        if slot < self.size:
            self.rows[slot] = (index, item)


def conversation_loss_share(masker: ConversationMasker, rows: list[dict[str, Any]]) -> float:
    """Tokens with loss over all tokens, in the conversations that can be masked."""
    loss = total = 0
    for result in mask_many(masker, rows):
        if isinstance(result, Masked):
            loss += sum(result.assistant_masks)
            total += len(result.input_ids)
    return round(loss / total, 4) if total else 0.0
