"""Shared Rich consoles and the one way errors are printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.prompt import Confirm
from rich.text import Text

from ftwizard.core.errors import UserError
from ftwizard.core.files import WouldReplace, check_target

if TYPE_CHECKING:  # the run folder's module loads pydantic; `detect` must start fast
    from ftwizard.core.runs.folder import RunFolder

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_error(error: UserError) -> None:
    """One message for people: what, where and what to do; never a traceback."""
    err.print(Text.assemble(("error: ", "bold red"), error.message), soft_wrap=True)
    if error.hint:
        err.print(Text(error.hint, style="yellow"), soft_wrap=True)


def warn_remote_code(run: RunFolder) -> None:
    """Said by every command that loads a run's model, before it does."""
    warning = run.read_config().model.remote_code_warning()
    if warning:
        err.print(f"warning: {warning}", style="bold yellow", soft_wrap=True)


def confirm_target(path: Path, what: str, force: bool) -> None:
    """``files.check_target``, with a question instead of the refusal when a person is at
    the terminal: an existing file is replaced only by --force or a yes."""
    try:
        check_target(path, what, force)
    except WouldReplace:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise
        if not Confirm.ask(f"{path} exists already. Replace it?", console=err, default=False):
            raise UserError(f"{path}: kept as it was; nothing was written.") from None


def print_json(data: Any) -> None:
    # Plain print: JSON for scripts must not be wrapped or coloured.
    write_text(json.dumps(data, indent=2) + "\n")


def write_text(text: str) -> None:
    """Machine-readable text (YAML, JSON): never wrapped, never styled."""
    sys.stdout.write(text)
    sys.stdout.flush()
