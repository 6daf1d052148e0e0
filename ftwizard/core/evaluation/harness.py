"""What it forgot: lm-evaluation-harness tasks on the base and the fine-tuned model, on
the same device, offline when the machine is.

``ftwizard_facts`` ships with ftwizard (40 general-knowledge questions, four choices
each; ``presets/data/general-facts.jsonl``), so a forgetting check needs no download.
Other tasks read the datasets cache, or a folder of task YAML files (``include_path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ftwizard.core.config.presets import BUILTIN_DIR
from ftwizard.core.errors import UserError
from ftwizard.core.evaluation.messages import HarnessReply, HarnessRequest, Progress
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.model_card import refresh_card
from ftwizard.core.runs.scores import HarnessReport, read_harness, save_harness
from ftwizard.core.trainer_calls import stream_trainer_module

BUILTIN_TASKS = {"ftwizard_facts": str(BUILTIN_DIR / "data" / "general-facts.jsonl")}


def task_names(text: str) -> list[str]:
    """``--tasks a,b`` as names, each once, in order."""
    names = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not names:
        raise UserError(
            f"--tasks {text!r}: no task named.", hint="e.g. --tasks ftwizard_facts,arc_easy"
        )
    return names


def check_forgetting(
    run: RunFolder,
    tasks: list[str],
    on_progress: Callable[[Progress], None],
    limit: int | None = None,
    include_path: str | None = None,
) -> HarnessReport:
    """Each task's score before and after, with its standard error; kept as
    ``harness.json`` and in the card."""
    run.require_text_model()
    request = HarnessRequest(
        run=str(run.path),
        tasks=tasks,
        limit=limit,
        include_path=include_path,
        builtin_tasks={name: path for name, path in BUILTIN_TASKS.items() if name in tasks},
    )
    reply = HarnessReply.model_validate(
        stream_trainer_module(
            "evaluate",
            ["harness"],
            "lm-evaluation-harness",
            request.model_dump_json(),
            lambda line: on_progress(Progress.model_validate_json(line)),
        )
    )
    report = HarnessReport(
        scores=reply.scores, limit=limit, device=reply.device, created=time.time()
    )
    save_harness(run, report)
    refresh_card(run)
    return report


def mix_advice(report: HarnessReport, data_path: str) -> str | None:
    """What to do when a task dropped by more than its noise: mix general data back in."""
    dropped = [t for t in report.scores if t.forgot]
    if not dropped:
        return None
    names = ", ".join(f"{t.task} {t.base:.3f}→{t.tuned:.3f}" for t in dropped)
    return (
        f"It forgot: {names} dropped by more than the noise. Mix general data back in "
        f"beside {data_path}, e.g. --set 'data.mix=[{{path: general-chat.jsonl, weight: 0.2}}]' "
        "(20 % of the training rows), and train again."
    )


def forgetting_advice(run: RunFolder) -> str | None:
    """``mix_advice`` for a run's last ``eval --tasks``, if it had one (the done screen
    says it where the next run is started)."""
    try:
        report = read_harness(run)
    except UserError:
        return None
    return None if report is None else mix_advice(report, run.read_config().data.path)
