"""How a viewer ends: with its terminal, and with the processes it started for answers.

The wizard and the run views (``--preset``, ``attach``) are viewers; only the trainer,
in its own session, is meant to outlive the terminal. Three things could keep a viewer
alive after its terminal has gone, each seen or reproduced:

- SIGHUP ignored: a process started under ``nohup`` (or by anything that ignores the
  signal) inherits the ignoring, so the hang-up of the SSH connection does nothing;
  Textual's input thread then spins on a terminal that only answers "end of file".
  ``exit_on_hangup`` installs a handler whatever the inherited disposition.
- A terminal hung up without the signal reaching the viewer: ``terminal_hung_up``
  lets a viewer notice on its own (the wizard checks every second).
- Work in flight at exit: Python waits for worker threads at shutdown, and a worker
  waits for its tokenising, merging or sampling process. Those processes are started
  through ``run``/``start`` here, and ``leave`` ends them and the process at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any, NoReturn

EXIT_HANGUP = 128 + signal.SIGHUP

_children: set[subprocess.Popen[Any]] = set()
_lock = threading.Lock()


def start(command: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen``, remembered so that ``end_children`` can end it."""
    process: subprocess.Popen[Any] = subprocess.Popen(list(command), **options)
    with _lock:
        _children.add(process)
    return process


def forget(process: subprocess.Popen[Any]) -> None:
    with _lock:
        _children.discard(process)


def run(command: Sequence[str], input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(capture_output=True, text=True)``, ended by ``end_children`` if
    the viewer leaves first. ``input_text`` goes to its stdin (what must not show in
    ``ps``, such as a person's prompts); without it, stdin is empty."""
    process = start(
        command,
        stdin=subprocess.DEVNULL if input_text is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(input_text)
    finally:
        forget(process)
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def end_children(grace_s: float = 2.0) -> None:
    """Terminate every process started here that still runs; kill what outlasts ``grace_s``."""
    with _lock:
        running = [p for p in _children if p.poll() is None]
        _children.clear()
    for process in running:
        with contextlib.suppress(OSError):
            process.terminate()
    for process in running:
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()


def leave(code: int) -> NoReturn:
    """End the viewer now: its helper processes, then itself, without waiting for worker
    threads (what they computed is for a screen that is gone)."""
    end_children()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _on_hangup(signum: int, frame: FrameType | None) -> None:
    leave(EXIT_HANGUP)


@contextlib.contextmanager
def exit_on_hangup() -> Iterator[None]:
    """While inside, SIGHUP ends the viewer (``leave``), even where it was inherited as
    ignored. Outside the main thread (some tests) nothing can be installed: no-op."""
    try:
        previous = signal.signal(signal.SIGHUP, _on_hangup)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def terminal_hung_up(fd: int) -> bool:
    """True when ``fd`` was a terminal and has been hung up (reads end, ioctls fail)."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):
        return True
    return False
