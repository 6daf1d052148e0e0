"""One run on several machines: each machine's part of the launch.

Every machine runs the same command but for its ``--node-rank``::

    ftwizard --preset run.yaml --nodes K --node-rank R --master HOST[:PORT]

- Machine 0 creates the run folder under ``output.runs_root``, which must be storage
  every machine sees (NFS, Lustre, a cloud file system), records its launch in
  ``nodes/0.json`` and starts torchrun, which hosts the c10d rendezvous on HOST:PORT.
- Every other machine waits, for a bounded time, until it sees that launch in the same
  folder; refuses when its own configuration differs from the run's; checks that
  HOST:PORT answers; records ``nodes/R.json`` and starts its torchrun, which joins.
- Once the processes meet, the trainers compare the configuration's hash and the
  launch id (``trainer/components/ranks.check_same_launch``): a machine that read a folder of
  the same name on its own disk is refused there, before any model is loaded.

Stop and "save now" cannot signal a process on another machine: they are requests
written into the run folder (``RunFolder.request``), which every rank reads at each
step end and agrees on.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.runs.events import Record
from ftwizard.core.runs.folder import RunFolder, write_atomic

DEFAULT_PORT = 29500  # torchrun's
WAIT_ENV = "FTWIZARD_NODE_WAIT_S"
DEFAULT_WAIT_S = 300.0
"""How long a machine waits for machine 0 (its run folder, its rendezvous): people
start the machines one after another by hand."""


@dataclass(frozen=True)
class Machines:
    """This machine's place in a run over several: how many, which one, where to meet."""

    count: int
    rank: int
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def first(self) -> bool:
        return self.rank == 0

    @property
    def others(self) -> str:
        """The other machines' ranks in words: "1", "1 and 2", "1 to 7"."""
        last = self.count - 1
        return {1: "1", 2: "1 and 2"}.get(last, f"1 to {last}")

    @property
    def override(self) -> tuple[str, str]:
        """``--nodes K`` as the --set it stands for."""
        return ("--nodes", f"distributed.num_machines={self.count}")

    def flags(self) -> str:
        return f"--nodes {self.count} --node-rank {self.rank} --master {self.endpoint}"


def parse_machines(nodes: int | None, node_rank: int | None, master: str | None) -> Machines | None:
    """The three flags, checked; None when none is given (one machine)."""
    given = {"--nodes": nodes, "--node-rank": node_rank, "--master": master}
    if all(value is None for value in given.values()):
        return None
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise UserError(
            f"{', '.join(missing)} missing: a run on several machines needs --nodes, "
            "--node-rank and --master together.",
            hint="On every machine: --nodes K --node-rank R (0 on the first, then 1..K-1) "
            "--master HOST:PORT (the first machine's address, the same everywhere).",
        )
    assert nodes is not None and node_rank is not None and master is not None
    if not 1 <= nodes <= 64:
        raise UserError(f"--nodes {nodes}: give between 1 and 64 machines.")
    if not 0 <= node_rank < nodes:
        raise UserError(
            f"--node-rank {node_rank} is out of range for --nodes {nodes}.",
            hint=f"Number the machines 0 to {nodes - 1}; 0 is the one --master names.",
        )
    host, port = _parse_master(master)
    return Machines(nodes, node_rank, host, port)


def _parse_master(text: str) -> tuple[str, int]:
    host, port_text = text, ""
    if text.startswith("["):  # [IPv6]:PORT
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise UserError(f"--master {text}: name the first machine, as HOST or HOST:PORT.")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UserError(
            f"--master {text}: the port must be a number from 1 to 65535.",
            hint=f"Leave it out for torchrun's default, {DEFAULT_PORT}.",
        )
    return host, int(port_text)


def check_machines(config: RunConfig, machines: Machines | None) -> None:
    """What a run over several machines needs from its configuration."""
    wanted = config.distributed.num_machines
    if machines is None:
        if wanted > 1:
            raise UserError(
                f"distributed.num_machines is {wanted}: start this run on every machine "
                "with --nodes, --node-rank and --master.",
                hint=f"e.g. --nodes {wanted} --node-rank 0 --master THIS_HOST:{DEFAULT_PORT} "
                "here, --node-rank 1.. on the others.",
            )
        return
    if not config.output.run_name:
        raise UserError(
            "A run on several machines needs output.run_name: every machine must open the "
            "same run folder.",
            hint="Add --set output.run_name=NAME, the same on every machine.",
        )
    # The launcher (torchrun only) is checked with the strategy: planning.distributed.


def config_sha(config: RunConfig) -> str:
    """A hash of the resolved configuration, the same on every machine that agrees."""
    text = json.dumps(config.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def nodes_dir(run: RunFolder) -> Path:
    return run.path / "nodes"


class NodeRecord(Record):
    """``nodes/R.json``: which machine runs machine R's part of which launch."""

    node_rank: int
    nodes: int
    master: str
    host: str
    launch_id: str
    time: float
    pid: int | None = None
    """This machine's torchrun."""
    resume_from: str | None = None
    """The checkpoint the launch resumes (machine 0's choice, followed by the others)."""


def read_node(run: RunFolder, rank: int) -> NodeRecord | None:
    """Machine ``rank``'s record; None while there is none, or while it is being
    written or damaged (the waiting machine reads it again)."""
    try:
        return NodeRecord.read_json((nodes_dir(run) / f"{rank}.json").read_bytes())
    except (OSError, ValidationError):
        return None


def record_node(
    run: RunFolder, machines: Machines, launch_id: str, pid: int, resume_from: str | None
) -> NodeRecord:
    """Write this machine's ``nodes/R.json``."""
    nodes_dir(run).mkdir(mode=0o700, exist_ok=True)
    record = NodeRecord(
        node_rank=machines.rank,
        nodes=machines.count,
        master=machines.endpoint,
        host=socket.gethostname(),
        launch_id=launch_id,
        time=round(time.time(), 3),
        pid=pid,
        resume_from=resume_from,
    )
    write_atomic(nodes_dir(run) / f"{machines.rank}.json", record.model_dump_json(indent=2))
    return record


def new_launch_id() -> str:
    return uuid.uuid4().hex[:16]


def wait_seconds() -> float:
    try:
        return float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S))
    except ValueError:
        return DEFAULT_WAIT_S


def wait_for_first(path: Path, machines: Machines, config: RunConfig | None) -> NodeRecord:
    """Machine 0's newest launch of the run at ``path`` that this machine has not joined.

    Refuses, after the bounded wait, when none appears (machine 0 not started, or the
    folder is not shared), and at once when machine 0 launched with other flags or
    another configuration (``config``: this machine's; None to take the run's).
    """
    deadline = time.monotonic() + wait_seconds()
    run = RunFolder(path)
    while True:
        first = read_node(run, 0) if (path / "config.yaml").exists() else None
        mine = read_node(run, machines.rank)
        if first and not (mine and mine.launch_id == first.launch_id):
            break
        if time.monotonic() > deadline:
            raise UserError(
                f"Machine {machines.rank} sees no new launch of {path} from machine 0 after "
                f"{wait_seconds():.0f} s.",
                hint="Start machine 0 (--node-rank 0) first, or together. The runs root "
                "must be storage every machine sees (NFS, Lustre...): on a local disk each "
                f"machine has its own runs/ folder. Wait longer with {WAIT_ENV}=SECONDS.",
            )
        time.sleep(0.5)
    _same_flags(first, machines)
    if config is not None:
        _same_config(run, config, machines)
    return first


def _same_flags(first: NodeRecord, machines: Machines) -> None:
    if (first.nodes, first.master) != (machines.count, machines.endpoint):
        raise UserError(
            f"Machine 0 started with --nodes {first.nodes} --master "
            f"{first.master}; this machine has {machines.flags()}.",
            hint="Give every machine the same --nodes and --master.",
        )


def _same_config(run: RunFolder, config: RunConfig, machines: Machines) -> None:
    from ftwizard.core.runs.resume import config_diff

    differences = config_diff(run.read_config(), config)
    if differences:
        shown = "; ".join(
            f"{key}: {mine!r} here, {theirs!r} on machine 0"
            for key, (theirs, mine) in list(differences.items())[:4]
        )
        more = f" (and {len(differences) - 4} more)" if len(differences) > 4 else ""
        raise UserError(
            f"Machine {machines.rank}'s configuration differs from the run's: {shown}{more}.",
            hint="Every machine must run the same preset with the same --set values "
            "(and see the same GPUs, which decide the precision).",
        )


def wait_for_rendezvous(machines: Machines) -> None:
    """Refuse, after the bounded wait, when HOST:PORT does not answer from here."""
    deadline = time.monotonic() + wait_seconds()
    while True:
        try:
            with socket.create_connection((machines.host, machines.port), timeout=2.0):
                return
        except OSError as error:
            reason = error.strerror or str(error)
        if time.monotonic() > deadline:
            raise UserError(
                f"Machine {machines.rank} cannot reach the rendezvous at {machines.endpoint} "
                f"after {wait_seconds():.0f} s ({reason}).",
                hint="--master must name machine 0's address as this machine reaches it; "
                "machine 0 must be running its part, and the port open between them "
                "(firewall, security group).",
            )
        time.sleep(1.0)


def node_commands(preset: str, count: int, master: str = "FIRST_MACHINE") -> list[str]:
    """The command to paste on each machine, machine 0 first."""
    endpoint = master if ":" in master else f"{master}:{DEFAULT_PORT}"
    return [
        f"ftwizard --preset {preset} --nodes {count} --node-rank {rank} --master {endpoint}"
        for rank in range(count)
    ]
