"""Why a run ended when it went wrong: a full disk in words, and what a viewer says of a
trainer that is gone without recording its end.

A full disk shows in many shapes: ``OSError(ENOSPC)`` from Python, a ``SafetensorError``
whose text names "os error 28", and from ``torch.save`` a ``RuntimeError`` about an
"unexpected pos". The errors that say so are read as such; any other is judged by the
space left where the run writes. On a disk that full the trainer may not manage to
write its last status either: a viewer then finds the trainer gone, checks the disk
itself, and reads the last line the trainer could put in its log.
"""

from __future__ import annotations

import errno
import shutil

from ftwizard.core.files import regular_file_problem
from ftwizard.core.runs.checkpoints import list_checkpoints
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.units import human_size

# Below this, the run's disk is taken as full: no checkpoint or status fits in it.
FULL_BELOW_BYTES = 1 << 20
# The trainer's last word in its log, when it could write nothing else.
LOG_PREFIX = "ftwizard: "
_SAID_FULL = ("no space left on device", "os error 28", "storagefull", "disk quota exceeded")


def free_bytes(run: RunFolder) -> int | None:
    try:
        return shutil.disk_usage(run.path).free
    except OSError:
        return None


def is_disk_full(run: RunFolder, error: BaseException) -> bool:
    """Whether ``error`` is a full disk: it says so, or the run's disk has no room left."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if any(words in str(error).lower() for words in _SAID_FULL):
        return True
    free = free_bytes(run)
    return free is not None and free < FULL_BELOW_BYTES


def disk_full_message(run: RunFolder, error: BaseException | None = None) -> str:
    """A full disk in words: where, what survived, what to do."""
    saved = [c for c in list_checkpoints(run) if c.resumable]
    kept = (
        f"checkpoint-{saved[-1].step} is intact; `ftwizard resume {run.name}` continues from it"
        if saved
        else "no checkpoint was complete yet"
    )
    filename = getattr(error, "filename", None)
    free = free_bytes(run)
    left = f", {human_size(free)} free" if free is not None and free < FULL_BELOW_BYTES else ""
    return (
        f"the disk is full (no space left on device{left}) while writing "
        f"{filename or 'the run'}; {kept} once space is freed under {run.path.parent}."
    )


def why_gone(run: RunFolder) -> str:
    """What a viewer says of a trainer that ended without recording why."""
    free = free_bytes(run)
    if free is not None and free < FULL_BELOW_BYTES:
        return disk_full_message(run)
    last_word = _last_word(run)
    return last_word or "the trainer process ended without recording why"


def _last_word(run: RunFolder) -> str | None:
    """The trainer's last ``ftwizard:`` line in the end of its log, if it wrote one."""
    if regular_file_problem(run.log_path) is not None:
        return None
    try:
        with run.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, 2) - 8192))
            tail = log.read().decode("utf-8", "replace")
    except OSError:
        return None
    said = [line for line in tail.splitlines() if line.startswith(LOG_PREFIX)]
    return said[-1].removeprefix(LOG_PREFIX) if said else None
