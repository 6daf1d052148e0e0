"""A run's eval results as its model card shows them: ``model-index`` in the Hub's
layout (the figures the Hub lists beside the model) and the tables below it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.scores import EvalReport, HarnessReport, read_eval, read_harness


def _reports(run: RunFolder) -> tuple[EvalReport | None, HarnessReport | None]:
    try:
        return read_eval(run), read_harness(run)
    except UserError:
        return None, None  # a damaged file is said by `eval`; the card leaves it out


def _dataset_type(report: EvalReport, run: RunFolder) -> str:
    return Path(run.read_config().data.path).stem if "split of" in report.data else report.data


def model_index(run: RunFolder) -> dict[str, Any]:
    """``{"model-index": [...]}`` with the fine-tuned model's scores, or ``{}``."""
    report, harness = _reports(run)
    results: list[dict[str, Any]] = []
    if report is not None:
        tuned = report.models[-1]
        metrics = [
            {"type": "rougeL", "value": round(tuned.rouge_l, 4), "name": "ROUGE-L"},
            {"type": "bleu", "value": round(tuned.bleu, 2), "name": "BLEU"},
            {"type": "chrf", "value": round(tuned.chrf, 2), "name": "chrF"},
            {"type": "exact_match", "value": round(tuned.exact_match, 4), "name": "exact match"},
        ]
        if tuned.perplexity is not None:
            metrics.append(
                {"type": "perplexity", "value": round(tuned.perplexity, 3), "name": "perplexity"}
            )
        results.append(
            {
                "task": {"type": "text-generation", "name": "answers against references"},
                "dataset": {"name": report.data, "type": _dataset_type(report, run)},
                "metrics": metrics,
            }
        )
    for task in harness.scores if harness else []:
        results.append(
            {
                "task": {"type": "text-generation"},
                "dataset": {"name": task.task, "type": task.task},
                "metrics": [{"type": task.metric, "value": round(task.tuned, 4)}],
                "source": {
                    "name": "lm-evaluation-harness",
                    "url": "https://github.com/EleutherAI/lm-evaluation-harness",
                },
            }
        )
    return {"model-index": [{"name": run.name, "results": results}]} if results else {}


def _figure(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def evaluation_lines(run: RunFolder) -> list[str]:
    """The card's "Evaluation" section: base against fine-tuned, per measure."""
    report, harness = _reports(run)
    lines: list[str] = []
    if report is not None:
        base, tuned = report.models[0], report.models[-1]
        change = report.rouge_l_change
        lines += [
            "",
            "## Evaluation",
            "",
            f"{report.rows} answers generated greedily on {report.data} ({report.device}), "
            "scored against the references (`ftwizard eval`).",
            "",
            "| measure | base | fine-tuned |",
            "| --- | --- | --- |",
            f"| ROUGE-L | {base.rouge_l:.3f} | {tuned.rouge_l:.3f} |",
            f"| BLEU | {base.bleu:.1f} | {tuned.bleu:.1f} |",
            f"| chrF | {base.chrf:.1f} | {tuned.chrf:.1f} |",
            f"| exact match | {base.exact_match:.0%} | {tuned.exact_match:.0%} |",
            f"| loss | {_figure(base.loss, 3)} | {_figure(tuned.loss, 3)} |",
            f"| perplexity | {_figure(base.perplexity, 2)} | {_figure(tuned.perplexity, 2)} |",
            "",
            f"ROUGE-L change per answer: {change.value:+.3f} "
            f"(95 % interval {change.low:+.3f} to {change.high:+.3f}).",
        ]
    if harness is not None and harness.scores:
        lines += [
            "",
            "### What it kept (lm-evaluation-harness)",
            "",
            "| task | metric | base | fine-tuned |",
            "| --- | --- | --- | --- |",
        ]
        for task in harness.scores:
            lines.append(
                f"| {task.task} | {task.metric} | {task.base:.3f} ± {task.base_stderr or 0:.3f} "
                f"| {task.tuned:.3f} ± {task.tuned_stderr or 0:.3f} |"
            )
    return lines
