"""``status.json``: what the trainer last said about itself, as a type, and whose pid it is.

The trainer merges fields into the file (``RunFolder.write_status``); every viewer reads
it back as a :class:`RunStatus` (``RunFolder.read_status``). A file cut by a full disk,
edited by hand or left by another version is a status in state ``damaged`` whose
``damage`` says what and where, never an exception in a viewer.

A pid alone does not name a process for long: after a reboot or an OOM kill the number
goes to another program. The status records the trainer's start time beside its pid,
and the trainer is alive only while both match.
"""

from __future__ import annotations

import socket
from typing import TypedDict

import psutil
from pydantic import ValidationError

from ftwizard.core.planning.oom import Advice
from ftwizard.core.runs.events import Record, problem

STATES = ("starting", "running", "stopping", "stopped", "finished", "failed")
ACTIVE = ("starting", "running", "stopping")


class RunStatus(Record):
    """Where a run stands. Every field but ``state`` may be missing from the file."""

    state: str = "unknown"
    """One of STATES; "unknown" before the file exists, "damaged" when it is unusable."""
    phase: str | None = None
    """What the trainer does now: loading model, training, evaluating, saving."""
    stage: str | None = None
    """In a run in stages: the stage under way, "stage 2 of 2: dpo"."""
    pid: int | None = None
    pid_started: float | None = None
    """The trainer process's start time: with the pid, which process it is."""
    host: str | None = None
    step: int = 0
    max_steps: int | None = None
    last_loss: float | None = None
    last_eval_loss: float | None = None
    eta_s: float | None = None
    """Seconds left, measured over the steps since this (re)start."""
    eta_steps: int | None = None
    """The steps that measurement is over."""
    tokens_per_s: float | None = None
    created_at: float | None = None
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    stopped_at: float | None = None
    estimate_gb: float | None = None
    """The plan's memory estimate at launch."""
    estimate_eta_s: float | None = None
    """The plan's ETA for the whole run at launch."""
    estimate_s_per_step: float | None = None
    final_loss: float | None = None
    final_eval_loss: float | None = None
    tokens_seen: int | None = None
    output: str | None = None
    hardware: str | None = None
    error: str | None = None
    oom: bool | None = None
    advice: tuple[Advice, ...] | None = None
    """After an out-of-memory failure: what to change, best first (a resume clears it)."""
    gone: str | None = None
    """Set by the reader: why the trainer of an active run is judged gone."""
    damage: str | None = None
    """Set by the reader: what is wrong with the file, and where."""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @classmethod
    def damaged(cls, damage: str) -> RunStatus:
        return cls(state="damaged", damage=damage)

    @classmethod
    def from_json(cls, text: str, where: str) -> RunStatus:
        try:
            return cls.read_json(text)
        except ValidationError as error:
            return cls.damaged(f"{where}: {problem(error)}")


class StatusUpdate(TypedDict, total=False):
    """The fields a writer may set (``RunFolder.write_status``); None clears one."""

    state: str
    phase: str | None
    stage: str
    pid: int
    pid_started: float | None
    host: str
    step: int
    max_steps: int
    last_loss: float | None
    last_eval_loss: float | None
    eta_s: float | None
    eta_steps: int
    tokens_per_s: float | None
    created_at: float
    started_at: float
    finished_at: float | None
    stopped_at: float | None
    estimate_gb: float
    estimate_eta_s: float
    estimate_s_per_step: float | None
    final_loss: float | None
    final_eval_loss: float | None
    tokens_seen: int
    output: str
    hardware: str
    error: str | None
    oom: bool | None
    advice: tuple[Advice, ...] | None


# --- whose pid ---------------------------------------------------------------------

# create_time() is rounded differently by the two readers of one process (launcher,
# viewer): a second of slack, far below any pid's reuse.
START_TIME_SLACK_S = 1.0


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch): with the pid, which
    process it is. None when there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def trainer_gone(status: RunStatus, run_name: str) -> str | None:
    """Why the process a status names is not the trainer of run ``run_name`` any more;
    None while it is (or while it runs on another host, where this machine cannot tell)."""
    if status.host not in (None, socket.gethostname()):
        return None
    pid = status.pid
    if pid is None or pid <= 0:
        return "its status names no trainer process"
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return f"the trainer (pid {pid}) has ended"
        if status.pid_started is None:
            return None  # a status from before start times: the pid is all there is
        if abs(process.create_time() - status.pid_started) <= START_TIME_SLACK_S:
            return None
        # Another start time. The wall clock a start time is read against can be
        # stepped while a run trains for days: a process that runs this run's trainer
        # (or its launcher) is still it.
        if _runs_trainer_of(process, run_name):
            return None
        return (
            f"the trainer (pid {pid}) has ended: pid {pid} is now another process "
            f"({process.name()})"
        )
    except psutil.Error:
        return f"the trainer (pid {pid}) has ended"


def _runs_trainer_of(process: psutil.Process, run_name: str) -> bool:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:  # another user's process is not our trainer
        return False
    return "ftwizard.trainer" in command and run_name in command
