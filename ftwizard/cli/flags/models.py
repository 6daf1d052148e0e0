"""The flags of ``ftwizard models``; what they run is ``cli/commands/models.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser(
        "models",
        help="list and prepare built-in models",
        description="Built-in models ship inside Python packages and are converted once into a "
        "Hugging Face folder under the cache ($FTWIZARD_CACHE, $XDG_CACHE_HOME/ftwizard or "
        "~/.cache/ftwizard).",
    )
    model_actions = models.add_subparsers(dest="action", metavar="ACTION")
    model_list = model_actions.add_parser("list", help="list the built-in models")
    add_json(model_list)
    model_catalog = model_actions.add_parser(
        "catalog", help="list the catalog of popular models you can plan for offline"
    )
    add_json(model_catalog)
    model_show = model_actions.add_parser("show", help="facts of a model, without its weights")
    model_show.add_argument("name", metavar="MODEL", help="Hub id, folder, .gguf file or name")
    add_json(model_show)
    prepare = model_actions.add_parser(
        "prepare", help="convert a built-in model into a Hugging Face folder (once)"
    )
    prepare.add_argument("name", metavar="NAME", help="short name, e.g. smollm2-135m-instruct")
    prepare.add_argument("--force", action="store_true", help="convert again even if prepared")
