"""Checkpoints of a run: which are whole, which a resume can continue from exactly.

A checkpoint is judged by its files alone, in every layout the libraries write:
single and sharded safetensors (each shard its index names, each header whole), torch
files, and under FSDP accelerate's ``optimizer.bin`` or its sharded state-dict folders.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.files import load_json, read_small_text, regular_file_problem, shorten
from ftwizard.core.runs.folder import RunFolder

CHECKPOINT = re.compile(r"checkpoint-(\d+)")


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


# Where the weights are, in every layout the libraries write: a peft adapter, one
# safetensors file, an index and its shards (transformers' save_pretrained past
# max_shard_size), and under FSDP accelerate's whole-model .bin or sharded folder.
ADAPTER = "adapter_model.safetensors"
SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
FSDP_FULL = "pytorch_model_fsdp.bin"
FSDP_SHARDED = "pytorch_model_fsdp_0"
WEIGHT_FILES = (ADAPTER, SINGLE, INDEX, FSDP_FULL, FSDP_SHARDED)
# The optimizer: torch.save's optimizer.pt, or accelerate's under FSDP (optimizer.bin
# with a full state dict, the folder optimizer_0 written by torch.distributed.checkpoint
# with a sharded one).
OPTIMIZER_FILES = ("optimizer.pt", "optimizer.bin", "optimizer_0")
SCHEDULER = "scheduler.pt"


def _safetensors_header(path: Path) -> dict[str, object] | str:
    """The header of a whole safetensors file, or why it is not whole: its tensors must
    end exactly where the file does (a cut file ends early)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else size
        if length > size - 8:
            return f"{path.name} is truncated"
        try:
            header = load_json(handle.read(length))
        except (ValueError, UnicodeDecodeError):
            return f"{path.name} is not a safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return f"{path.name} is not a safetensors file"
    ends = [
        entry["data_offsets"][1]
        for entry in header.values()
        if isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
    ]
    if not all(isinstance(end, int) for end in ends) or 8 + length + max(ends, default=0) != size:
        return f"{path.name} is truncated"
    return header


def _file_problem(path: Path) -> str | None:
    """Why a file a resume reads is unusable: not a file, empty, or cut short (a copy or
    a disk that failed; ftwizard's own saves are renamed into place only when whole)."""
    problem = regular_file_problem(path)
    if problem is not None:
        return f"{path.name} {problem}"
    if path.stat().st_size == 0:
        return f"{path.name} is empty (truncated)"
    if path.suffix == ".safetensors":
        header = _safetensors_header(path)
        return header if isinstance(header, str) else None
    if path.suffix in (".pt", ".pth", ".bin") and not zipfile.is_zipfile(path):
        return f"{path.name} is truncated (not a whole torch file)"
    return None


def _shards_problem(index: Path) -> str | None:
    """Every shard the index names is here and whole, and holds the tensors it says."""
    problem = _file_problem(index)
    if problem is not None:
        return problem
    try:
        weight_map = load_json(index.read_text(encoding="utf-8")).get("weight_map")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return f"{index.name} is not a shard index"
    if not isinstance(weight_map, dict) or not weight_map:
        return f"{index.name} names no shards"
    by_shard: dict[str, set[str]] = {}
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str) or Path(shard).name != shard:
            return f"{index.name} names a shard outside its folder ({shorten(shard)})"
        by_shard.setdefault(shard, set()).add(tensor)
    for shard, tensors in sorted(by_shard.items()):
        path = index.parent / shard
        if not path.exists():
            return f"{shard} is missing (named by {index.name})"
        problem = _file_problem(path)
        if problem is not None:
            return problem
        header = _safetensors_header(path)
        absent = sorted(tensors - set(header) if isinstance(header, dict) else tensors)
        if absent:
            return f"{shard} lacks {absent[0]}, which {index.name} puts there"
    return None


def _dcp_problem(folder: Path) -> str | None:
    """A torch.distributed.checkpoint folder: its .metadata and data files, none empty.
    (The metadata is pickled, so it is not read; its size is all that is checked.)"""
    files = [p for p in folder.iterdir() if p.is_file()]
    if not any(p.name == ".metadata" for p in files):
        return f"{folder.name}/.metadata is missing"
    if not any(p.suffix == ".distcp" for p in files):
        return f"{folder.name} holds no .distcp data file"
    empty = next((p for p in files if p.stat().st_size == 0), None)
    return None if empty is None else f"{folder.name}/{empty.name} is empty (truncated)"


def _part_problem(path: Path) -> str | None:
    if path.is_dir():
        return _dcp_problem(path)
    if path.name == INDEX:
        return _shards_problem(path)
    return _file_problem(path)


def weights_problem(folder: Path) -> str | None:
    """Why the weights in ``folder`` (a checkpoint, or a run's ``final/``) cannot be
    loaded; None when every file they need is here and whole."""
    found = [folder / name for name in WEIGHT_FILES if (folder / name).exists()]
    if not found:
        return "no weights file"
    problem = next(filter(None, map(_part_problem, found)), None)
    if (
        problem is None
        and (folder / ADAPTER).exists()
        and not (folder / "adapter_config.json").exists()
    ):
        return "adapter_config.json is missing"
    return problem


def resume_problem(folder: Path) -> str | None:
    """Why training cannot continue exactly from ``folder`` (the weights may still be
    usable): the optimizer, the scheduler and every rank's RNG state must be whole."""
    optimizer = next((folder / n for n in OPTIMIZER_FILES if (folder / n).exists()), None)
    if optimizer is None:
        return f"{OPTIMIZER_FILES[0]} is missing"
    problem = _part_problem(optimizer)
    if problem is None and not (folder / SCHEDULER).exists():
        problem = f"{SCHEDULER} is missing"
    problem = problem or _file_problem(folder / SCHEDULER)
    rng_states = sorted(p for p in folder.iterdir() if p.name.startswith("rng_state"))
    if not rng_states:
        return problem or "no rng_state file"
    return problem or next(filter(None, map(_file_problem, rng_states)), None)


def _logged_loss(path: Path) -> tuple[float | None, str | None]:
    """The last training loss trainer_state.json logged, or why it cannot be read."""
    name = "trainer_state.json"
    problem = regular_file_problem(path / name)
    if problem is not None:
        return None, f"{name} is missing" if problem == "no such file" else f"{name} {problem}"
    try:
        state = load_json(read_small_text(path / name, "a trainer state", limit=64 << 20))
    except (UserError, json.JSONDecodeError):
        return None, f"{name} is unreadable"
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        return None, f"{name} is damaged (no log history)"
    logged = [h["loss"] for h in history if isinstance(h, dict) and "loss" in h]
    last = logged[-1] if logged else None
    return (float(last) if isinstance(last, (int, float)) else None), None


def _inspect(path: Path, step: int) -> Checkpoint:
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    loss, problem = _logged_loss(path)  # the problem: why the weights cannot be used
    problem = problem or weights_problem(path)
    waiting = resume_problem(path)
    return Checkpoint(
        path,
        step,
        problem is None,
        problem is None and waiting is None,
        loss,
        path.stat().st_mtime,
        size,
        problem or waiting,
    )


def list_checkpoints(run: RunFolder) -> list[Checkpoint]:
    """Every checkpoint folder, oldest first, marked complete/resumable/incomplete."""
    if not run.checkpoints_dir.is_dir():
        return []
    found = []
    for path in run.checkpoints_dir.iterdir():
        match = CHECKPOINT.fullmatch(path.name)
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
