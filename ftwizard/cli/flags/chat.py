"""The flags of ``ftwizard chat``; what they run is ``cli/commands/chat.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_runs_root


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = commands.add_parser(
        "chat",
        help="talk to the fine-tuned model, the base, or both side by side",
        description="An interactive chat with the run's models, in its training chat template. "
        "Answers stream as they are generated, labelled with the model that wrote them, with "
        "the time to the first token and the tokens per second. Type /help for the commands: "
        "/base, /tuned, /both (side by side, one sampling seed), /system TEXT, /reset, "
        "/save FILE (the conversation as a JSONL row `ftwizard data` reads, to train on).",
    )
    chat.add_argument("name", metavar="RUN", help="run name or folder")
    chat.add_argument(
        "--system",
        metavar="TEXT",
        help="the system prompt (default: the one every training conversation began with, "
        "if they shared one; else the chat template's own)",
    )
    chat.add_argument(
        "--temperature",
        type=float,
        default=0.7,
        help="sampling temperature (default 0.7; 0 answers greedily, the same every time)",
    )
    chat.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    chat.add_argument("--max-new-tokens", type=int, default=256, metavar="N")
    add_runs_root(chat)
