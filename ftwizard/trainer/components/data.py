"""The dataset the trainer trains on: core's reader, the split, and trl's shapes.

Conversations carry loss on what ``data.train_on`` says. Every assistant turn is
masked by trl itself when it can mark the template (``assistant_only_loss``);
otherwise, and for the final answer alone, the rows are tokenised here with the masks
of :mod:`ftwizard.trainer.components.masks`, which trl's SFT trainer honours as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.data.mix import MixPart, mix_rows
from ftwizard.core.data.split import in_validation
from ftwizard.core.data.templates import CHATML_TRAINING_TEMPLATE, special_tokens_in
from ftwizard.core.data.validate import DataReport, validate_path
from ftwizard.core.errors import UserError
from ftwizard.trainer.components.loss_plan import loss_plan
from ftwizard.trainer.components.masks import (
    ConversationMasker,
    Masked,
    RowSample,
    conversation_loss_share,
    mask_many,
)

log = logging.getLogger("ftwizard.trainer")

SHOWN_UNMASKABLE = 5  # example numbers listed for conversations that cannot be masked


@dataclass
class PreparedData:
    train: Any
    """A ``datasets.Dataset``, set once the rows are ready."""
    eval: Any | None
    report: DataReport
    loss_mode: str
    """assistant: every assistant turn; last_assistant: the final answer; all; completion;
    completions (online RL: what the model writes); pairs (a reward model)."""
    trl_masks: bool = False
    """trl masks the assistant turns (``assistant_only_loss``)."""
    loss_token_share: float | None = None
    """Tokens with loss over all tokens, on the sample ``ftwizard data`` measures."""
    unmaskable: dict[str, Any] = field(default_factory=dict)
    """Conversations left out because their turns cannot be located: count, reason,
    examples, and how many of a separate validation file."""
    mix: list[MixPart] = field(default_factory=list)
    """With ``data.mix``: each source's part, ``data.path``'s first."""

    @property
    def masked_by(self) -> str | None:
        """Who marks the loss-carrying tokens of conversations: trl, ftwizard, or nobody."""
        if self.loss_mode not in ("assistant", "last_assistant"):
            return None
        return "trl" if self.trl_masks else "ftwizard"


def install_chat_template(tokenizer: Any) -> None:
    """ChatML (with generation markers) on a tokenizer without a template, adding its
    special tokens when missing."""
    if tokenizer.chat_template:
        return
    tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
    vocab = tokenizer.get_vocab()
    missing = [t for t in special_tokens_in(CHATML_TRAINING_TEMPLATE) if t not in vocab]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    log.warning("the model has no chat template: using ChatML")


def _tokenised(
    rows: list[dict[str, Any]], masker: ConversationMasker
) -> tuple[list[dict[str, Any] | None], dict[str, Any]]:
    """Rows as ``input_ids`` + ``assistant_masks`` (None for a row that cannot be
    masked), and what was left out: count, the first reason, example numbers (from 0,
    as ``ftwizard data --example N`` counts)."""
    tokenised: list[dict[str, Any] | None] = []
    left_out: dict[str, Any] = {"count": 0, "reason": "", "examples": []}
    for number, result in enumerate(mask_many(masker, rows)):
        if isinstance(result, Masked):
            tokenised.append(
                {"input_ids": result.input_ids, "assistant_masks": result.assistant_masks}
            )
            continue
        tokenised.append(None)
        left_out["count"] += 1
        left_out["reason"] = left_out["reason"] or str(result)
        if len(left_out["examples"]) < SHOWN_UNMASKABLE:
            left_out["examples"].append(number)
    return tokenised, left_out


def _read(path: str, config: RunConfig, on_row: Any) -> DataReport:
    data = config.data
    return validate_path(
        path,
        data.format,
        data.column_map,
        "auto",
        on_row=on_row,
        name=data.name,
        split=data.split,
    )


def prepare(config: RunConfig, tokenizer: Any) -> PreparedData:
    from datasets import Dataset

    data = config.data
    rows: list[dict[str, Any]] = []
    report = _read(data.path, config, rows.append)
    if report.rows_invalid and not data.skip_invalid:
        raise UserError(
            f"{data.path}: {report.rows_invalid} invalid rows "
            "(set data.skip_invalid to train without them)."
        )
    shape = report.detection.trainer_shape
    if shape in ("messages", "preference", "kto", "prompts"):
        install_chat_template(tokenizer)
    held: list[dict[str, Any]] = []
    seed, share = config.training.seed, config.evaluation.val_size
    if config.evaluation.val_path:
        _read(config.evaluation.val_path, config, held.append)
        share = 0.0  # the separate file is the validation set: nothing held out of the data
    held_out = [in_validation(i, seed, share) for i in range(len(rows))]

    prepared = PreparedData(None, None, report, "all")
    if data.mix:
        rows, held_out, prepared.mix = mix_rows(
            rows, held_out, list(data.mix), seed, share, shape, data.path
        )
    training_rows: list[dict[str, Any] | None] = list(rows)
    if config.method.objective == "sft" and shape == "messages":
        plan = loss_plan(tokenizer, data.train_on)
        prepared.loss_mode, prepared.trl_masks = plan.train_on, plan.trl_masks
        masker = ConversationMasker(tokenizer, plan.template, plan.train_on)
        prepared.loss_token_share = _loss_share(masker, rows)
        if not plan.trl_masks and plan.train_on != "all":
            training_rows, left_out = _tokenised(rows, masker)
            held_rows, held_left_out = _tokenised(held, masker)
            held = [row for row in held_rows if row is not None]
            if left_out["count"] or held_left_out["count"]:
                left_out["reason"] = left_out["reason"] or held_left_out["reason"]
                prepared.unmaskable = {**left_out, "validation": held_left_out["count"]}
    elif config.method.objective == "sft" and shape == "prompt-completion":
        prepared.loss_mode = "completion"
    elif shape == "prompts":
        prepared.loss_mode = "completions"
    elif config.method.objective == "reward":
        prepared.loss_mode = "pairs"

    split = list(zip(held_out, training_rows, strict=True))
    train_rows = [row for is_held, row in split if row is not None and not is_held]
    held += [row for is_held, row in split if row is not None and is_held]
    if not train_rows:
        raise UserError(f"{data.path}: no rows left to train on after the validation split.")
    prepared.train = Dataset.from_list(train_rows)
    prepared.eval = Dataset.from_list(held) if held else None
    return prepared


def _loss_share(masker: ConversationMasker, rows: list[dict[str, Any]]) -> float:
    """The share ``ftwizard data --model`` reports: the same sample of the same rows."""
    sample: RowSample[dict[str, Any]] = RowSample()
    for index, row in enumerate(rows):
        sample.offer(index, row)
    return conversation_loss_share(masker, [row for _, row in sample.rows])
