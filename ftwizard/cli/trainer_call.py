"""The CLI's spinner around calls into the trainer package's own processes."""

from __future__ import annotations

from typing import Any

from ftwizard.cli.console import err
from ftwizard.core.trainer_calls import call_trainer_module as _call


def call_trainer_module(module: str, arguments: list[str], status: str) -> Any:
    """``python -m ftwizard.trainer.<module> ARGS`` with a spinner; its reply, or a UserError."""
    with err.status(status):
        return _call(module, arguments, status.rstrip("."))
