"""``ftwizard data PATH``: what a dataset is, what is wrong with it, what the model will see."""

from __future__ import annotations

import argparse
from typing import Any

from rich.text import Text

from ftwizard.cli.console import err, out, print_json
from ftwizard.core.config.schema import COLUMNS
from ftwizard.core.data.split import split_counts
from ftwizard.core.data.validate import trainable, validate_path
from ftwizard.core.errors import UserError
from ftwizard.core.planning.dataset_facts import KIND_OF_SHAPE, DatasetFacts
from ftwizard.core.trainer_calls import token_stats
from ftwizard.views.data import preview_view, report_view, stats_view

EXIT_OK, EXIT_UNUSABLE = 0, 2


def parse_map(text: str | None) -> dict[str, str]:
    """``instruction=question,output=answer`` -> {"instruction": "question", ...}."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for part in text.split(","):
        expected, sep, yours = (p.strip() for p in part.partition("="))
        if not sep or not expected or not yours:
            raise UserError(
                f"--map {text}: write EXPECTED=YOURS pairs separated by commas, "
                "e.g. --map instruction=question,output=answer"
            )
        if expected not in COLUMNS:
            raise UserError(
                f"--map {text}: `{expected}` is not a column ftwizard reads.",
                hint=f"The expected names: {', '.join(COLUMNS)}; after = your column.",
            )
        mapping[expected] = yours
    return mapping


def dataset_facts(args: argparse.Namespace, model: str, max_length: int) -> DatasetFacts:
    """What the planner needs from a dataset file; token lengths when the tokenizer is here."""
    column_map = parse_map(args.map)
    try:
        result = _stats_subprocess(
            args, column_map, model=model, max_length=max_length, example=0, path=args.data
        )
        report, stats = result["report"], result["stats"]
        tokens_mean, tokens_p95, source = stats["tokens_mean"], stats["tokens_p95"], "tokenizer"
    except UserError as error:
        if "tokenizer" not in error.message and "not prepared" not in error.message:
            raise
        report = validate_path(
            args.data,
            args.format,
            column_map,
            args.text_split,
            name=args.name,
            split=args.split,
        ).to_dict()
        # No tokenizer offline: about 4 characters per token in English text.
        valid = max(1, report["rows_valid"])
        tokens_mean, tokens_p95, source = (
            report["chars_total"] / 4 / valid,
            None,
            "characters / 4 (the model's tokenizer is not available here)",
        )
    if report["rows_invalid"] and not args.skip_invalid:
        raise UserError(
            f"{args.data}: {report['rows_invalid']:,} invalid rows.",
            hint=f"See them with `ftwizard data {args.data}`, or pass --skip-invalid.",
        )
    return DatasetFacts(
        rows=report["rows_valid"],
        kind=KIND_OF_SHAPE[report["trainer_shape"]],
        tokens_mean=tokens_mean,
        tokens_p95=tokens_p95,
        source=source,
    )


def _stats_subprocess(
    args: argparse.Namespace,
    column_map: dict[str, str],
    model: str,
    max_length: int,
    example: int,
    path: str,
) -> dict[str, Any]:
    """Token statistics need transformers: they run in their own process."""
    with err.status("Tokenising with the model's tokenizer..."):
        return token_stats(
            path,
            model,
            max_length,
            data_format=args.format,
            column_map=column_map,
            text_split=args.text_split,
            example=example,
            split=args.split,
            name=args.name,
            train_on=getattr(args, "train_on", "assistant"),
        )


def run(args: argparse.Namespace) -> int:
    path = args.path  # as typed: a leading ./ says it is no Hub id
    column_map = parse_map(args.map)
    if not 0 <= args.val_size < 1:
        raise UserError(f"--val-size {args.val_size}: give a share from 0 up to (not including) 1.")
    if args.model:
        result = _stats_subprocess(
            args, column_map, args.model, args.max_length, args.example, args.path
        )
        report = result["report"]
    else:
        report_object = validate_path(
            path, args.format, column_map, args.text_split, name=args.name, split=args.split
        )
        result = {"report": report_object.to_dict()}
        report = result["report"]
    if args.val_path and args.val_size:
        raise UserError("Give either --val-size or --val-path, not both.")
    if args.val_path:
        validation = validate_path(args.val_path, args.format, column_map, args.text_split)
        if validation.detection.trainer_shape != report["trainer_shape"]:
            raise UserError(
                f"{args.val_path}: a {validation.detection.format} file, but the "
                f"training data is {report['format']}; both must have the same shape."
            )
        result["validation_report"] = validation.to_dict()
        train, held = report["rows_valid"], validation.rows_valid
    else:
        train, held = split_counts(report["rows_valid"], args.seed, args.val_size)
    result["split"] = {
        "train": train,
        "validation": held,
        "val_size": args.val_size,
        "seed": args.seed,
    }
    usable = trainable(report, args.skip_invalid)
    result["usable"] = usable
    result["skipped_invalid"] = report["rows_invalid"] if args.skip_invalid else 0

    if args.json:
        print_json(result)
        return EXIT_OK if usable else EXIT_UNUSABLE
    out.print(report_view(report))
    if "stats" in result:
        out.print(stats_view(result["stats"], result["warnings"]))
        if result["preview"]:
            out.print(preview_view(result["preview"]))
    else:
        out.print(
            "Add --model MODEL for token statistics and the chat-template preview.", style="dim"
        )
    source = f"from {args.val_path}" if args.val_path else f"seed {args.seed}"
    out.print(f"split: {train:,} train / {held:,} validation ({source})")
    if usable:
        skipped = (
            f"; {report['rows_invalid']:,} invalid rows will be skipped"
            if args.skip_invalid and report["rows_invalid"]
            else ""
        )
        out.print(Text(f"usable{skipped}", style="bold green"))
        return EXIT_OK
    reason = (
        "no valid row"
        if report["rows_valid"] == 0
        else f"{report['rows_invalid']:,} invalid rows (fix them, or pass --skip-invalid)"
    )
    out.print(Text(f"not usable: {reason}", style="bold red"))
    return EXIT_UNUSABLE
