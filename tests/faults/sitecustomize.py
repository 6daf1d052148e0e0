"""Fault injection for tests/test_fault_injection.py.

Put on the trainer's PYTHONPATH, Python imports this at start-up. It does nothing
unless FTWIZARD_TEST_FAULT is set to ``KIND:STEP``:

* ``kill-in-save:N``: while checkpoint-N is being written, touch the marker file and
  wait (the test SIGKILLs the trainer there);
* ``enospc:N``: writing checkpoint-N fails as a full disk does (OSError ENOSPC);
* ``kill-in-eval:N``: during the evaluation at step N, touch the marker and wait.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

FAULT = os.environ.get("FTWIZARD_TEST_FAULT", "")
MARKER = Path(os.environ.get("FTWIZARD_TEST_MARKER", "/nonexistent"))


def _hold() -> None:
    MARKER.touch()
    time.sleep(120)  # the test kills the process during this


if FAULT:
    kind, _, step = FAULT.partition(":")
    if kind in ("kill-in-save", "enospc"):
        import torch

        original_save = torch.save

        def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
            if f"checkpoint-{step}" in str(f):
                if kind == "enospc":
                    MARKER.touch()
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
                _hold()
            return original_save(obj, f, *args, **kwargs)

        torch.save = save
    elif kind == "kill-in-eval":
        import transformers

        original_evaluate = transformers.Trainer.evaluate

        def evaluate(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self.state.global_step == int(step):
                _hold()
            return original_evaluate(self, *args, **kwargs)

        transformers.Trainer.evaluate = evaluate
