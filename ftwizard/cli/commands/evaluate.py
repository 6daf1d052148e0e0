"""``ftwizard eval``: scores of the base and the fine-tuned answers, or the harness's
tasks before and after. The work is ``core/evaluation``'s; this draws it."""

from __future__ import annotations

import argparse

from ftwizard.cli.console import out, print_json, warn_remote_code
from ftwizard.cli.progress import answer_progress
from ftwizard.core.evaluation.harness import check_forgetting, mix_advice, task_names
from ftwizard.core.evaluation.scoring import evaluate_run
from ftwizard.core.runs.folder import find_run
from ftwizard.core.runs.stages import evaluated
from ftwizard.views.scores import eval_view, harness_table


def run(args: argparse.Namespace) -> int:
    folder = evaluated(find_run(args.name, args.root), args.stage)
    warn_remote_code(folder)
    folder.require_text_model()
    if args.tasks:
        tasks = task_names(args.tasks)
        with answer_progress("lm-evaluation-harness") as moved:
            harness = check_forgetting(folder, tasks, moved, args.limit, args.include_path)
        if args.json:
            print_json(harness.model_dump())
            return 0
        out.print(harness_table(harness))
        advice = mix_advice(harness, folder.read_config().data.path)
        if advice:
            out.print(advice, style="yellow", soft_wrap=True)
        return 0
    with answer_progress("Answering") as moved:
        report = evaluate_run(folder, moved, args.data, args.limit, args.max_new_tokens)
    if args.json:
        print_json(report.model_dump())
        return 0
    out.print(eval_view(report, args.show))
    out.print(f"kept in {folder.path / 'eval.json'} and the model card", style="dim")
    return 0
