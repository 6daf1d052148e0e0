"""Run folders: the only contract between the trainer and every viewer.

One folder per run under the runs root::

    runs/<name>/
      config.yaml        the resolved run configuration (what the trainer runs)
      events.jsonl       append-only, one JSON object per line, flushed per event
      status.json        replaced atomically: state, pid, step, max steps, ETA, loss...
      trainer.log        the trainer process's own output
      trainer.lock       holds the pid of the trainer writing this run
      checkpoints/       checkpoint-N folders, written under .staging/ and renamed
      final/             the trained adapter or model with its tokenizer
      requests/          "stop" / "save" asked of a run on several machines
      nodes/             R.json: which host runs machine R's part of the launch
      logs/              rank-N.log of every rank but 0; node-R.log of machine R's torchrun

Viewers (the headless console, the TUI, ``ftwizard runs``) only read these files,
so quitting a viewer never touches training.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import config_from_dict, dump_config
from ftwizard.core.errors import UserError

STATES = ("starting", "running", "stopping", "stopped", "finished", "failed")
ACTIVE = ("starting", "running", "stopping")
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def log_path(self) -> Path:
        return self.path / "trainer.log"

    @property
    def lock_path(self) -> Path:
        return self.path / "trainer.lock"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def staging_dir(self) -> Path:
        return self.checkpoints_dir / ".staging"

    @property
    def final_dir(self) -> Path:
        return self.path / "final"

    # --- requests to the trainer -------------------------------------------------
    # A run on several machines cannot be signalled from every machine: "stop" and
    # "save" are files here, read by every rank at each step end.

    def request(self, name: str) -> None:
        (self.path / "requests").mkdir(mode=0o700, exist_ok=True)
        write_atomic(self.path / "requests" / name, json.dumps({"time": time.time()}))

    def requested(self, name: str) -> bool:
        return (self.path / "requests" / name).exists()

    def clear_request(self, name: str) -> None:
        (self.path / "requests" / name).unlink(missing_ok=True)

    # --- configuration -----------------------------------------------------------

    def require_output(self) -> Path:
        """The trained output (``final/``); a UserError while the run has none."""
        if not self.final_dir.exists():
            raise UserError(
                f"{self.name} has no trained output yet (state: {self.read_status().get('state')})."
            )
        return self.final_dir

    def read_config(self) -> RunConfig:
        import yaml

        data = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        return config_from_dict(data, str(self.config_path))

    # --- status ------------------------------------------------------------------

    def read_status(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {"state": "unknown"}
        here = data.get("host") in (None, socket.gethostname())  # a pid elsewhere: unknown
        if data.get("state") in ACTIVE and here and not _alive(data.get("pid")):
            # The trainer is gone without saying so (SIGKILL, a crash, a reboot).
            data["state"] = "failed"
            data.setdefault("error", "the trainer process ended without recording why")
        return data

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json, replacing the file atomically."""
        current: dict[str, Any] = {}
        if self.status_path.exists():
            try:
                current = json.loads(self.status_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                current = {}
        current.update(fields, updated_at=time.time())
        write_atomic(self.status_path, json.dumps(current, indent=2))
        return current

    # --- events ------------------------------------------------------------------

    def append_event(self, event_type: str, /, **fields: Any) -> dict[str, Any]:
        # Positional-only: an event may carry a field named ``kind`` (error events do).
        event = {"time": round(time.time(), 3), "type": event_type, **fields}
        with open_private(self.events_path) as handle:
            handle.write(json.dumps(event) + "\n")
            handle.flush()
        return event

    def read_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events from byte ``offset`` on, and the offset to continue from (tail -f)."""
        if not self.events_path.exists():
            return [], offset
        events: list[dict[str, Any]] = []
        with self.events_path.open("rb") as handle:
            handle.seek(offset)
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # a line still being written: read it next time
                offset += len(line)
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events, offset


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so a reader sees the old file or the new one, never half of one."""
    # rename() is atomic for readers; no fsync, which would cost every logged step
    # milliseconds for a guarantee (surviving power loss) a status file does not need.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open_private(tmp, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def open_private(path: Path, mode: str = "a") -> IO[Any]:
    """Open a file for writing that only its owner can read (0600), whatever the umask:
    run files hold prompts, data paths and losses."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    if "b" in mode:
        return os.fdopen(descriptor, mode)
    return os.fdopen(descriptor, mode, encoding="utf-8")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def default_run_name(config: RunConfig) -> str:
    model = Path(config.model.model_name_or_path).name.lower()
    model = re.sub(r"[^a-z0-9.]+", "-", model).strip("-")[:40] or "model"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{model}-{config.method.objective}-{config.method.adapter}-{stamp}"


def runs_root(config: RunConfig) -> Path:
    return Path(config.output.runs_root).expanduser()


def create_run(config: RunConfig) -> RunFolder:
    """A new run folder (owner-only permissions) holding the resolved configuration."""
    root = runs_root(config)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"{root}: the runs root is not writable ({exc.strerror}).",
            hint="Choose another with --set output.runs_root=DIR.",
        ) from None
    name = config.output.run_name or default_run_name(config)
    path = root / name
    if path.exists():
        raise UserError(
            f"{path}: a run of this name exists already.",
            hint=f"Resume it with `ftwizard resume {name}`, or choose another output.run_name.",
        )
    path.mkdir(mode=0o700)
    folder = RunFolder(path)
    resolved = config.model_copy(
        update={"output": config.output.model_copy(update={"run_name": name})}
    )
    write_atomic(folder.config_path, dump_config(resolved))
    folder.checkpoints_dir.mkdir(mode=0o700)
    folder.write_status(state="starting", step=0, created_at=time.time())
    return folder


def find_run(name_or_path: str, root: str | Path = "runs") -> RunFolder:
    """A run by folder path or by name under ``root``; a UserError listing runs otherwise."""
    path = Path(name_or_path)
    if not (path / "config.yaml").exists():
        path = Path(root) / name_or_path
    if not (path / "config.yaml").exists():
        known = [r.name for r in list_runs(root)][-5:]
        raise UserError(
            f"No run `{name_or_path}` (looked in {root}/).",
            hint=f"Runs there: {', '.join(known)}" if known else "List runs with `ftwizard runs`.",
        )
    return RunFolder(path)


def list_runs(root: str | Path = "runs") -> list[RunFolder]:
    base = Path(root)
    if not base.is_dir():
        return []
    runs = [RunFolder(p) for p in base.iterdir() if (p / "config.yaml").exists()]
    return sorted(runs, key=lambda r: (r.config_path.stat().st_mtime, r.name))


# --- checkpoints -----------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    complete: bool
    resumable: bool
    """Optimizer, scheduler and RNG states are present: training can continue exactly."""
    loss: float | None
    time: float
    size_bytes: int
    problem: str | None = None
    """Why it is incomplete, or why a resume cannot continue from it exactly."""

    @property
    def kind(self) -> str:
        if not self.complete:
            return "incomplete"
        return "resumable" if self.resumable else "weights only"


WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")
RESUME_FILES = ("optimizer.pt", "scheduler.pt")


def _whole_safetensors(path: Path, size: int) -> bool:
    """The header's tensors end exactly where the file does (a cut file ends early)."""
    with path.open("rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else size
        if length > size - 8:
            return False
        try:
            header = json.loads(handle.read(length))
        except (ValueError, UnicodeDecodeError):
            return False
    ends = [
        entry["data_offsets"][1]
        for entry in header.values()
        if isinstance(entry, dict) and "data_offsets" in entry
    ]
    return 8 + length + max(ends, default=0) == size


def _file_problem(path: Path) -> str | None:
    """Why a file a resume reads is unusable: empty, or cut short (a copy or a disk
    that failed; ftwizard's own saves are renamed into place only when whole)."""
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty (truncated)"
    if path.suffix == ".safetensors" and not _whole_safetensors(path, size):
        return f"{path.name} is truncated"
    if path.suffix in (".pt", ".pth") and not zipfile.is_zipfile(path):
        return f"{path.name} is truncated (not a whole torch file)"
    return None


def _inspect(path: Path, step: int) -> Checkpoint:
    files = {p.name: p for p in path.iterdir()} if path.is_dir() else {}
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    state_file = files.get("trainer_state.json")
    loss = None
    problem = None  # why the weights cannot be used
    if state_file is None:
        problem = "trainer_state.json is missing"
    else:
        try:
            state = json.loads(state_file.read_text())
            logged = [h["loss"] for h in state.get("log_history", []) if "loss" in h]
            loss = logged[-1] if logged else None
        except (OSError, json.JSONDecodeError):
            problem = "trainer_state.json is unreadable"
    weights = [files[name] for name in WEIGHT_FILES if name in files]
    if not weights:
        problem = problem or "no weights file"
    else:
        problem = problem or next(filter(None, map(_file_problem, weights)), None)
    if "adapter_model.safetensors" in files and "adapter_config.json" not in files:
        problem = problem or "adapter_config.json is missing"
    # why training cannot continue exactly from it (the weights may still be usable)
    resume_problem = None
    for name in RESUME_FILES:
        resume_problem = f"{name} is missing" if name not in files else _file_problem(files[name])
        if resume_problem:
            break
    rng_states = [files[name] for name in files if name.startswith("rng_state")]
    if not rng_states:
        resume_problem = resume_problem or "no rng_state file"
    else:
        resume_problem = resume_problem or next(filter(None, map(_file_problem, rng_states)), None)
    return Checkpoint(
        path,
        step,
        problem is None,
        problem is None and resume_problem is None,
        loss,
        path.stat().st_mtime,
        size,
        problem or resume_problem,
    )


def list_checkpoints(run: RunFolder) -> list[Checkpoint]:
    """Every checkpoint folder, oldest first, marked complete/resumable/incomplete."""
    if not run.checkpoints_dir.is_dir():
        return []
    found = []
    for path in run.checkpoints_dir.iterdir():
        match = CHECKPOINT.match(path.name)
        if match:
            found.append(_inspect(path, int(match.group(1))))
    return sorted(found, key=lambda c: c.step)


def latest_resumable(
    run: RunFolder, step: int | None = None, checkpoints: list[Checkpoint] | None = None
) -> Checkpoint:
    """The checkpoint at ``step``, or the newest resumable one (``checkpoints``: the
    run's, when the caller has listed them already)."""
    checkpoints = list_checkpoints(run) if checkpoints is None else checkpoints
    if step is not None:
        chosen = next((c for c in checkpoints if c.step == step), None)
        if chosen is None:
            steps = ", ".join(str(c.step) for c in checkpoints) or "none"
            raise UserError(f"{run.name} has no checkpoint at step {step} (it has: {steps}).")
        if not chosen.resumable:
            raise UserError(
                f"checkpoint-{step} of {run.name} is {chosen.kind}"
                f"{f' ({chosen.problem})' if chosen.problem else ''}; pick another."
            )
        return chosen
    usable = [c for c in checkpoints if c.resumable]
    if not usable:
        raise UserError(
            f"{run.name} has no complete, resumable checkpoint yet.",
            hint="Start it again with `ftwizard --preset` and its config.yaml.",
        )
    return usable[-1]
