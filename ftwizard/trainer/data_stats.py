"""Token statistics and the chat-template preview, with the model's real tokenizer.

Run as ``python -m ftwizard.trainer.data_stats --path DATA --model MODEL`` (the CLI
and the TUI start it in its own process, since it needs transformers). Prints one
JSON object: the statistics, the rendered preview of one example with its
loss-carrying spans, and warnings. Rows come from the same core reader the
trainer uses, so what is counted is what will be trained on.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ftwizard.core.data.templates import CHATML_TEMPLATE, special_tokens_in
from ftwizard.core.data.validate import validate_path
from ftwizard.core.errors import UserError
from ftwizard.core.model_source import tokenizer_location
from ftwizard.trainer.reply import reply

BATCH = 2048
LOSS_SAMPLE_ROWS = 20_000  # beyond this, the loss share is measured on an even sample


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


class Renderer:
    """Turns normalised rows into the text the trainer tokenises, and the loss-carrying parts."""

    def __init__(self, tokenizer: Any, last_turn_only: bool = False) -> None:
        self.tokenizer = tokenizer
        self.template = tokenizer.chat_template or CHATML_TEMPLATE
        # As the trainer does when the template cannot mark assistant turns.
        self.last_turn_only = last_turn_only
        self._fast: Any = None  # the compiled template, once checked against the reference
        self._checked = False

    def _fast_renderer(self, sample: list[list[dict[str, Any]]]) -> Any:
        """transformers' compiled template, if it renders ``sample`` exactly as
        ``apply_chat_template`` does (it skips per-call overhead: 5x faster)."""
        if self._checked:
            return self._fast
        self._checked = True
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            compiled = _compile_jinja_template(self.template)
        except Exception:  # a private helper: any change just means the slow path
            return None
        extra = dict(self.tokenizer.special_tokens_map)

        def render(messages: list[dict[str, Any]]) -> str:
            return str(
                compiled.render(
                    messages=messages,
                    tools=None,
                    documents=None,
                    add_generation_prompt=False,
                    **extra,
                )
            )

        reference = self.tokenizer.apply_chat_template(
            sample, tokenize=False, chat_template=self.template
        )
        if all(render(m) == r for m, r in zip(sample, reference, strict=True)):
            self._fast = render
        return self._fast

    def chat(
        self, messages: list[dict[str, Any]], tools: Any = None, generation_prompt: bool = False
    ) -> str:
        return str(
            self.tokenizer.apply_chat_template(
                messages,
                tools=tools,
                tokenize=False,
                add_generation_prompt=generation_prompt,
                chat_template=self.template,
            )
        )

    def _side(self, prompt: Any, completion: Any) -> tuple[str, str]:
        """(prompt text, completion text) as the trainer concatenates them."""
        if isinstance(prompt, list):
            prompt_text = self.chat(prompt, generation_prompt=True)
            full = self.chat(prompt + completion)
            if full.startswith(prompt_text):
                return prompt_text, full[len(prompt_text) :]
            return prompt_text, "".join(m.get("content", "") for m in completion)
        return str(prompt), str(completion)

    def render_many(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        """``render`` for a batch; plain conversations go through one templating call."""
        plain = [i for i, row in enumerate(rows) if "messages" in row and not row.get("tools")]
        texts: dict[int, str] = {}
        if plain:
            conversations = [rows[i]["messages"] for i in plain]
            fast = self._fast_renderer(conversations[:32])
            if fast is not None:
                rendered = [fast(c) for c in conversations]
            else:
                rendered = self.tokenizer.apply_chat_template(
                    conversations, tokenize=False, chat_template=self.template
                )
            texts = dict(zip(plain, rendered, strict=True))
        return [
            (texts[i], self._answers(row)) if i in texts else self.render(row)
            for i, row in enumerate(rows)
        ]

    def _answers(self, row: dict[str, Any]) -> list[str]:
        """The assistant texts that carry loss: all of them, or the final one."""
        answers = [m for m in row["messages"] if m["role"] == "assistant"]
        if self.last_turn_only:
            answers = answers[-1:]
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
        prompt_text, completion = self._side(row["prompt"], row["completion"])
        return prompt_text + completion, [completion]

    def spans(self, row: dict[str, Any]) -> tuple[str, list[tuple[int, int]]]:
        """The full text and the character spans the loss covers, for the preview."""
        text, answers = self.render(row)
        if "messages" in row:
            messages, spans = row["messages"], []
            for index, message in enumerate(messages):
                if message["role"] != "assistant":
                    continue
                if self.last_turn_only and index != len(messages) - 1:
                    continue
                before = self.chat(messages[:index], row.get("tools"), generation_prompt=True)
                upto = self.chat(messages[: index + 1], row.get("tools"))
                if upto.startswith(before) and text.startswith(upto):
                    spans.append((len(before), len(upto)))
                elif message["content"] and message["content"] in text:
                    start = text.index(message["content"])
                    spans.append((start, start + len(message["content"])))
            return text, spans
        start = len(text) - len(answers[0]) if answers else len(text)
        return text, [(0 if "text" in row else start, len(text))]


def token_counts(tokenizer: Any, texts: list[str]) -> list[int]:
    """Token counts of many texts, batched; the Rust tokenizer's fast path skips offsets."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None and hasattr(backend, "encode_batch_fast"):
        return [len(e.ids) for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


HISTOGRAM_BUCKETS = 16


def length_histogram(lengths: list[int], max_length: int) -> dict[str, Any]:
    """Example counts by token length, from 0 to just past the longest example (at
    most twice ``max_length``, the last bar holding everything longer)."""
    top = min((lengths[-1] if lengths else 0) + 1, max_length * 2)
    width = max(1, -(-top // HISTOGRAM_BUCKETS))
    counts = [0] * HISTOGRAM_BUCKETS
    for n in lengths:
        counts[min(n // width, HISTOGRAM_BUCKETS - 1)] += 1
    return {"bucket_tokens": width, "counts": counts, "max_length": max_length}


def _percentile(sorted_values: Sequence[int], share: float) -> int:
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, math.ceil(share * len(sorted_values)) - 1))
    return sorted_values[index]


def compute(
    path: Path,
    model: str,
    max_length: int,
    fmt: str,
    column_map: dict[str, str],
    text_split: str,
    example: int,
    context: int | None,
    name: str | None = None,
    split: str = "train",
) -> dict[str, Any]:
    tokenizer = load_tokenizer(model)
    last_turn_only = False
    if tokenizer.chat_template:
        from ftwizard.core.data.validate import detect_path
        from ftwizard.trainer.data import chat_loss_mode

        shape = detect_path(path, fmt, column_map, text_split, name, split).trainer_shape  # type: ignore[arg-type]
        # The loss the trainer will use: every assistant turn, or the final answer only.
        last_turn_only = shape == "messages" and chat_loss_mode(tokenizer) == "last_turn"
    renderer = Renderer(tokenizer, last_turn_only)
    warnings: list[str] = []
    lengths: list[int] = []
    loss_sample = [0, 0]  # loss-carrying tokens, all tokens, in the rows sampled for it
    batch: list[dict[str, Any]] = []
    preview_row: dict[str, Any] | None = None
    rows_seen = 0

    # The Rust tokenizer releases the GIL: batches are tokenised in a worker thread
    # while this one reads, validates and renders the next batch.
    pool = ThreadPoolExecutor(max_workers=1)
    pending: list[Future[tuple[list[int], int | None]]] = []
    batches = 0

    def tokenise(texts: list[str], answers: list[str] | None) -> tuple[list[int], int | None]:
        counts = token_counts(tokenizer, texts)
        # each answer's end-of-turn token carries loss too
        loss = None if answers is None else sum(n + 1 for n in token_counts(tokenizer, answers))
        return counts, loss

    def flush() -> None:
        nonlocal batches
        rendered = renderer.render_many(batch)
        if not tool_warning:
            _check_tool_calls(batch, rendered)
        texts = [text for text, _ in rendered]
        # On big datasets the loss share, a ratio, is measured on every k-th batch.
        step = max(1, rows_seen // LOSS_SAMPLE_ROWS)
        answers = [a for _, found in rendered for a in found] if batches % step == 0 else None
        pending.append(pool.submit(tokenise, texts, answers))
        batches += 1
        batch.clear()

    tool_warning: list[str] = []

    def _check_tool_calls(
        rows: list[dict[str, Any]], rendered: list[tuple[str, list[str]]]
    ) -> None:
        for row, (text, _) in zip(rows, rendered, strict=True):
            calls = [c for m in row.get("messages", []) for c in m.get("tool_calls", [])]
            if calls and calls[0]["function"]["name"] not in text:
                tool_warning.append(
                    f"the chat template of `{model}` does not write tool calls: those assistant "
                    "turns would train as empty answers. Use a model whose template supports tools"
                )
                return

    def on_row(row: dict[str, Any]) -> None:
        nonlocal preview_row, rows_seen
        if rows_seen == example:
            preview_row = row
        rows_seen += 1
        batch.append(row)
        if len(batch) >= BATCH:
            flush()

    report = validate_path(
        path,
        fmt,
        column_map,
        text_split,  # type: ignore[arg-type]
        on_row=on_row,
        name=name,
        split=split,
    )
    if batch:
        flush()
    for future in pending:
        counts, loss = future.result()
        lengths.extend(counts)
        if loss is not None:
            loss_sample[0] += loss
            loss_sample[1] += sum(counts)
    pool.shutdown()

    conversational = report.detection.trainer_shape in ("messages", "preference", "kto")
    if conversational and not tokenizer.chat_template:
        warnings.append(
            f"`{model}` has no chat template (a base model?): the chat data will be rendered "
            "with ChatML (<|im_start|>role ... <|im_end|>), shown below"
        )
    if conversational:
        vocab = tokenizer.get_vocab()
        missing = [t for t in special_tokens_in(renderer.template) if t not in vocab]
        if missing:
            warnings.append(
                f"the template writes {', '.join(missing)}, which the tokenizer does not know: "
                "they would be split into pieces; the trainer adds them as new tokens"
            )

    warnings.extend(tool_warning)
    ordered = sorted(lengths)
    total = sum(ordered)
    truncated = sum(1 for n in ordered if n > max_length)
    p95 = _percentile(ordered, 0.95)
    suggested = max(128, math.ceil(p95 / 128) * 128)
    if context:
        suggested = min(suggested, context)
    stats = {
        "rows": len(ordered),
        "tokens_p50": _percentile(ordered, 0.50),
        "tokens_p95": p95,
        "tokens_max": ordered[-1] if ordered else 0,
        "tokens_mean": round(total / len(ordered), 1) if ordered else 0.0,
        "max_length": max_length,
        "truncated_rows": truncated,
        "truncated_share": round(truncated / len(ordered), 4) if ordered else 0.0,
        "tokens_per_epoch": sum(min(n, max_length) for n in ordered),
        "loss_token_share": round(min(1.0, loss_sample[0] / loss_sample[1]), 4)
        if loss_sample[1]
        else 0.0,
        "suggested_max_length": suggested,
        "length_histogram": length_histogram(ordered, max_length),
    }
    preview: dict[str, Any] | None = None
    if preview_row is not None:
        text, spans = renderer.spans(preview_row)
        preview = {
            "example": example,
            "text": text,
            "loss_spans": spans,
            "template": "model" if tokenizer.chat_template else "ChatML (fallback)",
            "loss": "the final answer" if last_turn_only else "every answer",
        }
    return {"report": report.to_dict(), "stats": stats, "preview": preview, "warnings": warnings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftwizard.trainer.data_stats")
    parser.add_argument("--path", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--format", default="auto")
    parser.add_argument("--map", default="{}", help="column map as JSON")
    parser.add_argument("--text-split", default="auto")
    parser.add_argument("--example", type=int, default=0)
    parser.add_argument("--context", type=int, default=None)
    parser.add_argument("--name", default=None)
    parser.add_argument("--split", default="train")
    args = parser.parse_args(argv)
    return reply(
        lambda: compute(
            Path(args.path),
            args.model,
            args.max_length,
            args.format,
            json.loads(args.map),
            args.text_split,
            args.example,
            args.context,
            args.name,
            args.split,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
