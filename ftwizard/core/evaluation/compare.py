"""``ftwizard compare``: what several runs measured, side by side, from their folders."""

from __future__ import annotations

from dataclasses import dataclass, field

from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.scores import EvalReport, TaskScore, read_eval, read_harness
from ftwizard.core.runs.series import Point
from ftwizard.core.runs.watch import RunWatch


@dataclass(frozen=True)
class RunSummary:
    name: str
    state: str
    objective: str
    adapter: str
    learning_rate: float
    steps: int
    final_loss: float | None
    final_eval_loss: float | None
    evaluation: EvalReport | None
    tasks: list[TaskScore]
    train_loss: list[Point] = field(default_factory=list)
    eval_loss: list[Point] = field(default_factory=list)
    problem: str | None = None
    """Why a score file could not be read."""


def summarise(run: RunFolder) -> RunSummary:
    config = run.read_config()
    status = run.read_status()
    watch = RunWatch(run)
    watch.poll()
    problem = None
    try:
        evaluation, harness = read_eval(run), read_harness(run)
    except UserError as error:
        evaluation, harness, problem = None, None, error.message
    return RunSummary(
        name=run.name,
        state=status.state,
        objective=config.method.objective,
        adapter=config.method.adapter,
        learning_rate=config.training.learning_rate,
        steps=status.step,
        final_loss=status.final_loss if status.final_loss is not None else status.last_loss,
        final_eval_loss=status.final_eval_loss,
        evaluation=evaluation,
        tasks=harness.scores if harness else [],
        train_loss=watch.train_loss.points(),
        eval_loss=watch.eval_loss.points(),
        problem=problem,
    )


def compare_runs(runs: list[RunFolder]) -> list[RunSummary]:
    if len(runs) < 2:
        raise UserError("compare needs two runs or more.", hint="e.g. ftwizard compare RUN1 RUN2")
    return [summarise(run) for run in runs]
