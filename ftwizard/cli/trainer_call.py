"""Running a trainer-package module in its own process and reading its JSON reply."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from ftwizard.cli.console import err
from ftwizard.core.errors import UserError


def call_trainer_module(module: str, arguments: list[str], status: str) -> Any:
    """``python -m ftwizard.trainer.<module> ARGS`` with a spinner; its reply, or a UserError."""
    command = [sys.executable, "-m", f"ftwizard.trainer.{module}", *arguments]
    with err.status(status):
        result = subprocess.run(command, capture_output=True, text=True)
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise UserError(f"{status.rstrip('.')} failed: {result.stderr.strip()[-600:]}") from None
    if isinstance(data, dict) and "error" in data:
        raise UserError(data["error"], hint=data.get("hint"))
    return data
