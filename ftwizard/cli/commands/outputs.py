"""``ftwizard sample`` and ``ftwizard merge``: using what a run produced."""

from __future__ import annotations

import argparse

from rich.table import Table

from ftwizard.cli.console import out, print_json
from ftwizard.cli.trainer_call import call_trainer_module
from ftwizard.core.runs import find_run


def run(args: argparse.Namespace) -> int:
    folder = find_run(args.name, args.root)
    if args.command == "merge":
        arguments = ["merge", str(folder.path)]
        if args.output:
            arguments += ["--output", args.output]
        data = call_trainer_module(
            "outputs", arguments, "Merging the adapter into the base model..."
        )
        out.print(
            f"merged model written to {data['output']} (safetensors, with the tokenizer "
            "and chat template)"
        )
        return 0
    arguments = ["sample", str(folder.path), "--max-new-tokens", str(args.max_new_tokens)]
    for prompt in args.prompt or ["Who are you?"]:
        arguments += ["--prompt", prompt]
    rows = call_trainer_module(
        "outputs", arguments, "Generating with the base and the fine-tuned model..."
    )
    if args.json:
        print_json(rows)
        return 0
    table = Table("prompt", "base model", "fine-tuned", show_lines=True)
    for row in rows:
        table.add_row(row["prompt"], row["base"], row["fine_tuned"])
    out.print(table)
    return 0
