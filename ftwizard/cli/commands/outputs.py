"""``ftwizard sample`` and ``merge``: using what a run produced."""

from __future__ import annotations

import argparse

from rich.table import Table

from ftwizard.cli.console import err, out, print_json, warn_remote_code
from ftwizard.core.outputs.prompts import prompt_messages
from ftwizard.core.runs.folder import find_run
from ftwizard.core.runs.model_card import save_samples
from ftwizard.core.runs.stages import result_of
from ftwizard.core.trainer_calls import merge_outputs, sample_outputs


def run(args: argparse.Namespace) -> int:
    folder = result_of(find_run(args.name, args.root))
    warn_remote_code(folder)
    folder.require_text_model()  # before seconds of loading torch in the trainer's process
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
    save_samples(folder, rows)  # the model card shows the latest answers
    if args.json:
        print_json([row.model_dump() for row in rows])
        return 0
    table = Table("prompt", "base model", "fine-tuned", show_lines=True)
    for row in rows:
        table.add_row(row.prompt, row.base, row.fine_tuned)
    out.print(table)
    return 0
