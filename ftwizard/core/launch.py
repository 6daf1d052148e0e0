"""Starting and stopping the detached trainer process.

The trainer gets its own session (``start_new_session``): closing the terminal, an
SSH drop (SIGHUP to the launcher) or quitting a viewer does not reach it. Its
stdin is closed and its output goes to the run's ``trainer.log``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.runs import ACTIVE, RunFolder


def launch(run: RunFolder, resume: Path | None = None) -> int:
    """Start the trainer for ``run``; returns its pid."""
    command = [sys.executable, "-m", "ftwizard.trainer.run", str(run.path)]
    if resume is not None:
        command += ["--resume", str(resume)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with run.log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    run.write_status(pid=process.pid)
    run.append_event("launch", pid=process.pid, resume_from=None if resume is None else str(resume))
    return process.pid


def stop(run: RunFolder, wait_s: float = 0.0) -> str:
    """Ask the trainer to save a resumable checkpoint and stop (SIGTERM)."""
    status = run.read_status()
    if status.get("state") not in ACTIVE:
        raise UserError(f"{run.name} is not running (state: {status.get('state')}).")
    pid = status.get("pid")
    if not isinstance(pid, int):
        raise UserError(f"{run.name}: its status names no trainer process.")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise UserError(f"{run.name}: the trainer (pid {pid}) is gone already.") from None
    deadline = time.time() + wait_s
    while time.time() < deadline:
        state = run.read_status().get("state")
        if state not in ACTIVE:
            return str(state)
        time.sleep(0.2)
    return str(run.read_status().get("state"))


def request_checkpoint(run: RunFolder) -> None:
    """Ask the trainer to save a checkpoint now and carry on (SIGUSR1)."""
    status = run.read_status()
    pid = status.get("pid")
    if status.get("state") != "running" or not isinstance(pid, int):
        raise UserError(f"{run.name} is not training right now.")
    os.kill(pid, signal.SIGUSR1)
