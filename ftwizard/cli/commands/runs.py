"""``ftwizard runs | attach | stop | resume``: runs after they start."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import err, out, print_json
from ftwizard.cli.follow import follow
from ftwizard.core.errors import UserError
from ftwizard.core.runs.checkpoints import list_checkpoints
from ftwizard.core.runs.folder import ACTIVE, RunFolder, find_run, list_runs
from ftwizard.core.runs.launch import join, stop
from ftwizard.core.runs.machines import Machines, parse_machines
from ftwizard.core.runs.resume import plan_resume, start_resume
from ftwizard.core.runs.watch import duration
from ftwizard.core.units import gib
from ftwizard.views.runs import CHECKPOINT_COLUMNS, checkpoint_cells


def _size(run: RunFolder) -> int:
    return sum(p.stat().st_size for p in run.path.rglob("*") if p.is_file())


def _run_row(run: RunFolder) -> dict[str, Any]:
    status = run.read_status()
    return {
        "name": run.name,
        "state": status.get("state"),
        "step": status.get("step"),
        "max_steps": status.get("max_steps"),
        "last_loss": status.get("last_loss"),
        "age_s": round(time.time() - run.config_path.stat().st_mtime),
        "size_bytes": _size(run),
        "path": str(run.path),
        **({"damage": status["damage"]} if "damage" in status else {}),
    }


def list_command(root: str, as_json: bool) -> int:
    rows = [_run_row(run) for run in list_runs(root)]
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        out.print(f"No runs under {root}/ yet. Start one with `ftwizard --preset NAME`.")
        return 0
    table = Table("run", "state", "progress", "last loss", "age", "size")
    for row in rows:
        progress = f"{row['step'] or 0}/{row['max_steps'] or '?'}"
        loss = "n/a" if row["last_loss"] is None else f"{row['last_loss']:.4f}"
        table.add_row(
            row["name"],
            str(row["state"]),
            progress,
            loss,
            duration(row["age_s"]) + " ago",
            gib(row["size_bytes"], 2),
        )
    out.print(table)
    for row in rows:
        if "damage" in row:
            out.print(f"damaged: {row['damage']}", style="red", soft_wrap=True)
    return 0


def show_command(name: str, root: str, as_json: bool) -> int:
    run = find_run(name, root)
    checkpoints = list_checkpoints(run)
    rows = [
        {
            "step": c.step,
            "loss": c.loss,
            "time": c.time,
            "size_bytes": c.size_bytes,
            "kind": c.kind,
            "resumable": c.resumable,
            "problem": c.problem,
            "path": str(c.path),
        }
        for c in checkpoints
    ]
    if as_json:
        print_json({**_run_row(run), "checkpoints": rows})
        return 0
    status = run.read_status()
    out.print(
        Text.assemble(
            (run.name, "bold"),
            f"  {status.get('state')}",
            f"  step {status.get('step')}/{status.get('max_steps')}",
        )
    )
    if status.get("error"):
        out.print(f"error: {status['error']}", style="red")
    if status.get("damage"):
        out.print(f"damaged: {status['damage']}", style="red", soft_wrap=True)
    table = Table(*CHECKPOINT_COLUMNS)
    for c in checkpoints:
        table.add_row(*checkpoint_cells(c))
    out.print(table if checkpoints else "no checkpoints yet")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    run = find_run(args.name, args.root)
    machines = parse_machines(args.nodes, args.node_rank, args.master)
    if machines is not None and not machines.first:
        return _join_resume(args, run, machines)
    overrides = list(args.overrides)
    if machines is not None:
        overrides.append(machines.override)
    plan = plan_resume(run, overrides, args.checkpoint, args.apply_oom_advice)
    for warning in plan.warnings:
        err.print(f"warning: {warning}")
    if plan.advice:
        out.print(f"applying: {plan.advice}")
    for key, (before, after) in plan.changes.items():
        out.print(f"  {key}: {before!r} -> {after!r}")
    start_resume(plan, allow_changes=args.allow_changes, machines=machines)
    err.print(f"resuming {run.name} from step {plan.checkpoint.step}")
    if machines is not None:
        err.print(
            f"  Resume the other machines with the same command and --node-rank "
            f"{machines.others}; this one waits for them."
        )
    if args.detach:
        return 0
    return follow(run)


def _join_resume(args: argparse.Namespace, run: RunFolder, machines: Machines) -> int:
    """Machines 1..K-1 join machine 0's resume: it chose the checkpoint and the settings."""
    if args.overrides or args.checkpoint is not None or args.apply_oom_advice:
        raise UserError(
            "--set, --checkpoint and --apply-oom-advice go to machine 0's resume only "
            f"(this is machine {machines.rank}).",
            hint="Give them to machine 0; the others join with --nodes, --node-rank and --master.",
        )
    with err.status(f"Waiting for machine 0 to resume {run.name}..."):
        join(run.path, machines)
    err.print(f"machine {machines.rank} joined the resume of {run.name}")
    if args.detach:
        return 0
    return follow(run)


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "runs":
        if args.name:
            return show_command(args.name, args.root, args.json)
        return list_command(args.root, args.json)
    if args.command == "attach":
        run = find_run(args.name, args.root)
        state = run.read_status().get("state")
        if state not in ACTIVE:
            out.print(f"{run.name} is {state}; showing its last events.")
        return follow(run)
    if args.command == "stop":
        run = find_run(args.name, args.root)
        state = stop(run, wait_s=0 if args.no_wait else 600)
        out.print(f"{run.name}: {state}")
        return 0
    return resume_command(args)
