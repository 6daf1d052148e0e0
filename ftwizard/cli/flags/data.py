"""The flags of ``ftwizard data``; what they run is ``cli/commands/data.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_data_flags, add_json


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = commands.add_parser(
        "data",
        help="check a dataset before training on it",
        description="Detect a dataset's layout (with the evidence), report every problem with "
        "its location, and with --model show token statistics and one example rendered "
        "through the model's chat template, the loss-carrying part marked. Exit code 0 if "
        "the dataset is usable, 2 if not.",
    )
    data.add_argument(
        "path",
        metavar="PATH",
        help="a .json/.jsonl/.csv/.tsv/.parquet/.txt file or a folder of them",
    )
    add_data_flags(data)
    data.add_argument(
        "--model",
        metavar="MODEL",
        help="tokenizer and chat template to use (folder, .gguf, built-in name or a cached Hub id)",
    )
    data.add_argument(
        "--max-length",
        type=int,
        default=1024,
        metavar="N",
        help="tokens per example for the truncation share (default: 1024)",
    )
    data.add_argument(
        "--train-on",
        # data.train_on's values, written out: the parser must not import the
        # configuration (pydantic) for --help; a test checks they agree.
        choices=["assistant", "last_assistant", "all"],
        default="assistant",
        help="chat data: the tokens that carry the loss, as data.train_on (default: every "
        "assistant turn; last_assistant: the final answer; all: every token)",
    )
    data.add_argument(
        "--example",
        type=int,
        default=0,
        metavar="N",
        help="which valid example to preview, from 0 (default: 0)",
    )
    data.add_argument(
        "--val-size",
        type=float,
        default=0.0,
        metavar="F",
        help="share held out for validation, e.g. 0.1 (split by --seed)",
    )
    data.add_argument("--seed", type=int, default=42, help="seed of the split (default: 42)")
    data.add_argument(
        "--val-path", metavar="FILE", help="a separate validation file, checked the same way"
    )
    data.add_argument(
        "--mix",
        action="append",
        default=[],
        metavar="PATH=WEIGHT",
        help="mix another source in at this share of the training rows, as data.mix "
        "(repeatable), e.g. --mix general.jsonl=0.2: reports each source's rows and share",
    )
    add_json(data)
