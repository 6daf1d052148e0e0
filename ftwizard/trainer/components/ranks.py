"""Which process this is when torchrun or accelerate start several, and what each may write.

Every rank trains; only rank 0 writes the run folder's status, events and final
files, so viewers see one run. Other ranks log to ``logs/rank-N.log``. Decisions
that must be the same everywhere (stop now, save now) are agreed with one
all-reduce per step, whichever rank received the signal.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, TypeVar

from ftwizard.core.runs.events import Event, Failure
from ftwizard.core.runs.folder import RunFolder


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


@dataclass(frozen=True)
class ReadOnlyRun(RunFolder):
    """The run folder as a rank other than 0 sees it: it reads, and writes only its own
    failure (when one rank fails, torchrun ends the others, rank 0 included)."""

    def write_status(self, **fields: Any) -> None:
        if fields.get("state") == "failed":
            super().write_status(**fields)

    def append_event(self, event: Event) -> None:
        if isinstance(event, Failure):
            super().append_event(event.model_copy(update={"rank": rank()}))


def run_for_this_rank(run: RunFolder) -> RunFolder:
    """Rank 0 writes the run; the others get a read-only view and their own log file."""
    if rank() == 0:
        return run
    logs = run.path / "logs"
    logs.mkdir(exist_ok=True)
    log = open(logs / f"rank-{rank()}.log", "ab", buffering=0)  # noqa: SIM115 - for the process
    os.dup2(log.fileno(), sys.stdout.fileno())
    os.dup2(log.fileno(), sys.stderr.fileno())
    return ReadOnlyRun(run.path)


def agree(flags: list[bool], device: Any) -> list[bool]:
    """Each flag true on every rank if it is true on any (one all-reduce)."""
    import torch
    import torch.distributed as dist

    if world_size() < 2 or not dist.is_available() or not dist.is_initialized():
        return flags
    tensor = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


Value = TypeVar("Value")


def gather(value: Value) -> list[Value]:
    """``value`` from every rank, in rank order (only one when not distributed)."""
    import torch.distributed as dist

    if world_size() < 2 or not dist.is_available() or not dist.is_initialized():
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return [v for v in values if isinstance(v, type(value))]


@dataclass(frozen=True)
class LaunchIdentity:
    """What each process says of itself when the processes of a launch meet."""

    rank: int
    host: str
    launch: str
    """The launch id its launcher passed."""
    config: str
    """The configuration hash its launcher passed."""
    read: str
    """The hash of the config.yaml this process reads."""


def check_same_launch(run: RunFolder) -> None:
    """On several machines: every process runs the same launch of the same configuration.

    Called first thing, so a wrong machine is refused before any model loads. Each
    launcher passed its launch id and configuration hash; each process adds the hash of
    the ``config.yaml`` it reads. A machine whose run folder is not the shared one
    (a local disk with an older run of the same name) differs in the launch id.
    """
    import socket
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from ftwizard.core.errors import UserError
    from ftwizard.core.runs.machines import config_sha

    if not dist.is_initialized():
        # accelerate and the Trainer use this group rather than making their own.
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank())
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    mine = LaunchIdentity(
        rank=rank(),
        host=socket.gethostname(),
        launch=os.environ.get("FTWIZARD_LAUNCH_ID", ""),
        config=os.environ.get("FTWIZARD_CONFIG_SHA", ""),
        read=config_sha(run.read_config()),
    )
    everyone = gather(mine)
    first = everyone[0]
    for other in everyone:
        where = f"rank {other.rank} (host {other.host})"
        if other.launch != first.launch:
            raise UserError(
                f"{where} joined another launch of {run.name} than rank 0 (host "
                f"{first.host}): it reads a different run folder of the same name.",
                hint="output.runs_root must be storage every machine sees (NFS, Lustre...), "
                "the same path on each.",
            )
        if len({other.config, other.read, first.config}) != 1:
            raise UserError(
                f"{where} runs another configuration of {run.name} than rank 0 (host "
                f"{first.host}).",
                hint="Start every machine with the same preset and --set values.",
            )
