"""How a trainer-package module answers the process that started it: one JSON line.

The CLI and the TUI run these modules in their own processes (they need torch or
transformers) and read the last line of their output: the result, or
``{"error": ..., "hint": ...}`` with exit code 2 for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ftwizard.core.errors import UserError


def reply(compute: Callable[[], Any]) -> int:
    try:
        result = compute()
    except UserError as error:
        print(json.dumps({"error": error.message, "hint": error.hint}))
        return 2
    print(json.dumps(result))
    return 0
