"""One trainer per run: ``trainer.lock``, held with the kernel's ``flock``.

Whether a trainer holds the run is the lock's ``flock``, not the pid written in it: the
kernel drops a dead process's lock at once, so a trainer killed by SIGKILL or an OOM
leaves a lock the next trainer takes over in one atomic step, and two trainers that
race for it cannot both win. The holder's pid and start time are written in the file
before it appears (a temporary file linked into place), for the messages.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.files import load_json
from ftwizard.core.runs.status import process_started


class LockHeld(Exception):
    """Another live trainer holds the run."""


@dataclass
class RunLock:
    """A held lock; the file descriptor keeps it (the kernel releases it with the process)."""

    path: Path
    descriptor: int
    taken_from: str | None
    """The holder a stale lock named when this one took it over, in words; None if new."""

    def release(self) -> None:
        """Remove the file while still holding it, so nobody takes a lock on a removed
        file, then let go."""
        try:
            if _same_file(self.path, self.descriptor):
                self.path.unlink()
        except OSError:
            pass
        finally:
            os.close(self.descriptor)


def _same_file(path: Path, descriptor: int) -> bool:
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(descriptor)
    return (found.st_dev, found.st_ino) == (mine.st_dev, mine.st_ino)


def _holder_words(text: str) -> str:
    """Who a lock file names: "pid N", from this version's JSON or an older bare pid."""
    try:
        holder = load_json(text)
    except json.JSONDecodeError:
        holder = None
    if isinstance(holder, dict) and isinstance(holder.get("pid"), int):
        return f"pid {holder['pid']}"
    if isinstance(holder, int):
        return f"pid {holder}"
    return "an unknown process"


def _holder() -> bytes:
    """What the lock file says of its holder: this process, by pid and start time."""
    return json.dumps({"pid": os.getpid(), "pid_started": process_started(os.getpid())}).encode()


def _create(path: Path) -> int | None:
    """The lock file, made with its holder already in it; None if one is there."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, _holder())
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # nobody else has this file yet
        os.link(temporary, path)
    except FileExistsError:
        os.close(descriptor)
        return None
    except BaseException:
        os.close(descriptor)
        raise
    finally:
        temporary.unlink(missing_ok=True)
    return descriptor


def _take_over(path: Path) -> tuple[int, str] | None:
    """The existing lock file, if no live process holds it: its descriptor, locked, and
    the holder it named; None when it vanished meanwhile (try creating it again)."""
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_words(path.read_text(errors="replace"))
        os.close(descriptor)
        raise LockHeld(f"another trainer ({holder}) is writing this run") from None
    if not _same_file(path, descriptor):  # released and removed before we locked it
        os.close(descriptor)
        return None
    stale = _holder_words(os.pread(descriptor, 4096, 0).decode(errors="replace"))
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, _holder(), 0)
    return descriptor, stale


def acquire(path: Path) -> RunLock:
    """Hold ``path`` for this process; LockHeld when a live process holds it."""
    for _ in range(20):  # each turn loses only to a holder that came and went
        descriptor = _create(path)
        if descriptor is not None:
            return RunLock(path, descriptor, None)
        taken = _take_over(path)
        if taken is not None:
            return RunLock(path, taken[0], taken[1])
    raise LockHeld("the run's lock keeps changing hands; is another trainer starting?")
