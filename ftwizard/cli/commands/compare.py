"""``ftwizard compare RUN RUN...``: scores, losses and settings side by side, and the
training loss curves in one chart."""

from __future__ import annotations

import argparse

from rich.table import Table

from ftwizard.cli.console import out, print_json
from ftwizard.core.evaluation.compare import RunSummary, compare_runs
from ftwizard.core.runs.folder import find_run
from ftwizard.views.curves import curves_chart


def _figure(value: float | None, form: str) -> str:
    return "n/a" if value is None else format(value, form)


def _rows(summaries: list[RunSummary]) -> list[tuple[str, list[str]]]:
    rows = [
        ("state", [s.state for s in summaries]),
        ("objective, method", [f"{s.objective}, {s.adapter}" for s in summaries]),
        ("learning rate", [f"{s.learning_rate:g}" for s in summaries]),
        ("steps", [str(s.steps) for s in summaries]),
        ("final training loss", [_figure(s.final_loss, ".4f") for s in summaries]),
        ("final eval loss", [_figure(s.final_eval_loss, ".4f") for s in summaries]),
    ]
    measures = [
        ("ROUGE-L", "rouge_l", ".3f"),
        ("BLEU", "bleu", ".1f"),
        ("chrF", "chrf", ".1f"),
        ("exact match", "exact_match", ".0%"),
        ("perplexity", "perplexity", ".2f"),
    ]
    rows.append(("scored on", [s.evaluation.data if s.evaluation else "-" for s in summaries]))
    for name, key, form in measures:
        cells = []
        for s in summaries:
            if s.evaluation is None:
                cells.append("not evaluated")
                continue
            base, tuned = s.evaluation.models[0], s.evaluation.models[-1]
            cells.append(
                f"{_figure(getattr(base, key), form)} → {_figure(getattr(tuned, key), form)}"
            )
        rows.append((f"{name} (base → tuned)", cells))
    tasks = dict.fromkeys(t.task for s in summaries for t in s.tasks)
    for task in tasks:
        cells = []
        for s in summaries:
            score = next((t for t in s.tasks if t.task == task), None)
            cells.append("not run" if score is None else f"{score.base:.3f} → {score.tuned:.3f}")
        rows.append((f"{task} (base → tuned)", cells))
    return rows


def run(args: argparse.Namespace) -> int:
    summaries = compare_runs([find_run(name, args.root) for name in args.names])
    if args.json:
        print_json(
            [
                {
                    "name": s.name,
                    "state": s.state,
                    "objective": s.objective,
                    "adapter": s.adapter,
                    "learning_rate": s.learning_rate,
                    "steps": s.steps,
                    "final_loss": s.final_loss,
                    "final_eval_loss": s.final_eval_loss,
                    "eval": s.evaluation.model_dump(exclude={"examples"}) if s.evaluation else None,
                    "tasks": [t.model_dump() for t in s.tasks],
                    "problem": s.problem,
                }
                for s in summaries
            ]
        )
        return 0
    table = Table("")
    for summary in summaries:
        table.add_column(summary.name, justify="right")
    for name, cells in _rows(summaries):
        table.add_row(name, *cells)
    out.print(table)
    for summary in summaries:
        if summary.problem:
            out.print(f"{summary.name}: {summary.problem}", style="red", soft_wrap=True)
    out.print("training loss")
    out.print(curves_chart({s.name: s.train_loss for s in summaries}, width=min(out.width, 100)))
    return 0
