"""Token statistics and the chat-template preview, with the model's real tokenizer.

Run as ``python -m ftwizard.trainer.data_stats`` with a ``TokenStatsRequest`` as JSON on
its stdin (``core/trainer_calls.token_stats`` starts it in its own process, since it
needs transformers). Prints one ``TokenStatsReply``: the report, the statistics, the
rendered preview of one example with its loss-carrying spans, and warnings. Rows come
from the same core reader the trainer uses, so what is counted is what will be trained on.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ftwizard.core.data.templates import CHATML_TRAINING_TEMPLATE, special_tokens_in
from ftwizard.core.data.token_stats import LengthHistogram, Preview, TokenStats
from ftwizard.core.data.validate import DataReport, validate_path
from ftwizard.core.trainer_calls import TokenStatsReply, TokenStatsRequest
from ftwizard.trainer.components.chat_render import Renderer, load_tokenizer, token_counts
from ftwizard.trainer.components.loss_plan import loss_plan
from ftwizard.trainer.components.masks import (
    ConversationMasker,
    Masked,
    RowSample,
    Unmaskable,
    mask_many,
)
from ftwizard.trainer.components.reply import reply

BATCH = 2048
# What the loss covers, by the shape the rows take for trl (conversations: see compute)
LOSS_COVERS = {
    "text": "the whole text",
    "prompt-completion": "the completion",
    "preference": "the longer of chosen and rejected",
    "kto": "the completion",
    "prompts": "the completions the model writes (none of the prompt)",
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


def length_histogram(lengths: list[int], max_length: int) -> LengthHistogram:
    """Example counts by token length, from 0 to just past the longest example (at
    most twice ``max_length``, the last bar holding everything longer)."""
    top = min((lengths[-1] if lengths else 0) + 1, max_length * 2)
    width = max(1, -(-top // HISTOGRAM_BUCKETS))
    counts = [0] * HISTOGRAM_BUCKETS
    for n in lengths:
        counts[min(n // width, HISTOGRAM_BUCKETS - 1)] += 1
    return LengthHistogram(bucket_tokens=width, counts=counts, max_length=max_length)


def _percentile(sorted_values: Sequence[int], share: float) -> int:
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, math.ceil(share * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class Counted:
    """What one pass over the rows gathers: each example's length in tokens, a sample of
    rows for the loss share, the example to preview, and the report."""

    report: DataReport
    lengths: list[int]
    sample: RowSample[tuple[dict[str, Any], str]]
    preview_row: dict[str, Any] | None
    multi_turn: bool
    """A conversation with several answers was seen: then the loss mode matters."""
    tool_warning: list[str]


def count_tokens(request: TokenStatsRequest, renderer: Renderer) -> Counted:
    """Read, validate and render every row; tokenise in batches alongside (the Rust
    tokenizer releases the GIL, so a worker thread counts while this one reads on)."""
    lengths: list[int] = []
    sample: RowSample[tuple[dict[str, Any], str]] = RowSample()
    tool_warning: list[str] = []
    preview_row: dict[str, Any] | None = None
    multi_turn = False
    batch: list[dict[str, Any]] = []
    rows_seen = 0
    pool = ThreadPoolExecutor(max_workers=1)
    pending: list[Future[list[int]]] = []

    def flush() -> None:
        rendered = [renderer.render(row) for row in batch]
        if not tool_warning:
            tool_warning.extend(_tool_call_warning(request.model, batch, rendered))
        pending.append(pool.submit(token_counts, renderer.tokenizer, [t for t, _ in rendered]))
        first = rows_seen - len(batch)
        for offset, (row, (text, _)) in enumerate(zip(batch, rendered, strict=True)):
            sample.offer(first + offset, (row, text))
        batch.clear()

    def on_row(row: dict[str, Any]) -> None:
        nonlocal rows_seen, preview_row, multi_turn
        if rows_seen == request.example:
            preview_row = row
        rows_seen += 1
        if not multi_turn and "messages" in row:
            multi_turn = sum(m["role"] == "assistant" for m in row["messages"]) > 1
        batch.append(row)
        if len(batch) >= BATCH:
            flush()

    report = validate_path(
        request.path,
        request.data_format,
        request.column_map,
        request.text_split,  # type: ignore[arg-type]
        on_row=on_row,
        name=request.name,
        split=request.split,
    )
    if batch:
        flush()
    for future in pending:
        lengths.extend(future.result())
    pool.shutdown()
    return Counted(report, lengths, sample, preview_row, multi_turn, tool_warning)


def _template_warnings(
    request: TokenStatsRequest, renderer: Renderer, shape: str, fallback: bool
) -> list[str]:
    if shape not in ("messages", "preference", "kto"):
        return []
    warnings = []
    if fallback:
        warnings.append(
            f"`{request.model}` has no chat template (a base model?): the chat data will be "
            "rendered with ChatML (<|im_start|>role ... <|im_end|>), shown below"
        )
    vocab = renderer.tokenizer.get_vocab()
    missing = [t for t in special_tokens_in(renderer.template) if t not in vocab]
    if missing:
        warnings.append(
            f"the template writes {', '.join(missing)}, which the tokenizer does not know: "
            "they would be split into pieces; the trainer adds them as new tokens"
        )
    return warnings


def _stats(
    request: TokenStatsRequest, lengths: list[int], loss_share: float, covers: str, train_on: str
) -> TokenStats:
    ordered = sorted(lengths)
    truncated = sum(1 for n in ordered if n > request.max_length)
    p95 = _percentile(ordered, 0.95)
    suggested = max(128, math.ceil(p95 / 128) * 128)
    if request.context:
        suggested = min(suggested, request.context)
    return TokenStats(
        rows=len(ordered),
        tokens_p50=_percentile(ordered, 0.50),
        tokens_p95=p95,
        tokens_max=ordered[-1] if ordered else 0,
        tokens_mean=round(sum(ordered) / len(ordered), 1) if ordered else 0.0,
        max_length=request.max_length,
        truncated_rows=truncated,
        truncated_share=round(truncated / len(ordered), 4) if ordered else 0.0,
        tokens_per_epoch=sum(min(n, request.max_length) for n in ordered),
        loss_token_share=loss_share,
        loss_covers=covers,
        train_on=train_on,
        suggested_max_length=suggested,
        length_histogram=length_histogram(ordered, request.max_length),
    )


def _preview(
    request: TokenStatsRequest,
    row: dict[str, Any],
    renderer: Renderer,
    masker: ConversationMasker,
    fallback: bool,
    covers: str,
    masks: str | None,
) -> tuple[Preview, list[str]]:
    warnings = []
    if "messages" in row:
        try:
            text, spans = masker.spans(row["messages"], row.get("tools"))
        except Unmaskable as problem:
            text, spans = masker.render(row["messages"], row.get("tools")), []
            warnings.append(f"example {request.example}: cannot be masked ({problem})")
    else:
        text, spans = renderer.spans(row)
    template = "ChatML (fallback)" if fallback else "model"
    preview = Preview(
        example=request.example, text=text, loss_spans=spans, template=template,
        loss=covers, masks=masks,
    )  # fmt: skip
    return preview, warnings


def compute(request: TokenStatsRequest) -> TokenStatsReply:
    """The report, the token statistics and the preview of one example, as the trainer
    would render, mask and count them."""
    tokenizer = load_tokenizer(request.model)
    fallback = not tokenizer.chat_template
    if fallback:  # what the trainer installs (trainer.data)
        tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
    plan = loss_plan(tokenizer, request.train_on)  # type: ignore[arg-type]
    renderer = Renderer(tokenizer, plan.template)
    masker = ConversationMasker(tokenizer, plan.template, plan.train_on)
    counted = count_tokens(request, renderer)
    shape = counted.report.detection.trainer_shape
    loss_share, warnings = _loss_share(renderer, masker, counted.sample, counted.lengths)
    if shape != "messages":
        covers = LOSS_COVERS.get(shape, "every token")
    elif counted.multi_turn or plan.train_on == "all":
        covers = plan.covers
    else:
        covers = "one answer per example"
    warnings += _template_warnings(request, renderer, shape, fallback)
    warnings += counted.tool_warning
    stats = _stats(request, counted.lengths, loss_share, covers, plan.train_on)
    preview = None
    if counted.preview_row is not None:
        masks = None
        if shape == "messages" and plan.train_on != "all":
            masks = "trl" if plan.trl_masks else "ftwizard"
        row = counted.preview_row
        preview, preview_warnings = _preview(
            request, row, renderer, masker, fallback, covers, masks
        )
        warnings += preview_warnings
    return TokenStatsReply(
        report=counted.report.summary(), stats=stats, preview=preview, warnings=warnings
    )


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
    # The request comes as JSON on stdin (core/trainer_calls.TokenStatsRequest).
    return reply(
        lambda: compute(TokenStatsRequest.model_validate_json(sys.stdin.read())).model_dump(
            mode="json"
        )
    )


if __name__ == "__main__":
    sys.exit(main())
