"""``ftwizard data PATH``: what a dataset is, what is wrong with it, what the model will see."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

from rich.text import Text

from ftwizard.cli.console import err, out, print_json
from ftwizard.core.config.choices import COLUMNS
from ftwizard.core.config.parts import MixSource
from ftwizard.core.data.mix import MixPart, mix_words, plan_mix, repeat_warnings
from ftwizard.core.data.split import split_counts
from ftwizard.core.data.validate import ReportSummary, validate_path
from ftwizard.core.errors import UserError
from ftwizard.core.planning.dataset_facts import DatasetFacts, facts_from_report
from ftwizard.core.trainer_calls import TokenStatsReply, TokenStatsRequest, token_stats
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


def pairs_facts(args: argparse.Namespace, model: str, max_length: int) -> DatasetFacts:
    """``--pairs FILE`` read as ``--data`` is, its layout detected."""
    flags = {"data": args.pairs, "format": "auto", "map": None, "name": None, "split": "train"}
    return dataset_facts(argparse.Namespace(**{**vars(args), **flags}), model, max_length)


def dataset_facts(args: argparse.Namespace, model: str, max_length: int) -> DatasetFacts:
    """What the planner needs from a dataset file; token lengths when the tokenizer is here."""
    column_map = parse_map(args.map)
    stats, no_tokens = None, ""
    try:
        reply = _stats_subprocess(args, column_map, model, max_length, example=0, path=args.data)
        report, stats = reply.report, reply.stats
    except UserError as error:
        if "tokenizer" not in error.message and "not prepared" not in error.message:
            raise
        report = validate_path(
            args.data, args.format, column_map, args.text_split, name=args.name, split=args.split
        ).summary()
        no_tokens = "the model's tokenizer is not available here"
    if report.rows_invalid and not args.skip_invalid:
        raise UserError(
            f"{args.data}: {report.rows_invalid:,} invalid rows.",
            hint=f"See them with `ftwizard data {args.data}`, or pass --skip-invalid.",
        )
    return facts_from_report(report, stats, no_tokens)


def _stats_subprocess(
    args: argparse.Namespace,
    column_map: dict[str, str],
    model: str,
    max_length: int,
    example: int,
    path: str,
) -> TokenStatsReply:
    """Token statistics need transformers: they run in their own process."""
    request = TokenStatsRequest(
        path=path,
        model=model,
        max_length=max_length,
        data_format=args.format,
        column_map=column_map,
        text_split=args.text_split,
        example=example,
        split=args.split,
        name=args.name,
        train_on=getattr(args, "train_on", "assistant"),
    )
    with err.status("Tokenising with the model's tokenizer..."):
        return token_stats(request)


@dataclass(frozen=True)
class Split:
    train: int
    validation: int
    val_size: float
    seed: int


def _split(
    args: argparse.Namespace, report: ReportSummary, column_map: dict[str, str]
) -> tuple[Split, ReportSummary | None]:
    """The train / validation split: a held-out share, or a separate file (its report)."""
    if args.val_path and args.val_size:
        raise UserError("Give either --val-size or --val-path, not both.")
    if not args.val_path:
        train, held = split_counts(report.rows_valid, args.seed, args.val_size)
        return Split(train, held, args.val_size, args.seed), None
    validation = validate_path(args.val_path, args.format, column_map, args.text_split)
    if validation.detection.trainer_shape != report.trainer_shape:
        raise UserError(
            f"{args.val_path}: a {validation.detection.format} file, but the "
            f"training data is {report.format}; both must have the same shape."
        )
    split = Split(report.rows_valid, validation.rows_valid, args.val_size, args.seed)
    return split, validation.summary()


def run(args: argparse.Namespace) -> int:
    column_map = parse_map(args.map)
    if not 0 <= args.val_size < 1:
        raise UserError(f"--val-size {args.val_size}: give a share from 0 up to (not including) 1.")
    reply = None
    if args.model:
        # The path as typed: a leading ./ says it is no Hub id.
        reply = _stats_subprocess(
            args, column_map, args.model, args.max_length, args.example, args.path
        )
        report = reply.report
    else:
        report = validate_path(
            args.path, args.format, column_map, args.text_split, name=args.name, split=args.split
        ).summary()
    split, validation = _split(args, report, column_map)
    usable = report.trainable(args.skip_invalid)
    parts = _mix(args, report) if args.mix else []
    if args.json:
        print_json(
            {
                **({"mix": [asdict(p) for p in parts]} if parts else {}),
                **(reply.model_dump() if reply else {"report": report.model_dump()}),
                **({"validation_report": validation.model_dump()} if validation else {}),
                "split": asdict(split),
                "usable": usable,
                "skipped_invalid": report.rows_invalid if args.skip_invalid else 0,
            }
        )
        return EXIT_OK if usable else EXIT_UNUSABLE
    return _show(args, report, reply, split, usable, parts)


def _mix(args: argparse.Namespace, report: ReportSummary) -> list[MixPart]:
    """``--mix PATH=WEIGHT``: the parts the trainer would make, read the same way."""
    sources = []
    for text in args.mix:
        path, _, weight = text.rpartition("=")
        try:
            sources.append(MixSource(path=path, weight=float(weight)))
        except ValueError:
            raise UserError(
                f"--mix {text}: give PATH=WEIGHT with a weight between 0 and 1, e.g. "
                "general.jsonl=0.2."
            ) from None
    if sum(s.weight for s in sources) >= 1:
        raise UserError("--mix: the weights add up to 1 or more; PATH must keep a share.")
    share = 0.0 if args.val_path else args.val_size
    return plan_mix(report.rows_valid, sources, args.seed, share, report.trainer_shape, args.path)


def _show(
    args: argparse.Namespace,
    report: ReportSummary,
    reply: TokenStatsReply | None,
    split: Split,
    usable: bool,
    parts: list[MixPart],
) -> int:
    out.print(report_view(report))
    if reply is not None:
        out.print(stats_view(reply.stats, reply.warnings))
        if reply.preview is not None:
            out.print(preview_view(reply.preview))
    else:
        out.print(
            "Add --model MODEL for token statistics and the chat-template preview.", style="dim"
        )
    source = f"from {args.val_path}" if args.val_path else f"seed {args.seed}"
    out.print(f"split: {split.train:,} train / {split.validation:,} validation ({source})")
    if parts:
        out.print(mix_words(parts), soft_wrap=True)
        for warning in repeat_warnings(parts):
            out.print(f"warning: {warning}", style="yellow", soft_wrap=True)
    if usable:
        skipped = (
            f"; {report.rows_invalid:,} invalid rows will be skipped"
            if args.skip_invalid and report.rows_invalid
            else ""
        )
        out.print(Text(f"usable{skipped}", style="bold green"))
        return EXIT_OK
    reason = (
        "no valid row"
        if report.rows_valid == 0
        else f"{report.rows_invalid:,} invalid rows (fix them, or pass --skip-invalid)"
    )
    out.print(Text(f"not usable: {reason}", style="bold red"))
    return EXIT_UNUSABLE
