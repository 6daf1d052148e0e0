"""``ftwizard sample``, ``merge`` and ``export``: using what a run produced."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from ftwizard.cli.console import err, out, print_json
from ftwizard.core.prompts import prompt_messages
from ftwizard.core.runs import find_run
from ftwizard.core.trainer_calls import export_gguf, merge_outputs, sample_outputs
from ftwizard.core.units import human_size


def run(args: argparse.Namespace) -> int:
    folder = find_run(args.name, args.root)
    if args.command == "export":
        return _export(folder.path, args)
    if args.command == "merge":
        with err.status("Merging the adapter into the base model..."):
            written = merge_outputs(str(folder.path), args.output)
        out.print(
            f"merged model written to {written} (safetensors, with the tokenizer and chat template)"
        )
        return 0
    prompts = args.prompt or ["Who are you?"]
    for prompt in prompts:
        prompt_messages(prompt)  # a malformed conversation is refused before any loading
    with err.status("Generating with the base and the fine-tuned model..."):
        rows = sample_outputs(str(folder.path), prompts, args.max_new_tokens)
    if args.json:
        print_json(rows)
        return 0
    table = Table("prompt", "base model", "fine-tuned", show_lines=True)
    for row in rows:
        table.add_row(row["prompt"], row["base"], row["fine_tuned"])
    out.print(table)
    return 0


def _export(run_path: Path, args: argparse.Namespace) -> int:
    with err.status(f"Writing a GGUF file ({args.outtype})..."):
        result = export_gguf(str(run_path), args.outtype, args.out)
    if args.json:
        print_json(result)
        return 0
    template = "with its chat template" if result["chat_template"] else "no chat template"
    out.print(
        f"wrote {result['path']} ({human_size(result['size_bytes'])}, {result['tensors']} "
        f"tensors, {result['architecture']}, {template})",
        soft_wrap=True,  # the path stays whole, to copy
    )
    out.print(f"  run it with llama.cpp: llama-cli -m {result['path']}", soft_wrap=True)
    return 0
