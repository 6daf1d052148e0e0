"""Shared Rich consoles and the one way errors are printed."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from ftwizard.core.errors import UserError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_error(error: UserError) -> None:
    """One message for people: what, where and what to do; never a traceback."""
    err.print(Text.assemble(("error: ", "bold red"), error.message), soft_wrap=True)
    if error.hint:
        err.print(Text(error.hint, style="yellow"), soft_wrap=True)


def print_json(data: Any) -> None:
    # Plain print: JSON for scripts must not be wrapped or coloured.
    write_text(json.dumps(data, indent=2) + "\n")


def write_text(text: str) -> None:
    """Machine-readable text (YAML, JSON): never wrapped, never styled."""
    sys.stdout.write(text)
    sys.stdout.flush()
