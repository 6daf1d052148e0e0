"""The detached trainer: ``python -m ftwizard.trainer.run RUN_DIR [--resume CHECKPOINT]``.

Started by ``ftwizard --preset`` (or the TUI) in its own session, with stdin closed
and its output in the run's ``trainer.log``. It reports only through the run
folder: ``status.json``, ``events.jsonl``, checkpoints and ``final/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.data.sources import content_sha256
from ftwizard.core.errors import UserError
from ftwizard.core.planning.oom import Advice
from ftwizard.core.runs import lock
from ftwizard.core.runs.ending import LOG_PREFIX, disk_full_message, is_disk_full
from ftwizard.core.runs.events import (
    DataRead,
    Event,
    Failure,
    StatusChange,
    Unmaskable,
    WarningNote,
    source_shares,
)
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.lock import RunLock
from ftwizard.core.runs.status import StatusUpdate, process_started
from ftwizard.trainer.components.ranks import check_same_launch, rank, run_for_this_rank

log = logging.getLogger("ftwizard.trainer")
EXIT_FINISHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


# The run's lock, held while this process trains (core/runs/lock.py).
_LOCK: list[RunLock] = []


def acquire_lock(run: RunFolder) -> None:
    """One trainer per run; a lock its dead holder left is taken over, with a note."""
    held = lock.acquire(run.lock_path)
    _LOCK.append(held)
    if held.taken_from is not None:
        run.append_event(
            StatusChange(state="starting", note=f"cleared a stale lock left by {held.taken_from}")
        )


def release_lock(run: RunFolder) -> None:
    while _LOCK:
        _LOCK.pop().release()


def end(run: RunFolder, **status: Any) -> None:
    """Write the final status, releasing the lock first: a viewer that sees "stopped" may
    resume at once, and the new trainer must not find this exiting one's lock."""
    release_lock(run)
    run.write_status(**status)


def record_failure(run: RunFolder, error: BaseException) -> None:
    """Say how the run failed, in its events and status; on a disk too full for even
    that, as the last line of the trainer's log, where viewers look
    (core/runs/ending.py)."""
    disk_full = is_disk_full(run, error)
    if disk_full:
        shutil.rmtree(run.staging_dir, ignore_errors=True)  # the half-written checkpoint
    message = disk_full_message(run, error) if disk_full else f"{type(error).__name__}: {error}"
    try:
        run.append_event(
            Failure(
                kind="disk_full" if disk_full else type(error).__name__,
                message=message[:2000],
                traceback=traceback.format_exc()[-4000:],
            )
        )
        end(run, state="failed", error=message[:500], finished_at=time.time())
    except OSError:
        release_lock(run)
    _say(f"{LOG_PREFIX}{message[:500]}\n")


def _say(text: str) -> None:
    """Into the trainer's log, if the disk takes it."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except OSError:
        pass


def _is_oom(error: BaseException) -> bool:
    import torch

    return (
        isinstance(error, (torch.OutOfMemoryError, MemoryError))
        or "out of memory" in str(error).lower()
    )


def _oom_advice(run: RunFolder) -> list[Advice]:
    from ftwizard.core.models.source import resolve_model_facts
    from ftwizard.core.planning.oom import oom_advice

    config = run.read_config()
    try:
        facts = resolve_model_facts(config.model.model_name_or_path, config.model.revision)
    except UserError:
        return []
    return oom_advice(facts, config)


def hardware_words() -> str:
    """What trained, for the model card: "1 x NVIDIA H100 80GB HBM3" or "CPU (2 cores)"."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores)"


def write_model_card(run: RunFolder) -> None:
    """``final/README.md`` in the Hub's layout, replacing the template peft leaves there,
    with the loss curve beside it (``final/training_loss.png``, as ``ftwizard plot``
    draws it)."""
    from ftwizard.core.runs.model_card import LOSS_IMAGE, model_card
    from ftwizard.views.figure_file import run_charts, write_figure

    try:
        write_figure(run_charts(run, ("loss",)), run.final_dir / LOSS_IMAGE, run.name)
    except Exception as error:  # noqa: BLE001 - a missing picture, not a failed run
        run.append_event(WarningNote(message=f"the loss curve for the model card: {error}"))
    (run.final_dir / "README.md").write_text(model_card(run), encoding="utf-8")


@dataclass
class Ending:
    """How a run ends: the exit code, the status it leaves and the event that says so.
    Every way out of ``train`` is one of these, written by ``close``."""

    code: int
    status: StatusUpdate
    event: Event


@dataclass
class Job:
    """What ``train`` loaded: the configuration, tokenizer, data, model and trainer."""

    run: RunFolder
    config: RunConfig
    tokenizer: Any
    data: Any
    trainer: Any
    stopper: Any


def close(run: RunFolder, ending: Ending) -> int:
    end(run, **ending.status)
    run.append_event(ending.event)
    return ending.code


def begin(run: RunFolder, resume: str | None) -> RunConfig:
    """Say the trainer is starting, and clear what a killed trainer left half-done."""
    config = run.read_config()
    if config.distributed.num_machines > 1:
        check_same_launch(run)  # before minutes of loading on a machine that is wrong
    pid = os.getpid()
    run.write_status(
        state="starting",
        pid=pid,
        pid_started=process_started(pid),
        host=socket.gethostname(),
        phase="loading model",
    )
    run.append_event(StatusChange(state="starting", phase="loading model", resume_from=resume))
    if rank() == 0:  # a checkpoint half-written when the last trainer died
        shutil.rmtree(run.staging_dir, ignore_errors=True)
    return config


def _data_events(run: RunFolder, config: RunConfig, data: Any) -> None:
    unmaskable = Unmaskable(**data.unmaskable) if data.unmaskable else None
    run.append_event(
        DataRead(
            rows_train=len(data.train),
            rows_eval=0 if data.eval is None else len(data.eval),
            skipped_invalid=data.report.rows_invalid,
            format=data.report.detection.format,
            source_sha256=content_sha256(Path(config.data.path)),
            loss=data.loss_mode,
            masks=data.masked_by,
            loss_token_share=data.loss_token_share,
            unmaskable=unmaskable,
            sources=source_shares(data.mix),
        )
    )
    if unmaskable is None:
        return
    validation = (
        f", and {unmaskable.validation} of the validation file" if unmaskable.validation else ""
    )
    run.append_event(
        WarningNote(
            message=f"{unmaskable.count} conversation(s) left out{validation}: their "
            f"assistant turns cannot be located ({unmaskable.reason}); examples "
            f"{', '.join(map(str, unmaskable.examples))} (see one with ftwizard data "
            "--example N)"
        )
    )


def load(run: RunFolder, config: RunConfig, early_stop: list[bool]) -> Job | Ending:
    """The tokenizer, the data (with its events), the model and the trl trainer; an
    Ending when a stop came during the loading."""
    from ftwizard.trainer.components.build import build_trainer
    from ftwizard.trainer.components.callbacks import EventsCallback, StopOnSignal
    from ftwizard.trainer.components.data import prepare
    from ftwizard.trainer.components.loading import (
        apply_kernels,
        load_model,
        load_tokenizer,
        lora_config,
    )
    from ftwizard.trainer.components.step_clock import ClockCallback, StepClock

    tokenizer = load_tokenizer(config)
    data = prepare(config, tokenizer)
    _data_events(run, config, data)
    model = load_model(config, run.start_dir)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    apply_kernels(model, config)
    stopper = StopOnSignal(run)
    if early_stop:
        return Ending(
            EXIT_STOPPED,
            {"state": "stopped", "phase": None, "stopped_at": time.time()},
            StatusChange(state="stopped", reason="stopped before the first step"),
        )
    clock = StepClock(cuda=_cuda())
    # The clock first: a step ends before the other callbacks' on_step_end, whose time
    # (ftwizard's) goes to the next step, as does its logging.
    events = clock.timed(EventsCallback(run, clock))
    callbacks = [ClockCallback(clock), events, clock.timed(stopper)]
    trainer = build_trainer(
        config, run, model, tokenizer, lora_config(config), data, callbacks, clock
    )
    return Job(run, config, tokenizer, data, trainer, stopper)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def fit(job: Job, resume: str | None) -> Ending | None:
    """Train; an Ending when it ran out of memory or was stopped, None when it ran out."""
    from ftwizard.trainer.components.callbacks import memory_figures

    job.run.write_status(phase="training")
    try:
        job.trainer.train(resume_from_checkpoint=resume)
    except Exception as error:
        if not _is_oom(error):
            raise
        step = job.trainer.state.global_step
        advice = _oom_advice(job.run)
        return Ending(
            EXIT_FAILED,
            {
                "state": "failed",
                "error": f"out of memory at step {step}",
                "oom": True,
                "advice": tuple(advice),
                "finished_at": time.time(),
            },
            Failure(
                kind="oom",
                step=step,
                message=str(error)[:500],
                advice=tuple(advice),
                **memory_figures().model_dump(),
            ),
        )
    if not job.stopper.requested:
        return None
    step = job.trainer.state.global_step
    return Ending(
        EXIT_STOPPED,
        {"state": "stopped", "phase": None, "step": step, "stopped_at": time.time()},
        StatusChange(
            state="stopped",
            step=step,
            reason="stopped by the user; a resumable checkpoint was saved",
        ),
    )


def _final_eval(job: Job) -> float | None:
    """The evaluation loss at the last step: the schedule's, or one more evaluation."""
    if job.data.eval is None:
        return None
    state = job.trainer.state
    done = [
        h["eval_loss"]
        for h in state.log_history
        if "eval_loss" in h and h.get("step") == state.global_step
    ]
    if done:
        return float(done[-1])
    job.run.write_status(phase="evaluating")
    loss = job.trainer.evaluate().get("eval_loss")  # an event via the callback
    return None if loss is None else float(loss)


def save(job: Job) -> Ending:
    """The final evaluation, the model and tokenizer in final/, and its card."""
    run, trainer = job.run, job.trainer
    final_eval = _final_eval(job)
    run.write_status(phase="saving")
    trainer.save_model(str(run.final_dir))  # every rank: FSDP gathers the shards to save
    if rank() == 0:
        job.tokenizer.save_pretrained(str(run.final_dir))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    final: StatusUpdate = {
        "step": trainer.state.global_step,
        "final_loss": losses[-1] if losses else None,
        "final_eval_loss": final_eval,
        "finished_at": time.time(),
        "output": str(run.final_dir),
        "tokens_seen": int(trainer.state.num_input_tokens_seen or 0),
        "hardware": hardware_words(),
    }
    if rank() == 0:
        run.write_status(**final)  # what the card reports, before the run reads finished
        write_model_card(run)
    return Ending(
        EXIT_FINISHED,
        {**final, "state": "finished", "phase": None},
        StatusChange(state="finished", step=trainer.state.global_step, output=str(run.final_dir)),
    )


def train(run: RunFolder, resume: str | None) -> Ending:
    """Load, train, evaluate and save: how the run ended."""
    early_stop: list[bool] = []  # a SIGTERM while loading, before StopOnSignal listens
    signal.signal(signal.SIGTERM, lambda *_: early_stop.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = begin(run, resume)
    job = load(run, config, early_stop)
    if isinstance(job, Ending):
        return job
    return fit(job, resume) or save(job)


def run_guarded(run: RunFolder, resume: str | None) -> int:
    """``train``, every ending recorded in the run folder: a bad input as one message
    (exit 2), anything else with its traceback in the log."""
    try:
        return close(run, train(run, resume))
    except UserError as error:
        failed: StatusUpdate = {"state": "failed", "error": str(error), "finished_at": time.time()}
        return close(run, Ending(EXIT_BAD_INPUT, failed, Failure(kind="input", message=str(error))))
    except BaseException as error:  # noqa: BLE001 - every ending is recorded for the viewers
        _say(traceback.format_exc())
        record_failure(run, error)
        return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftwizard.trainer.run")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", help="checkpoint folder to continue from")
    args = parser.parse_args(argv)
    run = run_for_this_rank(RunFolder(Path(args.run_dir)))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if rank() == 0:  # one lock per run, held by the rank that writes it
            acquire_lock(run)
    except lock.LockHeld as held:
        print(f"refused: {held}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if run.read_config().stages:
            from ftwizard.trainer.components.stages import run_stages

            return run_stages(run, args.resume, run_guarded, acquire_lock)
        code = run_guarded(run, args.resume)
        # torchrun ends every other process when one exits non-zero: only rank 0 tells
        # how the run ended, after its final status is written.
        return code if rank() == 0 else 0
    except BaseException as error:  # noqa: BLE001 - a run in stages, between its stages
        _say(traceback.format_exc())
        record_failure(run, error)
        return EXIT_FAILED
    finally:
        release_lock(run)


if __name__ == "__main__":
    sys.exit(main())
