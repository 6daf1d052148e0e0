"""The dataset the trainer trains on: core's reader, the split, and trl's shapes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftwizard.core.config import RunConfig
from ftwizard.core.data.split import in_validation
from ftwizard.core.data.templates import CHATML_TRAINING_TEMPLATE, special_tokens_in
from ftwizard.core.data.validate import DataReport, validate_path
from ftwizard.core.errors import UserError

log = logging.getLogger("ftwizard.trainer")


@dataclass
class PreparedData:
    train: Any
    eval: Any | None
    report: DataReport
    loss_mode: str
    """assistant: every assistant turn; last_turn: the final answer; completion; all."""


def chat_loss_mode(tokenizer: Any) -> str:
    """How the loss can be masked for conversations with this tokenizer's template.

    Installs ChatML (with generation markers) on a tokenizer without a template, adding
    its special tokens when missing.
    """
    from trl.chat_template_utils import get_training_chat_template

    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
        missing = [
            t for t in special_tokens_in(CHATML_TRAINING_TEMPLATE) if t not in tokenizer.get_vocab()
        ]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
        log.warning("the model has no chat template: using ChatML")
        return "assistant"
    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return "last_turn"
    return "assistant"


def _sft_row(row: dict[str, Any], loss_mode: str) -> dict[str, Any]:
    if "messages" not in row or loss_mode == "assistant":
        return row
    # Without generation markers the loss covers the final answer: prompt/completion.
    messages = row["messages"]
    converted: dict[str, Any] = {"prompt": messages[:-1], "completion": messages[-1:]}
    if "tools" in row:
        converted["tools"] = row["tools"]
    return converted


def prepare(config: RunConfig, tokenizer: Any) -> PreparedData:
    from datasets import Dataset

    data = config.data
    rows: list[dict[str, Any]] = []
    report = validate_path(
        Path(data.path),
        data.format,
        data.column_map,
        "auto",
        on_row=rows.append,
        name=data.name,
        split=data.split,
    )
    if report.rows_invalid and not data.skip_invalid:
        raise UserError(
            f"{data.path}: {report.rows_invalid} invalid rows "
            "(set data.skip_invalid to train without them)."
        )
    loss_mode = "all"
    if config.method.objective == "sft":
        if report.detection.trainer_shape == "messages":
            loss_mode = chat_loss_mode(tokenizer)
            rows = [_sft_row(row, loss_mode) for row in rows]
        elif report.detection.trainer_shape == "prompt-completion":
            loss_mode = "completion"
    elif (
        report.detection.trainer_shape in ("messages", "preference", "kto")
        and not tokenizer.chat_template
    ):
        chat_loss_mode(tokenizer)
    seed, share = config.training.seed, config.evaluation.val_size
    if config.evaluation.val_path:
        held: list[dict[str, Any]] = []
        validate_path(
            Path(config.evaluation.val_path), data.format, data.column_map, on_row=held.append
        )
        if config.method.objective == "sft":
            held = [_sft_row(row, loss_mode) for row in held]
        train_rows = rows
    else:
        train_rows = [r for i, r in enumerate(rows) if not in_validation(i, seed, share)]
        held = [r for i, r in enumerate(rows) if in_validation(i, seed, share)]
    if not train_rows:
        raise UserError(f"{data.path}: no rows left to train on after the validation split.")
    return PreparedData(
        Dataset.from_list(train_rows), Dataset.from_list(held) if held else None, report, loss_mode
    )
