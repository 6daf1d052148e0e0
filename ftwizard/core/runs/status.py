"""What a run folder's files may hold, checked as they are read, and whose pid a run's is.

``status.json`` and the lines of ``events.jsonl`` are written by the trainer, but a
viewer reads whatever is on disk: a file cut by a full disk, edited by hand or copied
from another version. A value of the wrong type becomes a ``damaged`` state (one row in
``ftwizard runs``, one line in ``attach``) instead of an exception in every viewer.

A pid alone does not name a process for long: after a reboot or an OOM kill the number
goes to another program. The status records the trainer's start time beside its pid,
and the trainer is alive only while both match.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import psutil

from ftwizard.core.files import shorten

_NUMBER = (int, float)
_NONE = type(None)

# status.json: each key's allowed types (None where the trainer clears a value).
STATUS_TYPES: dict[str, tuple[type, ...]] = {
    "state": (str,),
    "phase": (str, _NONE),
    "pid": (int,),
    "pid_started": (*_NUMBER, _NONE),
    "host": (str,),
    "step": (int,),
    "max_steps": (int,),
    "last_loss": (*_NUMBER, _NONE),
    "last_eval_loss": (*_NUMBER, _NONE),
    "eta_s": (*_NUMBER, _NONE),
    "eta_steps": (int, _NONE),
    "tokens_per_s": (*_NUMBER, _NONE),
    "created_at": _NUMBER,
    "started_at": _NUMBER,
    "updated_at": _NUMBER,
    "finished_at": (*_NUMBER, _NONE),
    "stopped_at": (*_NUMBER, _NONE),
    "estimate_gb": (*_NUMBER, _NONE),
    "estimate_eta_s": (*_NUMBER, _NONE),
    "estimate_s_per_step": (*_NUMBER, _NONE),
    "final_loss": (*_NUMBER, _NONE),
    "final_eval_loss": (*_NUMBER, _NONE),
    "tokens_seen": (int, _NONE),
    "output": (str, _NONE),
    "hardware": (str, _NONE),
    "error": (str, _NONE),
    "oom": (bool, _NONE),
    "advice": (list, _NONE),
}

# Each piece of out-of-memory advice in the status (planning/oom.py's to_dict).
ADVICE_TYPES: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "saves_gib": _NUMBER,
    "overrides": (list,),
}

# events.jsonl: what each kind of event must carry for the viewers to describe it.
EVENT_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "log": {
        "step": (int,),
        "max_steps": (int,),
        "loss": _NUMBER,
        "learning_rate": _NUMBER,
        "grad_norm": (*_NUMBER, _NONE),
        "tokens_per_s": (*_NUMBER, _NONE),
        "ram_gb": _NUMBER,
        "gpu_allocated_gb": _NUMBER,
        "gpu_peak_gb": _NUMBER,
        "ranks": (list,),
    },
    "eval": {"step": (int,), "eval_loss": _NUMBER, "perplexity": _NUMBER},
    "checkpoint": {"step": (int,)},
    "data": {
        "rows_train": (int,),
        "rows_eval": (int,),
        "skipped_invalid": (int,),
        "format": (str,),
        "loss": (str,),
        "loss_token_share": (*_NUMBER, _NONE),
    },
    "train_begin": {"step": (int,), "max_steps": (int,)},
    "launch": {"pid": (int,)},
    "error": {"kind": (str, _NONE), "message": (str,)},
    "warning": {"message": (str,)},
    "status": {"state": (str,)},
    "config_changed": {"changes": (dict,)},
}
# Each GPU's (rank's) figures in a log event of a distributed run.
RANK_TYPES = {
    "rank": (int,),
    "ram_gb": _NUMBER,
    "gpu_allocated_gb": _NUMBER,
    "gpu_peak_gb": _NUMBER,
}
# Keys an event of its kind cannot be described without (the rest may be left out).
EVENT_REQUIRED: dict[str, tuple[str, ...]] = {
    "log": ("step", "max_steps", "loss", "learning_rate"),
    "eval": ("step", "eval_loss", "perplexity"),
    "checkpoint": ("step",),
    "data": ("rows_train", "rows_eval", "format"),
    "train_begin": ("step", "max_steps"),
    "launch": ("pid",),
}


def _type_words(types: tuple[type, ...]) -> str:
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
    words = [names.get(t, f"a {t.__name__}") for t in types if t is not _NONE]
    if int in types and float in types:
        words = ["a number", *(w for w in words if w not in ("a whole number", "a number"))]
    return " or ".join(words)


def _wrong_type(data: Mapping[str, Any], types: Mapping[str, tuple[type, ...]]) -> str | None:
    """The first key whose value has another type than ``types`` allows, in words."""
    for key, allowed in types.items():
        if key not in data:
            continue
        value = data[key]
        # bool is an int to Python; a step of `true` is damage all the same.
        if isinstance(value, bool) and bool not in allowed:
            return f"`{key}` is {shorten(value)}, not {_type_words(allowed)}"
        if not isinstance(value, allowed):
            return f"`{key}` is {shorten(value)}, not {_type_words(allowed)}"
    return None


def status_damage(data: object) -> str | None:
    """Why status.json's content cannot be a run's status; None when it can."""
    if not isinstance(data, dict):
        return f"holds {type(data).__name__ if data is not None else 'null'}, not an object"
    wrong = _wrong_type(data, STATUS_TYPES)
    for item in data.get("advice") or [] if wrong is None else []:
        if not isinstance(item, dict) or not set(ADVICE_TYPES) <= set(item):
            return f"`advice` holds {shorten(item)}, not a piece of advice"
        wrong = _wrong_type(item, ADVICE_TYPES)
        if wrong:
            return f"`advice`: {wrong}"
    return wrong


def event_damage(event: object) -> str | None:
    """Why one line of events.jsonl cannot be shown as its kind of event; None when it can."""
    if not isinstance(event, dict):
        return f"holds {type(event).__name__}, not an event object"
    kind = event.get("type")
    if not isinstance(kind, str):
        return "has no `type`"
    missing = [key for key in EVENT_REQUIRED.get(kind, ()) if key not in event]
    if missing:
        return f"a `{kind}` event without `{missing[0]}`"
    wrong = _wrong_type(event, EVENT_TYPES.get(kind, {}))
    for each in event.get("ranks") or [] if kind == "log" and wrong is None else []:
        wrong = f"`ranks` holds {shorten(each)}" if not isinstance(each, dict) else None
        wrong = wrong or _wrong_type(each, RANK_TYPES)
        if wrong:
            break
    return None if wrong is None else f"a `{kind}` event: {wrong}"


# --- whose pid ---------------------------------------------------------------------

# create_time() is rounded differently by the two readers of one process (launcher,
# viewer): a second of slack, far below any pid's reuse.
START_TIME_SLACK_S = 1.0


def process_identity(pid: int) -> dict[str, Any]:
    """The status fields that name a process: its pid and when it started."""
    try:
        started: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        started = None
    return {"pid": pid, "pid_started": started}


def trainer_gone(status: Mapping[str, Any], run_name: str) -> str | None:
    """Why the process a status names is not the trainer of run ``run_name`` any more;
    None while it is (or while it runs on another host, where this machine cannot tell)."""
    if status.get("host") not in (None, socket.gethostname()):
        return None
    pid = status.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return "its status names no trainer process"
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return f"the trainer (pid {pid}) has ended"
        started = status.get("pid_started")
        if not isinstance(started, (int, float)):
            return None  # a status from before start times: the pid is all there is
        if abs(process.create_time() - started) <= START_TIME_SLACK_S:
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
