"""Fault injection for tests/test_fault_injection.py.

Put on the trainer's PYTHONPATH, Python imports this at start-up. It does nothing
unless FTWIZARD_TEST_FAULT is set to ``KIND:STEP``:

* ``kill-in-save:N``: while checkpoint-N is being written, touch the marker file and
  wait (the test SIGKILLs the trainer there);
* ``enospc:N``: writing checkpoint-N fails as a full disk does (OSError ENOSPC);
* ``kill-in-eval:N``: during the evaluation at step N, touch the marker and wait;
* ``safetensors-full:N``: safetensors fails to write checkpoint-N as it does on a full
  disk (its own SafetensorError, with the text it gives there);
* ``disk-full:N``: from checkpoint-N on, the disk is full for everything the trainer
  writes: checkpoints, events, status (OSError ENOSPC on every write).
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
    elif kind == "safetensors-full":
        import safetensors.torch
        from safetensors import SafetensorError

        original_save_file = safetensors.torch.save_file

        def save_file(tensors: Any, filename: Any, *args: Any, **kwargs: Any) -> Any:
            if f"checkpoint-{step}" in str(filename):
                MARKER.touch()
                # What safetensors raised when a real (1 MB tmpfs) disk filled up.
                raise SafetensorError(
                    "Error while serializing: I/O error: No space left on device (os error 28)"
                )
            return original_save_file(tensors, filename, *args, **kwargs)

        safetensors.torch.save_file = save_file
    elif kind == "disk-full":
        import torch

        import ftwizard.core.runs.folder as folder

        full: list[bool] = []
        original_save, original_open = torch.save, folder.open_private

        def no_space(name: Any) -> OSError:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(name))

        def save_when_full(obj: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
            if f"checkpoint-{step}" in str(f):
                MARKER.touch()
                full.append(True)
            if full:
                raise no_space(f)
            return original_save(obj, f, *args, **kwargs)

        class FullFile:
            def __init__(self, name: Any) -> None:
                self.name = name

            def __enter__(self) -> FullFile:
                return self

            def __exit__(self, *exc: Any) -> None:
                return None

            def write(self, text: Any) -> int:
                raise no_space(self.name)

            def flush(self) -> None:
                raise no_space(self.name)

        def open_when_full(path: Any, mode: str = "a") -> Any:
            if full:
                return FullFile(path)
            return original_open(path, mode)

        torch.save = save_when_full
        folder.open_private = open_when_full
    elif kind == "kill-in-eval":
        import transformers

        original_evaluate = transformers.Trainer.evaluate

        def evaluate(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self.state.global_step == int(step):
                _hold()
            return original_evaluate(self, *args, **kwargs)

        transformers.Trainer.evaluate = evaluate
