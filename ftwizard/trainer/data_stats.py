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
from typing import Any, get_args

from ftwizard.core.data.templates import CHATML_TRAINING_TEMPLATE, special_tokens_in
from ftwizard.core.data.validate import validate_path
from ftwizard.trainer.chat_render import Renderer, load_tokenizer, token_counts
from ftwizard.trainer.loss_plan import loss_plan
from ftwizard.trainer.masks import (
    ConversationMasker,
    Masked,
    RowSample,
    TrainOn,
    Unmaskable,
    mask_many,
)
from ftwizard.trainer.reply import reply

BATCH = 2048
# What the loss covers, by the shape the rows take for trl (conversations: see compute)
LOSS_COVERS = {
    "text": "the whole text",
    "prompt-completion": "the completion",
    "preference": "the longer of chosen and rejected",
    "kto": "the completion",
}


def _loss_share(
    renderer: Renderer,
    masker: ConversationMasker,
    sample: RowSample[tuple[dict[str, Any], str]],
    lengths: list[int],
) -> tuple[float, list[str]]:
    """Tokens with loss over all tokens in the sampled rows (each kept with its
    rendering), and a warning for any conversation that cannot be masked (the trainer
    leaves those out)."""
    conversations = [(i, row, text) for i, (row, text) in sample.rows if "messages" in row]
    others = [(i, row) for i, (row, _) in sample.rows if "messages" not in row]
    loss = total = 0
    unmaskable: list[tuple[int, str]] = []
    masked = mask_many(
        masker, [row for _, row, _ in conversations], [text for _, _, text in conversations]
    )
    for (index, _, _), result in zip(conversations, masked, strict=True):
        if isinstance(result, Masked):
            loss += sum(result.assistant_masks)
            total += len(result.input_ids)
        else:
            unmaskable.append((index, str(result)))
    # Other shapes: the completion (or the whole text) and its end-of-sequence token.
    answers = [renderer.render(row)[1] for _, row in others]
    loss += sum(n + 1 for n in token_counts(renderer.tokenizer, [a for x in answers for a in x]))
    total += sum(lengths[index] for index, _ in others)
    warnings = []
    if unmaskable:
        examples = ", ".join(str(i) for i, _ in sorted(unmaskable)[:5])
        warnings.append(
            f"{len(unmaskable)} of {len(conversations)} sampled conversations cannot be masked "
            f"({unmaskable[0][1]}): the trainer leaves such rows out (e.g. examples {examples}; "
            "see one with --example N)"
        )
    return (round(min(1.0, loss / total), 4) if total else 0.0), warnings


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
    path: str,
    model: str,
    max_length: int,
    fmt: str,
    column_map: dict[str, str],
    text_split: str,
    example: int,
    context: int | None,
    name: str | None = None,
    split: str = "train",
    train_on: TrainOn = "assistant",
) -> dict[str, Any]:
    tokenizer = load_tokenizer(model)
    if not tokenizer.chat_template:  # what the trainer installs (trainer.data)
        tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
        fallback_template = True
    else:
        fallback_template = False
    plan = loss_plan(tokenizer, train_on)
    renderer = Renderer(tokenizer, plan.template)
    masker = ConversationMasker(tokenizer, plan.template, plan.train_on)
    warnings: list[str] = []
    tool_warning: list[str] = []
    lengths: list[int] = []
    loss_sample: RowSample[tuple[dict[str, Any], str]] = RowSample()
    batch: list[dict[str, Any]] = []
    preview_row: dict[str, Any] | None = None
    rows_seen = 0
    multi_turn = False  # a conversation with several answers: the loss mode matters

    # The Rust tokenizer releases the GIL: batches are tokenised in a worker thread
    # while this one reads, validates and renders the next batch.
    pool = ThreadPoolExecutor(max_workers=1)
    pending: list[Future[list[int]]] = []

    def flush() -> None:
        rendered = [renderer.render(row) for row in batch]
        if not tool_warning:
            tool_warning.extend(_tool_call_warning(model, batch, rendered))
        pending.append(pool.submit(token_counts, tokenizer, [text for text, _ in rendered]))
        first = rows_seen - len(batch)
        for offset, (row, (text, _)) in enumerate(zip(batch, rendered, strict=True)):
            loss_sample.offer(first + offset, (row, text))
        batch.clear()

    def on_row(row: dict[str, Any]) -> None:
        nonlocal preview_row, rows_seen, multi_turn
        if rows_seen == example:
            preview_row = row
        rows_seen += 1
        if not multi_turn and "messages" in row:
            multi_turn = sum(m["role"] == "assistant" for m in row["messages"]) > 1
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
        lengths.extend(future.result())
    pool.shutdown()

    shape = report.detection.trainer_shape
    loss_share, mask_warnings = _loss_share(renderer, masker, loss_sample, lengths)
    warnings.extend(mask_warnings)
    if shape != "messages":
        covers = LOSS_COVERS.get(shape, "every token")
    elif multi_turn or plan.train_on == "all":
        covers = plan.covers
    else:
        covers = "one answer per example"

    conversational = shape in ("messages", "preference", "kto")
    if conversational and fallback_template:
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
        "loss_token_share": loss_share,
        "loss_covers": covers,
        "train_on": plan.train_on,
        "suggested_max_length": suggested,
        "length_histogram": length_histogram(ordered, max_length),
    }
    preview: dict[str, Any] | None = None
    if preview_row is not None:
        if "messages" in preview_row:
            try:
                text, spans = masker.spans(preview_row["messages"], preview_row.get("tools"))
            except Unmaskable as problem:
                text, spans = masker.render(preview_row["messages"], preview_row.get("tools")), []
                warnings.append(f"example {example}: cannot be masked ({problem})")
        else:
            text, spans = renderer.spans(preview_row)
        preview = {
            "example": example,
            "text": text,
            "loss_spans": spans,
            "template": "ChatML (fallback)" if fallback_template else "model",
            "loss": covers,
            "masks": None
            if shape != "messages" or plan.train_on == "all"
            else "trl"
            if plan.trl_masks
            else "ftwizard",
        }
    return {"report": report.to_dict(), "stats": stats, "preview": preview, "warnings": warnings}


def _tool_call_warning(
    model: str, rows: list[dict[str, Any]], rendered: list[tuple[str, list[str]]]
) -> list[str]:
    """A warning when the template drops the tool calls of a conversation."""
    for row, (text, _) in zip(rows, rendered, strict=True):
        calls = [c for m in row.get("messages", []) for c in m.get("tool_calls", [])]
        if calls and calls[0]["function"]["name"] not in text:
            return [
                f"the chat template of `{model}` does not write tool calls: those assistant "
                "turns would train as empty answers. Use a model whose template supports tools"
            ]
    return []


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
    parser.add_argument("--train-on", default="assistant", choices=get_args(TrainOn))
    args = parser.parse_args(argv)
    return reply(
        lambda: compute(
            args.path,
            args.model,
            args.max_length,
            args.format,
            json.loads(args.map),
            args.text_split,
            args.example,
            args.context,
            args.name,
            args.split,
            args.train_on,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
