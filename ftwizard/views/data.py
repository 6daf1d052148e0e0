"""A dataset's report, token statistics (with a length histogram) and one example as the
trainer sees it. Signals are words and marks (x, !, >>); colour only repeats them."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ftwizard.core.data.token_stats import LengthHistogram, Preview, TokenStats
from ftwizard.core.data.validate import ReportSummary

BARS = " ▁▂▃▄▅▆▇█"


def report_view(report: ReportSummary, skip_invalid: bool | None = None) -> RenderableType:
    """Format with its evidence, row counts, problems by kind and each listed problem.
    With ``skip_invalid`` given, the rows line ends with the verdict (usable or NOT)."""
    lines: list[RenderableType] = [
        Text.assemble(
            ("format: ", "bold"),
            f"{report.format} ({report.layout}), "
            f"confidence {report.confidence:.0%}, trains as `{report.trainer_shape}`",
        ),
    ]
    lines += [Text(f"  evidence: {e}") for e in report.evidence]
    verdict = ""
    if skip_invalid is not None:
        verdict = " - usable" if report.trainable(skip_invalid) else " - NOT usable"
    lines.append(
        Text(
            f"rows: {report.rows_read:,} read, {report.rows_valid:,} valid, "
            f"{report.rows_invalid:,} invalid{verdict}",
            style="bold red" if verdict == " - NOT usable" else "bold",
        )
    )
    if report.problem_counts:
        counts = Table(
            "problem", "rows", "blocks training", title="Problems by kind", title_justify="left"
        )
        blocking = {p.kind: p.blocking for p in report.problems}
        for kind, count in sorted(report.problem_counts.items()):
            counts.add_row(
                kind.replace("_", " "), f"{count:,}", "yes" if blocking.get(kind) else "no"
            )
        lines.append(counts)
        for problem in report.problems:
            mark = "x" if problem.blocking else "!"
            lines.append(
                Text(
                    f"  {mark} {problem.where}: {problem.message}",
                    style="red" if problem.blocking else "yellow",
                )
            )
        shown = len(report.problems)
        total = sum(report.problem_counts.values())
        if total > shown:
            lines.append(
                Text(f"  ... {total - shown:,} more (the first 20 of each kind are listed)")
            )
    if skip_invalid is False and report.rows_invalid and report.rows_valid:
        lines.append(Text("x rows block training: fix them, or choose to skip invalid rows."))
    lines += [Text(f"note: {n}", style="dim") for n in report.notes]
    return Group(*lines)


def histogram(hist: LengthHistogram, height: int = 4) -> Text:
    """Vertical bars, two columns per bucket. When max_length falls inside the range,
    a | marks it and the bars right of it (truncated examples) are drawn in red."""
    counts, width = hist.counts, hist.bucket_tokens
    span = width * len(counts)
    limit = hist.max_length // width if hist.max_length < span else None
    top = max(counts) or 1
    lines = []
    for level in range(height, 0, -1):
        line = Text()
        for index, count in enumerate(counts):
            filled = count / top * height - (level - 1)
            char = BARS[max(0, min(8, round(filled * 8)))] if filled > 0 else " "
            line.append(char * 2, style="red" if limit is not None and index > limit else "")
            line.append("|" if index == limit else " ")
        lines.append(line)
    if limit is not None:
        lines.append(Text(" " * (limit * 3 + 2) + f"^ max_length {hist.max_length:,}"))
        note = "bars right of | are truncated"
    else:
        note = f"every example is shorter than max_length {hist.max_length:,}"
    lines.append(Text(f"0 to {span:,} tokens, {width:,} per bar; {note}", style="dim"))
    return Text("\n").join(lines)


def stats_view(stats: TokenStats, warnings: list[str] | None = None) -> RenderableType:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "tokens per example",
        f"p50 {stats.tokens_p50:,}, p95 {stats.tokens_p95:,}, max {stats.tokens_max:,}",
    )
    table.add_row(
        "truncated",
        f"{stats.truncated_rows:,} rows ({stats.truncated_share:.1%}) "
        f"are longer than max_length {stats.max_length:,}",
    )
    table.add_row("tokens per epoch", f"{stats.tokens_per_epoch:,}")
    covers = f" ({stats.loss_covers}, data.train_on: {stats.train_on})"
    table.add_row("tokens with loss", f"{stats.loss_token_share:.0%}{covers}")
    table.add_row(
        "suggested max_length",
        f"{stats.suggested_max_length:,} (p95 rounded up to 128, capped by the model's context)",
    )
    parts: list[RenderableType] = [table, histogram(stats.length_histogram)]
    parts += [Text(f"warning: {w}", style="yellow") for w in warnings or []]
    return Group(*parts)


def preview_view(preview: Preview) -> RenderableType:
    text = Text(preview.text)
    for start, end in preview.loss_spans:
        text.stylize("reverse", start, end)
    legend = Text(
        f"Example {preview.example} as the trainer sees it (template: {preview.template}); "
        f"the loss covers {preview.loss}: the highlighted text, {len(preview.loss_spans)} "
        "span(s), also marked with >> below.",
        style="bold",
    )
    marks = Text("\n".join(f">> {preview.text[s:e][:120]!r}" for s, e in preview.loss_spans))
    return Group(legend, text, marks)
