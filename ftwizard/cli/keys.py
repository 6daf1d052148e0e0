"""Single keys from the terminal, for ``ftwizard judge``: one key press, no Enter. From
a pipe (a script, a test) each non-blank character is a key."""

from __future__ import annotations

import contextlib
import os
import sys
import termios
import tty
from collections.abc import Iterator


@contextlib.contextmanager
def key_reader() -> Iterator[object]:
    """While inside, ``read_key()`` reads without waiting for Enter (cbreak mode, so
    Ctrl-C still interrupts); the terminal is put back on the way out."""
    fd = sys.stdin.fileno()
    if not os.isatty(fd):
        yield None
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield None
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def read_key() -> str:
    """The next key, lower case; "" at the end of the input (a closed pipe or terminal)."""
    while True:
        key = os.read(sys.stdin.fileno(), 1).decode("utf-8", "replace")
        if not key:
            return ""
        if not key.isspace():
            return key.lower()
