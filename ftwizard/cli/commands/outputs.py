"""``ftwizard sample`` and ``ftwizard merge``: using what a run produced."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from rich.table import Table

from ftwizard.cli.console import err, out, print_json
from ftwizard.core.errors import UserError
from ftwizard.core.runs import find_run


def _trainer_outputs(arguments: list[str], status: str) -> Any:
    """These load torch and the weights: they run in the trainer package's own process."""
    command = [sys.executable, "-m", "ftwizard.trainer.outputs", *arguments]
    with err.status(status):
        result = subprocess.run(command, capture_output=True, text=True)
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise UserError(f"{status.rstrip('.')} failed: {result.stderr.strip()[-600:]}") from None
    if isinstance(data, dict) and "error" in data:
        raise UserError(data["error"], hint=data.get("hint"))
    return data


def run(args: argparse.Namespace) -> int:
    folder = find_run(args.name, args.root)
    if args.command == "merge":
        arguments = ["merge", str(folder.path)]
        if args.output:
            arguments += ["--output", args.output]
        data = _trainer_outputs(arguments, "Merging the adapter into the base model...")
        out.print(
            f"merged model written to {data['output']} (safetensors, with the tokenizer "
            "and chat template)"
        )
        return 0
    arguments = ["sample", str(folder.path), "--max-new-tokens", str(args.max_new_tokens)]
    for prompt in args.prompt or ["Who are you?"]:
        arguments += ["--prompt", prompt]
    rows = _trainer_outputs(arguments, "Generating with the base and the fine-tuned model...")
    if args.json:
        print_json(rows)
        return 0
    table = Table("prompt", "base model", "fine-tuned", show_lines=True)
    for row in rows:
        table.add_row(row["prompt"], row["base"], row["fine_tuned"])
    out.print(table)
    return 0
