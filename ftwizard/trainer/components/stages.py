"""Running a run in stages in the one detached trainer process (``core/runs/stages.py``).

``python -m ftwizard.trainer.run RUN_DIR`` comes here when the run's configuration has
``stages:``. Each stage trains in this process through ``run.train``, in its own run
folder; a finished stage is passed over, so a resume goes on with the stage that did not
finish (from its newest resumable checkpoint, or from its start when it has none). The
run ends as its stages do: stopped or failed at the stage that stopped or failed, its
earlier results kept; finished when the last one finishes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.runs.checkpoints import latest_resumable
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.stages import (
    StageFolder,
    finished,
    stage_change,
    stage_configs,
    stage_folder,
)


def _resume_point(stage: StageFolder, asked: str | None) -> str | None:
    """The checkpoint a stage goes on from: the one asked for when it is this stage's,
    else its newest resumable one; None to start the stage from its beginning."""
    if asked and Path(asked).resolve().is_relative_to(stage.path.resolve()):
        return asked
    try:
        return str(latest_resumable(stage).path)
    except UserError:  # no checkpoint yet: the stage starts again
        return None


def run_stages(
    run: RunFolder,
    resume: str | None,
    run_guarded: Callable[[RunFolder, str | None], int],
    acquire_lock: Callable[[RunFolder], None],
) -> int:
    """Train every stage not finished yet, in order; the exit code of the last one run.

    ``run_guarded`` and ``acquire_lock`` are the trainer's own (``trainer/run.py``),
    passed in: run as ``python -m``, that module is ``__main__``, and importing it again
    would give a second copy, with a lock list of its own."""
    count = len(stage_configs(run.read_config()))
    code = 0
    for number in range(1, count + 1):
        stage = stage_folder(run, number)
        if finished(stage):
            continue
        run.append_event(stage_change(stage, "starting"))
        code = run_guarded(stage, _resume_point(stage, resume))
        gc.collect()  # the stage's model and trainer, before the next one loads
        _empty_cuda_cache()
        if code != 0:
            return code
        if number < count:
            acquire_lock(run)  # a stage's ending let it go; the run goes on
    return code


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
