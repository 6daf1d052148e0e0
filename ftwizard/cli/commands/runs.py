"""``ftwizard runs | attach | stop | resume``: runs after they start."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import err, out, print_json
from ftwizard.cli.follow import duration, follow
from ftwizard.core.config import RunConfig
from ftwizard.core.config_io import Override, dump_config, with_overrides
from ftwizard.core.errors import UserError
from ftwizard.core.launch import launch, stop
from ftwizard.core.runs import (
    ACTIVE,
    RunFolder,
    find_run,
    latest_resumable,
    list_checkpoints,
    list_runs,
    write_atomic,
)
from ftwizard.core.units import gib

# Keys a resume may change without breaking the data order or the schedule's meaning.
SAFE_TO_CHANGE = {
    "training.num_train_epochs",
    "training.max_steps",
    "training.logging_steps",
    "checkpointing.save_steps",
    "checkpointing.save_total_limit",
    "evaluation.eval_steps",
    "output.report_to",
}
# What out-of-memory advice may change: memory, not what is learned.
OOM_KEYS = {
    "training.per_device_train_batch_size",
    "training.gradient_accumulation_steps",
    "training.gradient_checkpointing",
    "training.max_length",
    "method.adapter",
}


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
    table = Table("step", "loss", "saved", "size", "kind")
    for c in checkpoints:
        kind = c.kind + (f" ({c.problem})" if c.problem else "")
        table.add_row(
            str(c.step),
            "n/a" if c.loss is None else f"{c.loss:.4f}",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c.time)),
            gib(c.size_bytes, 3),
            kind,
        )
    out.print(table if checkpoints else "no checkpoints yet")
    return 0


def _diff(old: RunConfig, new: RunConfig) -> dict[str, tuple[Any, Any]]:
    changes = {}
    before, after = old.to_dict(), new.to_dict()
    for section, values in after.items():
        if isinstance(values, dict):
            for key, value in values.items():
                if before[section].get(key) != value:
                    changes[f"{section}.{key}"] = (before[section].get(key), value)
        elif before.get(section) != values:
            changes[section] = (before.get(section), values)
    return changes


def resume_command(args: argparse.Namespace) -> int:
    run = find_run(args.name, args.root)
    status = run.read_status()
    if status.get("state") in ACTIVE:
        raise UserError(
            f"{run.name} is still {status.get('state')}.",
            hint=f"Follow it with `ftwizard attach {run.name}`.",
        )
    asks_for_more = any(
        isinstance(o, str)
        and o.split("=")[0] in ("training.num_train_epochs", "training.max_steps")
        for o in args.overrides
    )
    if status.get("state") == "finished" and not asks_for_more:
        raise UserError(
            f"{run.name} has finished.",
            hint="To train longer: --set training.num_train_epochs=N --allow-changes",
        )
    checkpoint = latest_resumable(run, args.checkpoint)
    config = run.read_config()
    overrides: list[Override] = list(args.overrides)
    allowed = set(SAFE_TO_CHANGE)
    if args.apply_oom_advice:
        advice = status.get("advice") or []
        if not advice:
            raise UserError(f"{run.name} has no out-of-memory advice to apply.")
        overrides += [("(the out-of-memory advice)", item) for item in advice[0]["overrides"]]
        allowed |= OOM_KEYS
        out.print(f"applying: {advice[0]['text']}")
    changed = with_overrides(config, overrides, "--set")
    diff = _diff(config, changed)
    if diff:
        for key, (before, after) in diff.items():
            out.print(f"  {key}: {before!r} -> {after!r}")
        unsafe = sorted(set(diff) - allowed)
        if unsafe:
            raise UserError(
                f"These settings cannot change on resume: {', '.join(unsafe)}.",
                hint="Start a new run with them instead.",
            )
        if not (args.allow_changes or args.apply_oom_advice):
            raise UserError(
                "The configuration would change (above).",
                hint="Add --allow-changes to resume with it.",
            )
        write_atomic(run.config_path, dump_config(changed))
        run.append_event("config_changed", changes={k: list(v) for k, v in diff.items()})
    run.write_status(state="starting", error=None, oom=None, advice=None)
    launch(run, resume=checkpoint.path)
    err.print(f"resuming {run.name} from step {checkpoint.step}")
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
