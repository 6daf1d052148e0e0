"""The flags of ``ftwizard sample`` and ``merge``; what they run is ``cli/commands/outputs.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json, add_runs_root


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sample = commands.add_parser(
        "sample", help="answer prompts with the base and the fine-tuned model, side by side"
    )
    sample.add_argument("name", metavar="RUN", help="run name or folder")
    sample.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="TEXT",
        help="a prompt (repeatable; default: Who are you?), or a conversation that ends with "
        'a question, as JSON: \'[{"role": "user", "content": "Hi"}, {"role": "assistant", '
        '"content": "Hello!"}, {"role": "user", "content": "Who are you?"}]\'',
    )
    sample.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    add_runs_root(sample)
    add_json(sample)
    merge = commands.add_parser(
        "merge", help="fold the adapter into the base: a full model transformers loads as is"
    )
    merge.add_argument("name", metavar="RUN", help="run name or folder")
    merge.add_argument("--output", metavar="DIR", help="where to write it (default: RUN/merged)")
    add_runs_root(merge)
