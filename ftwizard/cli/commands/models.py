"""``ftwizard models``: the built-in models and their one-time conversion."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from rich.table import Table

from ftwizard.cli.console import err, out, print_json
from ftwizard.core.builtin_models import BUILTIN_MODELS
from ftwizard.core.errors import UserError


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
    if model is None:
        raise UserError(
            f"`{name}` is not a built-in model. Built-in: {', '.join(sorted(BUILTIN_MODELS))}."
        )
    if model.prepared and not force:
        out.print(f"{name} is ready at {model.folder}")
        return 0
    model.gguf_path()  # a clear message now if the package is missing
    # The conversion needs torch and transformers: it runs in its own process.
    command = [sys.executable, "-m", "ftwizard.trainer.prepare_model", name]
    started = time.perf_counter()
    with err.status(f"Converting {name} to a Hugging Face folder (about 20 s on 2 cores)..."):
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        err.print(result.stdout + result.stderr, markup=False, highlight=False)
        err.print(f"Converting {name} failed (exit code {result.returncode}).", style="red")
        return 1
    out.print(f"{name} is ready at {model.folder} ({time.perf_counter() - started:.0f} s)")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    if args.action in (None, "list"):
        return list_command(as_json=getattr(args, "json", False))
    return prepare_command(args.name, args.force)
