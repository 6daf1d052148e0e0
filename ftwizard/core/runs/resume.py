"""Resuming a stopped or failed run: which checkpoint, which changes are safe, and the launch.

``ftwizard resume`` and the wizard's resume picker both go through
:func:`plan_resume` (what would happen) and :func:`start_resume` (do it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import Override, dump_config, with_overrides
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.probe import probe
from ftwizard.core.runs.checkpoints import Checkpoint, latest_resumable, list_checkpoints
from ftwizard.core.runs.events import ConfigChanged, WarningNote
from ftwizard.core.runs.folder import RunFolder, write_atomic
from ftwizard.core.runs.launch import launch
from ftwizard.core.runs.machines import Machines, check_machines
from ftwizard.core.runs.preflight import prepare_launch, record_plan
from ftwizard.core.runs.stages import finished, started_stages

# Keys a resume may change without breaking the data order or the schedule's meaning.
SAFE_TO_CHANGE = {
    "training.num_train_epochs",
    "training.max_steps",
    "training.logging_steps",
    "checkpointing.save_steps",
    "checkpointing.save_total_limit",
    "evaluation.eval_steps",
    "output.report_to",
    "distributed.launcher",
}
# DDP checkpoints hold one full copy of the weights and optimizer: any number of
# processes can continue them (the effective batch follows the new count).
SAFE_WITH_DDP = {"distributed.num_processes", "distributed.num_machines"}
WHY_UNSAFE = {
    "distributed.num_processes": "ftwizard resumes an FSDP run only with the number of "
    "processes it was saved with (its checkpoint is written for that sharding)",
    "distributed.num_machines": "an FSDP run resumes only on as many machines as it was "
    "saved on (the same world size: its checkpoint is written for that sharding)",
    "distributed.strategy": "DDP and FSDP checkpoints are saved differently",
}
# What out-of-memory advice may change: memory, not what is learned.
OOM_KEYS = {
    "training.per_device_train_batch_size",
    "training.gradient_accumulation_steps",
    "training.gradient_checkpointing",
    "training.max_length",
    "method.adapter",
}
MORE_TRAINING = ("training.num_train_epochs", "training.max_steps")

Changes = dict[str, tuple[Any, Any]]


def config_diff(old: RunConfig, new: RunConfig) -> Changes:
    """``{"section.key": (before, after)}`` for every setting that differs."""
    changes: Changes = {}
    before, after = old.to_dict(), new.to_dict()
    for section, values in after.items():
        if isinstance(values, dict):
            for key, value in values.items():
                if before[section].get(key) != value:
                    changes[f"{section}.{key}"] = (before[section].get(key), value)
        elif before.get(section) != values:
            changes[section] = (before.get(section), values)
    return changes


@dataclass
class ResumePlan:
    run: RunFolder
    checkpoint: Checkpoint | None
    """None: a stage of a run in stages that had no checkpoint yet starts again."""
    config: RunConfig
    """The configuration the resumed trainer will run."""
    changes: Changes = field(default_factory=dict)
    unsafe: list[str] = field(default_factory=list)
    """Changed keys that a resume cannot take (a new run can)."""
    advice: str | None = None
    """The out-of-memory advice applied, in words."""
    skipped: list[Checkpoint] = field(default_factory=list)
    """Newer checkpoints passed over because they are damaged or incomplete."""

    stage: str | None = None
    """The stage of a run in stages that goes on, in words."""

    @property
    def where(self) -> str:
        """Where the run goes on from, in words: "step 200", "stage 2 of 2: dpo, step 2"."""
        step = f"step {self.checkpoint.step}" if self.checkpoint else "its start"
        return f"{self.stage}, {step}" if self.stage else step

    @property
    def warnings(self) -> list[str]:
        chosen = f"checkpoint-{self.checkpoint.step}" if self.checkpoint else self.where
        if self.stage and self.checkpoint:
            chosen = f"{chosen} of {self.stage}"
        return [
            f"checkpoint-{c.step} skipped ({c.problem or c.kind}); resuming from {chosen}"
            for c in self.skipped
        ]


def plan_resume(
    run: RunFolder,
    overrides: list[Override] | None = None,
    checkpoint_step: int | None = None,
    apply_oom_advice: bool = False,
) -> ResumePlan:
    """What a resume of ``run`` would do; a UserError when it cannot resume at all."""
    status = run.read_status()
    if status.active:
        raise UserError(
            f"{run.name} is still {status.state}.",
            hint=f"Follow it with `ftwizard attach {run.name}`.",
        )
    if run.read_config().stages:
        return _stage_resume(run, overrides, checkpoint_step, apply_oom_advice)
    overrides = list(overrides or [])
    asks_for_more = any(isinstance(o, str) and o.split("=")[0] in MORE_TRAINING for o in overrides)
    if status.state == "finished" and not asks_for_more:
        raise UserError(
            f"{run.name} has finished.",
            hint="To train longer: --set training.num_train_epochs=N --allow-changes",
        )
    checkpoints = list_checkpoints(run)  # each is inspected file by file: list once
    checkpoint = latest_resumable(run, checkpoint_step, checkpoints)
    # Left out of an automatic choice, the newer ones are damaged or incomplete.
    skipped = (
        [] if checkpoint_step is not None else [c for c in checkpoints if c.step > checkpoint.step]
    )
    config = run.read_config()
    allowed = set(SAFE_TO_CHANGE)
    advice_text = None
    if apply_oom_advice:
        if not status.advice:
            raise UserError(f"{run.name} has no out-of-memory advice to apply.")
        first = status.advice[0]
        overrides += [("(the out-of-memory advice)", item) for item in first.overrides]
        allowed |= OOM_KEYS
        advice_text = first.text
    changed = with_overrides(config, overrides, "--set")
    if config.distributed.strategy == "ddp" and changed.distributed.strategy == "ddp":
        allowed |= SAFE_WITH_DDP
    changes = config_diff(config, changed)
    unsafe = sorted(set(changes) - allowed)
    return ResumePlan(run, checkpoint, changed, changes, unsafe, advice_text, skipped)


def _stage_resume(
    run: RunFolder,
    overrides: list[Override] | None,
    checkpoint_step: int | None,
    apply_oom_advice: bool,
) -> ResumePlan:
    """A run in stages goes on with its first unfinished stage, from that stage's newest
    resumable checkpoint (or from its start when it has none); finished stages stay."""
    if overrides or apply_oom_advice:
        raise UserError(
            f"{run.name} runs in stages: it resumes as it is, without changes.",
            hint="Change a stage by starting it as a run of its own: "
            "ftwizard --preset STAGE.yaml --from THE_STAGE_BEFORE.",
        )
    stages = started_stages(run)
    current = next((s for s in stages if not finished(s)), None)
    if current is None:
        raise UserError(f"{run.name} has finished: every stage has its result.")
    checkpoints = list_checkpoints(current)
    checkpoint = None
    if checkpoint_step is not None or any(c.resumable for c in checkpoints):
        checkpoint = latest_resumable(current, checkpoint_step, checkpoints)
    newer = [c for c in checkpoints if checkpoint and c.step > checkpoint.step]
    skipped = newer if checkpoint_step is None else []
    return ResumePlan(run, checkpoint, run.read_config(), skipped=skipped, stage=current.label)


def start_resume(
    plan: ResumePlan, allow_changes: bool = False, machines: Machines | None = None
) -> int:
    """Record the changes and start the trainer from the checkpoint (machine 0's part,
    with ``machines``); returns its pid."""
    check_machines(plan.config, machines)
    if plan.unsafe:
        why = "; ".join(WHY_UNSAFE[key] for key in plan.unsafe if key in WHY_UNSAFE)
        raise UserError(
            f"These settings cannot change on resume: {', '.join(plan.unsafe)}"
            + (f" ({why})." if why else "."),
            hint="Start a new run with them instead.",
        )
    if plan.changes and not (allow_changes or plan.advice):
        raise UserError(
            "The configuration would change: "
            + ", ".join(f"{key} {a!r} -> {b!r}" for key, (a, b) in plan.changes.items()),
            hint="Add --allow-changes to resume with it.",
        )
    run = plan.run
    # The launch's checks and figures, as for a new run: the data may have moved since.
    figures = prepare_launch(plan.config, probe(runs_root=run.path.parent))
    if plan.changes:
        write_atomic(run.config_path, dump_config(plan.config))
        run.append_event(ConfigChanged(changes={k: list(v) for k, v in plan.changes.items()}))
    for warning in plan.warnings:
        run.append_event(WarningNote(message=warning))
    run.write_status(
        state="starting", error=None, oom=None, advice=None, stopped_at=None, finished_at=None
    )
    record_plan(run, figures.summary)
    resume = None if plan.checkpoint is None else plan.checkpoint.path
    return launch(run, resume=resume, machines=machines)
