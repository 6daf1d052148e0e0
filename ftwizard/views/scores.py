"""A run's scores as tables: ``ftwizard eval``, ``compare`` and the wizard's done screen
draw these."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ftwizard.core.runs.scores import EvalReport, HarnessReport


def _figure(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_table(report: EvalReport) -> Table:
    """One row per measure, one column per model."""
    table = Table()
    table.add_column("measure")
    for model in report.models:
        table.add_column(model.label, justify="right")
    rows = [
        ("ROUGE-L", [f"{m.rouge_l:.3f}" for m in report.models]),
        ("BLEU", [f"{m.bleu:.1f}" for m in report.models]),
        ("chrF", [f"{m.chrf:.1f}" for m in report.models]),
        ("exact match", [f"{m.exact_match:.0%}" for m in report.models]),
        ("loss", [_figure(m.loss, 3) for m in report.models]),
        ("perplexity", [_figure(m.perplexity, 2) for m in report.models]),
    ]
    for name, values in rows:
        table.add_row(name, *values)
    return table


def change_line(report: EvalReport) -> Text:
    change = report.rouge_l_change
    if change.low > 0:
        verdict, style = "better", "green"
    elif change.high < 0:
        verdict, style = "worse", "red"
    else:
        verdict, style = "within noise", "yellow"
    return Text.assemble(
        "ROUGE-L per answer: ",
        (f"{change.value:+.3f}", "bold"),
        f" (95 % interval {change.low:+.3f} to {change.high:+.3f}): ",
        (verdict, style),
    )


def examples_table(report: EvalReport, show: int) -> Table:
    """The answers that lost most first: where to look before trusting the model."""
    before, after = (m.label for m in report.models)
    shown = min(show, len(report.examples))
    table = Table(
        title=f"biggest regressions first ({shown} of {len(report.examples)})",
        title_justify="left",
        show_lines=True,
    )
    for column in ("row", "prompt", "reference", before, after, "ROUGE-L"):
        table.add_column(column, justify="right" if column in ("row", "ROUGE-L") else "left")
    for example in report.examples[:show]:
        table.add_row(
            str(example.row),
            example.prompt,
            example.reference,
            example.answers[before],
            example.answers[after],
            f"{example.rouge_l[before]:.2f}→{example.rouge_l[after]:.2f}",
        )
    return table


def harness_table(report: HarnessReport) -> Table:
    table = Table(
        title="lm-evaluation-harness, base and fine-tuned on the same device",
        title_justify="left",
    )
    for column in ("task", "metric", "base", "fine-tuned", "change", "samples"):
        table.add_column(column, justify="left" if column in ("task", "metric") else "right")
    for task in report.scores:
        change = Text(f"{task.tuned - task.base:+.3f}", style="red" if task.forgot else "")
        table.add_row(
            task.task,
            task.metric,
            f"{task.base:.3f} ± {task.base_stderr or 0:.3f}",
            f"{task.tuned:.3f} ± {task.tuned_stderr or 0:.3f}",
            change,
            str(task.samples),
        )
    return table


def eval_view(report: EvalReport, show: int = 10) -> RenderableType:
    where = Text(f"{report.rows} greedy answers on {report.data} ({report.device})")
    return Group(where, summary_table(report), change_line(report), examples_table(report, show))
