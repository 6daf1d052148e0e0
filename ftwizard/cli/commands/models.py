"""``ftwizard models``: the built-in models and their one-time conversion."""

from __future__ import annotations

import argparse
import time

from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import err, out, print_json
from ftwizard.core.models import catalog
from ftwizard.core.models.builtin import BUILTIN_MODELS
from ftwizard.core.models.source import resolve_model_facts
from ftwizard.core.trainer_calls import TrainerProcessFailed, prepare_builtin_model
from ftwizard.core.units import plain, yes_no


def list_command(as_json: bool) -> int:
    rows = [
        {
            "name": m.short_name,
            "description": m.description,
            "license": m.license,
            "prepared": m.prepared,
            "path": str(m.folder),
        }
        for m in BUILTIN_MODELS.values()
    ]
    if as_json:
        print_json(rows)
        return 0
    table = Table(
        "name", "description", "license", "prepared", title="Built-in models", title_justify="left"
    )
    for model in BUILTIN_MODELS.values():
        ready = "yes" if model.prepared else "no - run `ftwizard models prepare NAME`"
        table.add_row(model.short_name, model.description, model.license, ready)
    out.print(table)
    return 0


def prepare_command(name: str, force: bool) -> int:
    model = BUILTIN_MODELS.get(name)
    if model is not None and model.prepared and not force:
        out.print(f"{name} is ready at {model.folder}")
        return 0
    started = time.perf_counter()
    # The conversion needs torch and transformers: it runs in its own process.
    try:
        with err.status(f"Converting {name} to a Hugging Face folder (about 20 s on 2 cores)..."):
            prepare_builtin_model(name, force)
    except TrainerProcessFailed as failure:
        err.print(failure.output, markup=False, highlight=False)
        err.print(str(failure), style="red")
        return 1
    out.print(
        f"{name} is ready at {BUILTIN_MODELS[name].folder} ({time.perf_counter() - started:.0f} s)"
    )
    return 0


def catalog_command(as_json: bool) -> int:
    rows = [catalog.lookup(model_id) for model_id in catalog.catalog_ids()]
    facts = [f for f in rows if f is not None]
    if as_json:
        print_json([f.to_dict() for f in facts])
        return 0
    table = Table()
    table.add_column("model", no_wrap=True)
    for column in ("params", "vocab", "context", "chat"):
        table.add_column(column, justify="right", no_wrap=True)
    for f in facts:
        table.add_row(
            f.name,
            f"{f.params_billions:.2f}B",
            f"{f.vocab_size // 1000}k",
            f"{(f.max_context or 0) // 1024}k",
            yes_no(f.is_chat),
        )
    out.print(Text("Model catalog: plan for these offline, before downloading", style="bold"))
    out.print(table)
    return 0


def show_command(name: str, as_json: bool) -> int:
    facts = resolve_model_facts(name)
    if as_json:
        print_json(facts.to_dict())
        return 0
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("model", facts.name),
        ("from", facts.source),
        ("architecture", facts.architecture),
        ("parameters", f"{facts.params_total:,} ({facts.params_billions:.2f}B)"),
        (
            "embeddings + head",
            f"{facts.params_embedding:,}" + (" (tied)" if facts.tied_embeddings else ""),
        ),
        ("layers", str(facts.num_layers)),
        ("hidden size", str(facts.hidden_size)),
        (
            "attention heads",
            f"{facts.num_attention_heads} ({facts.num_key_value_heads} key/value, "
            f"head dim {facts.head_dim})",
        ),
        ("MLP width", str(facts.intermediate_size)),
        ("vocabulary", f"{facts.vocab_size:,}"),
        ("context", plain(facts.max_context)),
        ("native dtype", plain(facts.native_dtype)),
        ("chat template", yes_no(facts.is_chat)),
        (
            "linear layers",
            ", ".join(f"{m.name} {m.in_features}x{m.out_features}" for m in facts.linear_modules),
        ),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    for note in facts.notes:
        out.print(f"note: {note}", style="yellow")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    if args.action in (None, "list"):
        return list_command(as_json=getattr(args, "json", False))
    if args.action == "catalog":
        return catalog_command(args.json)
    if args.action == "show":
        return show_command(args.name, args.json)
    return prepare_command(args.name, args.force)
