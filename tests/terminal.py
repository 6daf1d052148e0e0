"""A command on a pseudo-terminal, as at an SSH prompt: keys in, screen text out, and the
ways a terminal goes away (a hang-up signal, or the connection's end of the pty closed)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import psutil

CSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]")


class Terminal:
    """``command`` on its own pseudo-terminal of ``rows`` x ``columns``.

    ``controlling``: the pty becomes the command's controlling terminal (as under sshd),
    so closing the leader end sends it SIGHUP; otherwise it is only its stdin/stdout.
    ``hangup_ignored``: the command starts with SIGHUP ignored, as under ``nohup`` or a
    parent that ignores it (the disposition is inherited across exec).
    """

    def __init__(
        self,
        command: list[str],
        cwd: Path,
        *,
        rows: int = 40,
        columns: int = 120,
        controlling: bool = False,
        hangup_ignored: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.leader, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

        def prepare() -> None:  # in the child, before exec
            os.setsid()
            if controlling:
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if hangup_ignored:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)

        self.process = subprocess.Popen(
            command,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            cwd=cwd,
            env={
                **os.environ,
                "TERM": "xterm-256color",
                "COLUMNS": str(columns),
                "LINES": str(rows),
                **(env or {}),
            },
            preexec_fn=prepare,
        )
        os.close(follower)
        self.seen = ""
        self.open = True

    def _read(self, wait_s: float) -> bool:
        """Read what is there (waiting up to ``wait_s``); False once the command's end closed."""
        if not self.open or not select.select([self.leader], [], [], wait_s)[0]:
            return self.open
        try:
            chunk = os.read(self.leader, 65536)
        except OSError:  # the command ended
            return False
        self.seen += chunk.decode(errors="replace")
        return bool(chunk)

    def wait_for(self, pattern: str, timeout: float = 180.0) -> str:
        """Read until ``pattern`` (a regex) appears in the text since the last match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            plain = CSI.sub("", self.seen)
            if match := re.search(pattern, plain):
                self.seen = plain[match.end() :]
                return plain[: match.end()]
            if not self._read(0.2):
                break
        raise AssertionError(f"never saw {pattern!r}; last output:\n{self.seen[-2000:]}")

    def type(self, line: str) -> None:
        self.press(line.encode() + b"\r")

    def press(self, keys: bytes) -> None:
        os.write(self.leader, keys)

    def children(self, module: str) -> list[psutil.Process]:
        """The command's descendants running ``python -m <module>``."""
        found = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if module in child.cmdline():
                    found.append(child)
            except psutil.Error:
                continue
        return found

    def wait_for_child(self, module: str, timeout: float = 180.0) -> list[psutil.Process]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.children(module):
                return found
            self._read(0.2)  # keep the pty drained: a full pty blocks the command
        raise AssertionError(f"no {module} process after {timeout:.0f} s")

    def wait_exit(self, timeout: float) -> int:
        """The command's exit code, reading its output meanwhile: a terminal that is not
        read fills up, and the command blocks writing to it."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.process.args, timeout)
            if not self._read(0.1):
                time.sleep(0.1)  # nothing more to read: the terminal closed or hung up
        return self.process.returncode

    def hang_up(self) -> None:
        """The SSH connection drops: the connection's end of the pty closes."""
        if self.open:
            os.close(self.leader)
            self.open = False

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.hang_up()
