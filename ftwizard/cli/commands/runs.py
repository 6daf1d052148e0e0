"""``ftwizard runs | attach | stop | resume``: runs after they start."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import err, out, print_json
from ftwizard.cli.follow import follow
from ftwizard.core.errors import UserError
from ftwizard.core.runs.checkpoints import list_checkpoints
from ftwizard.core.runs.folder import RunFolder, find_run, list_runs
from ftwizard.core.runs.launch import join, stop
from ftwizard.core.runs.machines import Machines, parse_machines
from ftwizard.core.runs.resume import plan_resume, start_resume
from ftwizard.core.runs.scores import score_words
from ftwizard.core.runs.stages import checkpoints_of
from ftwizard.core.runs.status import RunStatus
from ftwizard.core.runs.watch import RunWatch, duration
from ftwizard.core.units import gib
from ftwizard.views.charts import draw
from ftwizard.views.run_charts import ChartOptions, loss_chart, memory_chart
from ftwizard.views.run_status import problem_view, status_view
from ftwizard.views.runs import CHECKPOINT_COLUMNS, checkpoint_cells
from ftwizard.views.step_times import step_time_view


def _size(run: RunFolder) -> int:
    return sum(p.stat().st_size for p in run.path.rglob("*") if p.is_file())


@dataclass(frozen=True)
class RunRow:
    """One run in ``ftwizard runs`` (and its --json)."""

    name: str
    state: str
    step: int
    max_steps: int | None
    last_loss: float | None
    age_s: int
    size_bytes: int
    path: str
    damage: str | None
    stage: str | None
    """The stage under way (or the last one) of a run in stages."""
    score: str
    """Its last ``ftwizard eval``: ROUGE-L base→tuned, or ""."""


def _run_row(run: RunFolder, status: RunStatus) -> RunRow:
    return RunRow(
        name=run.name,
        state=status.state,
        step=status.step,
        max_steps=status.max_steps,
        last_loss=status.last_loss,
        age_s=round(time.time() - run.config_path.stat().st_mtime),
        size_bytes=_size(run),
        path=str(run.path),
        damage=status.damage,
        stage=status.stage,
        score=score_words(run),
    )


def _json_row(row: RunRow) -> dict[str, object]:
    return {k: v for k, v in asdict(row).items() if k not in ("damage", "stage") or v is not None}


def list_command(root: str, as_json: bool) -> int:
    rows = [_run_row(run, run.read_status()) for run in list_runs(root)]
    if as_json:
        print_json([_json_row(row) for row in rows])
        return 0
    if not rows:
        out.print(f"No runs under {root}/ yet. Start one with `ftwizard --preset NAME`.")
        return 0
    table = Table("run", "state", "progress", "last loss", "score", "age", "size")
    for row in rows:
        table.add_row(
            row.name,
            row.state if row.stage is None else f"{row.state}, {row.stage}",
            f"{row.step}/{row.max_steps or '?'}",
            "n/a" if row.last_loss is None else f"{row.last_loss:.4f}",
            row.score or "-",
            duration(row.age_s) + " ago",
            gib(row.size_bytes, 2),
        )
    out.print(table)
    for row in rows:
        if row.damage:
            out.print(f"damaged: {row.damage}", style="red", soft_wrap=True)
    return 0


def show_command(name: str, root: str, as_json: bool) -> int:
    run = find_run(name, root)
    status = run.read_status()
    checkpoints = list_checkpoints(checkpoints_of(run))  # a run in stages: the stage's
    if as_json:
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
        watch = RunWatch(run)
        watch.poll()
        times = watch.last_log.step_times if watch.last_log is not None else None
        print_json(
            {
                **_json_row(_run_row(run, status)),
                "checkpoints": rows,
                "step_times": None if times is None else times.model_dump(),
            }
        )
        return 0
    watch = RunWatch(run)
    watch.poll()
    out.print(Text(run.name, style="bold"))
    out.print(status_view(status, watch))
    width = min(out.width, 100)
    for title, chart, height in (
        ("loss", loss_chart(watch, ChartOptions(width=width)), 12),
        ("memory", memory_chart(watch, status, ChartOptions(width=width)), 8),
    ):
        if chart.has_points:
            out.print(Text(title, style="bold"))
            out.print(draw(chart, width, height))
    if watch.last_log is not None and watch.last_log.step_times is not None:
        out.print(step_time_view(watch.last_log.step_times, watch.last_log.step))
    problem = problem_view(status, str(run.path))
    if problem is not None:
        out.print(problem)
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
    err.print(f"resuming {run.name} from {plan.where}")
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
        status = run.read_status()
        if not status.active:
            out.print(f"{run.name} is {status.state}; showing its last events.")
        return follow(run)
    if args.command == "stop":
        run = find_run(args.name, args.root)
        state = stop(run, wait_s=0 if args.no_wait else 600)
        out.print(f"{run.name}: {state}")
        return 0
    return resume_command(args)
