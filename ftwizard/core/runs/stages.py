"""A run in stages: SFT, then DPO from its result, one after another in one run folder.

A preset with ``stages:`` runs each stage in the detached trainer, no viewer needed in
between. Each stage is a whole run folder of its own inside the run's::

    runs/<name>/
      config.yaml, status.json, events.jsonl, trainer.log   the run, as every viewer reads it
      stages/1-sft/      a run folder: its config, status, events, checkpoints/, final/
      stages/2-dpo/      starts from stages/1-sft's result (model.from_run)

What a stage's trainer writes about itself (status, events) is written to the run's own
files too (:class:`StageFolder`), with "stage 2 of 2: dpo" in the phase, so ``runs``,
``attach`` and the dashboard follow the run as they follow any other. A finished stage
stays finished: a later stage that fails or stops leaves it usable, and a resume goes on
with the stage that did not finish. Merge, export, chat and sample of the run work on its
last finished stage (:func:`result_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typing_extensions import Unpack

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import dump_config
from ftwizard.core.errors import UserError
from ftwizard.core.runs.events import Event, StageChange, StatusChange
from ftwizard.core.runs.folder import RunFolder, write_atomic
from ftwizard.core.runs.status import StatusUpdate

STAGES_DIR = "stages"


def stage_configs(config: RunConfig) -> list[RunConfig]:
    """Each stage's own configuration: the run's, with what the stage sets. The first
    starts where the run does; ``model.from_run`` of the later ones is set when they
    start (:func:`stage_folder`), as the stage before has a result only then."""
    base = config.model_copy(update={"stages": []})
    configs = []
    for number, stage in enumerate(config.stages, 1):
        # A stage with data of its own (DPO's pairs after SFT's chats) leaves the run's
        # data.mix behind: those sources are the run's data's kind, not the stage's.
        data = (
            {"path": stage.data, "format": stage.format, "mix": []}
            if stage.data
            else {"path": base.data.path, "format": base.data.format}
        )
        name = f"{config.output.run_name or 'run'}-{number}-{stage.objective}"
        configs.append(
            base.with_sections(
                method={**stage.method, "objective": stage.objective},
                data=data,
                training=stage.training,
                lora=stage.lora,
                evaluation=stage.evaluation,
                checkpointing=stage.checkpointing,
                output={"run_name": name},
            )
        )
    return configs


def check_stages(config: RunConfig) -> list[RunConfig]:
    """The stages' configurations, or a UserError for what a staged run cannot do."""
    if not config.stages:
        return []
    if config.distributed.num_machines > 1:
        raise UserError(
            "A run in stages runs on one machine for now.",
            hint="Run each stage as its own run: ftwizard --preset STAGE.yaml --from RUN.",
        )
    return stage_configs(config)


@dataclass(frozen=True)
class StageFolder(RunFolder):
    """One stage's run folder. What its trainer writes about itself goes to the run's
    files as well, so a viewer of the run follows the stage."""

    run: RunFolder | None = None
    number: int = 1
    count: int = 1
    objective: str = ""
    """Its configuration's objective, known where the folder is made: the label goes
    with every status write, which must not read config.yaml each time."""

    @property
    def label(self) -> str:
        return f"stage {self.number} of {self.count}: {self.objective}"

    @property
    def last(self) -> bool:
        return self.number == self.count

    def write_status(self, **fields: Unpack[StatusUpdate]) -> None:
        super().write_status(**fields)
        if self.run is None:
            return
        forwarded: StatusUpdate = {**fields, "stage": self.label}
        if forwarded.get("state") == "finished":
            # Said before the run's status can read finished: a viewer that stops
            # there has every event.
            self.run.append_event(stage_change(self, "finished"))
        if not self.last and forwarded.get("state") == "finished":
            # The run goes on with the next stage: only the last one finishes it.
            forwarded["state"], forwarded["finished_at"] = "running", None
        if "phase" in forwarded:
            phase = forwarded["phase"]
            forwarded["phase"] = f"{self.label}, {phase}" if phase else self.label
        self.run.write_status(**forwarded)

    def append_event(self, event: Event) -> None:
        super().append_event(event)
        if self.run is None:
            return
        if isinstance(event, StatusChange) and event.state == "finished" and not self.last:
            return  # the run's own StageChange says it
        self.run.append_event(event)


def stages_dir(run: RunFolder) -> Path:
    return run.path / STAGES_DIR


def stage_path(run: RunFolder, number: int, objective: str) -> Path:
    return stages_dir(run) / f"{number}-{objective}"


def stage_folder(run: RunFolder, number: int) -> StageFolder:
    """Stage ``number`` of ``run`` (from 1), its folder made when it first starts, with
    the stage before as its start."""
    configs = stage_configs(run.read_config())
    config = configs[number - 1]
    path = stage_path(run, number, config.method.objective)
    objective = config.method.objective
    folder = StageFolder(path, run=run, number=number, count=len(configs), objective=objective)
    if not folder.config_path.exists():
        if number > 1:
            before = stage_path(run, number - 1, configs[number - 2].method.objective)
            config = config.with_sections(model={"from_run": str(before.resolve())})
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        (path / "checkpoints").mkdir(mode=0o700, exist_ok=True)
        write_atomic(folder.config_path, dump_config(config))
        RunFolder(path).write_status(state="starting", step=0)
    return folder


def started_stages(run: RunFolder) -> list[StageFolder]:
    """The stages of ``run`` that have started, in order."""
    configs = stage_configs(run.read_config())
    found = []
    for number, config in enumerate(configs, 1):
        objective = config.method.objective
        path = stage_path(run, number, objective)
        if (path / "config.yaml").exists():
            found.append(StageFolder(path, run, number, len(configs), objective))
    return found


def finished(folder: RunFolder) -> bool:
    return folder.read_status().state == "finished" and folder.final_dir.is_dir()


def result_of(run: RunFolder) -> RunFolder:
    """The run whose model ``run`` stands for: itself, or for a run in stages its last
    finished stage (a later one that failed leaves the earlier results usable)."""
    if not run.config_path.exists() or not run.read_config().stages:
        return run
    done = [stage for stage in started_stages(run) if finished(stage)]
    if not done:
        raise UserError(
            f"{run.name} has no finished stage yet (state: {run.read_status().state}).",
            hint=f"Follow it with `ftwizard attach {run.name}`.",
        )
    return RunFolder(done[-1].path)


def evaluated(run: RunFolder, stage: int | None) -> RunFolder:
    """What ``eval`` and ``judge`` score: stage ``stage`` of a run in stages (to see what
    each stage did), else the run's result."""
    if stage is None:
        return result_of(run)
    started = {folder.number: folder for folder in started_stages(run)}
    if stage not in started:
        numbers = ", ".join(map(str, started)) or "none"
        raise UserError(
            f"--stage {stage}: {run.name} has no such stage started (started: {numbers}).",
            hint="`ftwizard runs NAME` lists its stages.",
        )
    return RunFolder(started[stage].path)


def stage_change(folder: StageFolder, state: str) -> StageChange:
    config = folder.read_config()
    return StageChange(
        stage=folder.number,
        stages=folder.count,
        objective=folder.objective,
        state=state,
        path=str(folder.path.resolve()),
        from_run=config.model.from_run,
    )


def checkpoints_of(run: RunFolder) -> RunFolder:
    """The run folder whose checkpoints a resume of ``run`` picks from: itself, or for a
    run in stages its first unfinished stage (its last one when all have finished)."""
    stages = started_stages(run) if run.config_path.exists() else []
    if not stages:
        return run
    return next((stage for stage in stages if not finished(stage)), stages[-1])
