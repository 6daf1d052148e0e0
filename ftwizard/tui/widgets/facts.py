"""Small read-only panels: model facts, a plan summary line, tables of words."""

from __future__ import annotations

from rich.table import Table

from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.units import yes_no


def model_facts_table(facts: ModelFacts) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("model", facts.name)
    grid.add_row("from", facts.source)
    grid.add_row(
        "size",
        f"{facts.params_billions:.3g}B parameters ({facts.params_total:,}), "
        f"{facts.num_layers} layers, hidden {facts.hidden_size}",
    )
    grid.add_row(
        "family",
        f"{facts.model_type} ({facts.architecture}), vocabulary {facts.vocab_size:,}, "
        f"context {facts.max_context or 'unknown'}",
    )
    grid.add_row("chat template", "unknown" if facts.is_chat is None else yes_no(facts.is_chat))
    for note in facts.notes:
        grid.add_row("note", note)
    return grid
