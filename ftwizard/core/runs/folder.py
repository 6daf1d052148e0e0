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
      start/             the folded starting model a QLoRA run quantises (model.from_run
                         of an adapter run)
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
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import IO, Any

from typing_extensions import Unpack

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import config_from_dict, dump_config
from ftwizard.core.errors import UserError
from ftwizard.core.files import load_json, load_yaml, read_small_text, regular_file_problem
from ftwizard.core.runs.events import AnyEvent, Damaged, Event, parse_event, stamped
from ftwizard.core.runs.status import RunStatus, StatusUpdate, trainer_gone


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

    @property
    def start_dir(self) -> Path:
        return self.path / "start"

    def require_output(self) -> Path:
        """The trained output (``final/``); a UserError while the run has none."""
        if not self.final_dir.exists():
            raise UserError(
                f"{self.name} has no trained output yet (state: {self.read_status().state})."
            )
        return self.final_dir

    def require_text_model(self) -> Path:
        """The trained output of a model that writes text: merge, sample, chat, export and
        eval need one; a reward model only scores (a UserError saying how to use it)."""
        output = self.require_output()
        if self.read_config().method.objective == "reward":
            raise UserError(
                f"{self.name} is a reward model: it scores answers and writes none, so it "
                "cannot be merged, sampled, chatted with, exported or evaluated as one.",
                hint=f"Use it as a reward: rl.reward_model_run: {self.name} in a grpo or rloo run.",
            )
        return output

    def read_config(self) -> RunConfig:
        label = str(self.config_path)
        data = load_yaml(read_small_text(self.config_path, "a run's config.yaml"), label)
        if not isinstance(data, dict):
            raise UserError(f"{label}: damaged (holds no run configuration).")
        return config_from_dict(data, label)

    # --- status ------------------------------------------------------------------

    def read_status(self) -> RunStatus:
        """status.json, its state judged: an active run whose trainer is gone is
        "failed" (``gone`` says why), a file that cannot be a status is "damaged"
        (``damage`` says what and where)."""
        if not self.status_path.exists() and not self.status_path.is_symlink():
            return RunStatus()
        try:
            text = read_small_text(self.status_path, "a run's status.json")
        except UserError as error:
            return RunStatus.damaged(error.message)
        status = RunStatus.from_json(text, str(self.status_path))
        if not status.active:
            return status
        gone = trainer_gone(status, self.name)
        if gone is None:
            return status
        # The trainer is gone without saying so (SIGKILL, a crash, a reboot).
        from ftwizard.core.runs.ending import why_gone  # it reads the checkpoints

        return status.model_copy(
            update={"state": "failed", "gone": gone, "error": status.error or why_gone(self)}
        )

    def write_status(self, **fields: Unpack[StatusUpdate]) -> None:
        """Merge ``fields`` into status.json, replacing the file atomically."""
        unknown = set(fields) - set(RunStatus.model_fields)
        if unknown:
            raise TypeError(f"status.json has no field {sorted(unknown)[0]}")
        current: dict[str, Any] = {}
        try:
            found = load_json(read_small_text(self.status_path, "a run's status.json"))
            current = found if isinstance(found, dict) else {}
        except (UserError, json.JSONDecodeError):
            current = {}
        current.update(fields, updated_at=time.time())
        text = json.dumps(current, indent=2, default=_plain)
        written = RunStatus.from_json(text, "the new status")
        if written.damage:  # a writer's mistake, caught where it is made
            raise TypeError(written.damage)
        write_atomic(self.status_path, text)

    # --- events ------------------------------------------------------------------

    def append_event(self, event: Event) -> None:
        """Add one line to events.jsonl, flushed at once (viewers tail it)."""
        with open_private(self.events_path) as handle:
            handle.write(json.dumps(stamped(event)) + "\n")
            handle.flush()

    def read_events(self, offset: int = 0) -> tuple[list[AnyEvent], int]:
        """Events from byte ``offset`` on, and the offset to continue from (tail -f).

        A line that cannot be its kind of event comes back as a ``Damaged`` event
        saying where it is, so a viewer shows it and goes on."""
        if regular_file_problem(self.events_path) is not None:
            return [], offset
        events: list[AnyEvent] = []
        with self.events_path.open("rb") as handle:
            handle.seek(offset)
            while line := handle.readline(MAX_EVENT_BYTES):
                where = f"{self.events_path.name} at byte {offset}"
                if not line.endswith(b"\n"):
                    if len(line) < MAX_EVENT_BYTES:
                        break  # a line still being written: read it next time
                    offset += len(line) + _skip_line(handle)
                    events.append(Damaged(where=where, message=f"{where}: is longer than 1 MB"))
                    continue
                events.append(parse_event(line, where))
                offset += len(line)
        return events, offset


MAX_EVENT_BYTES = 1 << 20


def _skip_line(handle: IO[bytes]) -> int:
    """Read past the rest of an over-long line without holding it; bytes skipped."""
    skipped = 0
    while chunk := handle.readline(MAX_EVENT_BYTES):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so a reader sees the old file or the new one, never half of one."""
    # rename() is atomic for readers; no fsync, which would cost every logged step
    # milliseconds for a guarantee (surviving power loss) a status file does not need.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open_private(tmp, "w") as handle:
            handle.write(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind


def open_private(path: Path, mode: str = "a") -> IO[Any]:
    """Open a file for writing that only its owner can read (0600), whatever the umask:
    run files hold prompts, data paths and losses."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    if "b" in mode:
        return os.fdopen(descriptor, mode)
    return os.fdopen(descriptor, mode, encoding="utf-8")


def default_run_name(config: RunConfig) -> str:
    model = Path(config.model.model_name_or_path).name.lower()
    model = re.sub(r"[^a-z0-9.]+", "-", model).strip("-")[:40] or "model"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{model}-{config.method.objective}-{config.method.adapter}-{stamp}"


def _plain(value: object) -> object:
    """A status field's value as JSON: the OOM advice is a tuple of dataclasses."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"status.json cannot hold {type(value).__name__}")


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
    try:
        path.mkdir(mode=0o700)  # atomic: of two launches with one name, one creates it
    except FileExistsError:
        raise UserError(
            f"{path}: a run of this name exists already.",
            hint=f"Resume it with `ftwizard resume {name}`, or choose another output.run_name.",
        ) from None
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
