"""The detached trainer: ``python -m ftwizard.trainer.run RUN_DIR [--resume CHECKPOINT]``.

Started by ``ftwizard --preset`` (or the TUI) in its own session, with stdin closed
and its output in the run's ``trainer.log``. It reports only through the run
folder: ``status.json``, ``events.jsonl``, checkpoints and ``final/``.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder
from ftwizard.trainer.ranks import check_same_launch, rank, run_for_this_rank

log = logging.getLogger("ftwizard.trainer")
EXIT_FINISHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


class LockHeld(Exception):
    pass


def acquire_lock(run: RunFolder) -> None:
    """One trainer per run: the lock holds the writer's pid; a dead writer's lock is stale."""
    import psutil

    try:
        fd = os.open(run.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            holder = int(run.lock_path.read_text().strip() or 0)
        except (OSError, ValueError):
            holder = 0
        if holder and psutil.pid_exists(holder) and holder != os.getpid():
            raise LockHeld(f"another trainer (pid {holder}) is writing this run") from None
        run.append_event(
            "status",
            state="starting",
            note=f"cleared a stale lock left by pid {holder or 'unknown'}",
        )
        run.lock_path.unlink(missing_ok=True)
        fd = os.open(run.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))


def release_lock(run: RunFolder) -> None:
    try:
        if run.lock_path.read_text().strip() == str(os.getpid()):
            run.lock_path.unlink()
    except OSError:
        pass


def end(run: RunFolder, **status: Any) -> None:
    """Write the final status, releasing the lock first: a viewer that sees "stopped" may
    resume at once, and the new trainer must not find this exiting one's lock."""
    release_lock(run)
    run.write_status(**status)


def disk_full_message(run: RunFolder, error: BaseException) -> str | None:
    """A full disk in words: where, what survived, what to do; None for other errors."""
    if not (isinstance(error, OSError) and error.errno == errno.ENOSPC):
        return None
    from ftwizard.core.runs.folder import list_checkpoints

    saved = [c for c in list_checkpoints(run) if c.resumable]
    kept = (
        f"checkpoint-{saved[-1].step} is intact; `ftwizard resume {run.name}` continues from it"
        if saved
        else "no checkpoint was complete yet"
    )
    return (
        f"the disk is full (no space left on device) while writing {error.filename or 'a file'}; "
        f"{kept} once space is freed under {run.path.parent}."
    )


def _is_oom(error: BaseException) -> bool:
    import torch

    return (
        isinstance(error, (torch.OutOfMemoryError, MemoryError))
        or "out of memory" in str(error).lower()
    )


def _oom_advice(run: RunFolder) -> list[dict[str, Any]]:
    from ftwizard.core.models.source import resolve_model_facts
    from ftwizard.core.planning.oom import oom_advice

    config = run.read_config()
    try:
        facts = resolve_model_facts(config.model.model_name_or_path, config.model.revision)
    except UserError:
        return []
    return [a.to_dict() for a in oom_advice(facts, config)]


def hardware_words() -> str:
    """What trained, for the model card: "1 x NVIDIA H100 80GB HBM3" or "CPU (2 cores)"."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores)"


def write_model_card(run: RunFolder) -> None:
    """``final/README.md`` in the Hub's layout, replacing the template peft leaves there."""
    from ftwizard.core.runs.model_card import model_card

    (run.final_dir / "README.md").write_text(model_card(run), encoding="utf-8")


def train(run: RunFolder, resume: str | None) -> int:
    """Load, train, evaluate and save; the status says how it ended."""
    early_stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: early_stop.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    config = run.read_config()
    if config.distributed.num_machines > 1:
        check_same_launch(run)  # before minutes of loading on a machine that is wrong
    host = socket.gethostname()
    run.write_status(state="starting", pid=os.getpid(), host=host, phase="loading model")
    run.append_event("status", state="starting", phase="loading model", resume_from=resume)
    from ftwizard.trainer.build import build_trainer
    from ftwizard.trainer.callbacks import EventsCallback, StopOnSignal, memory_figures
    from ftwizard.trainer.data import prepare
    from ftwizard.trainer.loading import load_model, load_tokenizer, lora_config

    tokenizer = load_tokenizer(config)
    data = prepare(config, tokenizer)
    run.append_event(
        "data",
        rows_train=len(data.train),
        rows_eval=0 if data.eval is None else len(data.eval),
        skipped_invalid=data.report.rows_invalid,
        format=data.report.detection.format,
        loss=data.loss_mode,
        masks=data.masked_by,
        loss_token_share=data.loss_token_share,
        unmaskable=data.unmaskable or None,
    )
    if data.unmaskable:
        left = data.unmaskable
        validation = (
            f", and {left['validation']} of the validation file" if left["validation"] else ""
        )
        run.append_event(
            "warning",
            message=f"{left['count']} conversation(s) left out{validation}: their assistant "
            f"turns cannot be located ({left['reason']}); examples "
            f"{', '.join(map(str, left['examples']))} (see one with ftwizard data --example N)",
        )
    model = load_model(config)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    stopper = StopOnSignal(run)
    if early_stop:
        end(run, state="stopped", phase=None, stopped_at=time.time())
        run.append_event("status", state="stopped", reason="stopped before the first step")
        return EXIT_STOPPED
    trainer = build_trainer(
        config, run, model, tokenizer, lora_config(config), data, [EventsCallback(run), stopper]
    )
    run.write_status(phase="training")
    try:
        trainer.train(resume_from_checkpoint=resume)
    except Exception as error:
        if not _is_oom(error):
            raise
        step = trainer.state.global_step
        advice = _oom_advice(run)
        run.append_event(
            "error",
            kind="oom",
            step=step,
            message=str(error)[:500],
            advice=advice,
            **memory_figures(),
        )
        end(
            run,
            state="failed",
            error=f"out of memory at step {step}",
            oom=True,
            advice=advice,
            finished_at=time.time(),
        )
        return EXIT_FAILED

    if stopper.requested:
        end(
            run, state="stopped", phase=None, step=trainer.state.global_step, stopped_at=time.time()
        )
        run.append_event(
            "status",
            state="stopped",
            step=trainer.state.global_step,
            reason="stopped by the user; a resumable checkpoint was saved",
        )
        return EXIT_STOPPED

    final_eval = None
    if data.eval is not None:
        step = trainer.state.global_step
        done = [
            h["eval_loss"]
            for h in trainer.state.log_history
            if "eval_loss" in h and h.get("step") == step
        ]
        if done:  # the schedule evaluated at the last step already
            final_eval = done[-1]
        else:
            run.write_status(phase="evaluating")
            final_eval = trainer.evaluate().get("eval_loss")  # an event via the callback
    run.write_status(phase="saving")
    trainer.save_model(str(run.final_dir))  # every rank: FSDP gathers the shards to save
    if rank() == 0:
        tokenizer.save_pretrained(str(run.final_dir))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    final = {
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
    end(run, state="finished", phase=None, **final)
    run.append_event(
        "status", state="finished", step=trainer.state.global_step, output=str(run.final_dir)
    )
    return EXIT_FINISHED


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
    except LockHeld as held:
        print(f"refused: {held}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        code = train(run, args.resume)
        # torchrun ends every other process when one exits non-zero: only rank 0 tells
        # how the run ended, after its final status is written.
        return code if rank() == 0 else 0
    except UserError as error:
        run.append_event("error", kind="input", message=str(error))
        end(run, state="failed", error=str(error), finished_at=time.time())
        return EXIT_BAD_INPUT
    except BaseException as error:  # noqa: BLE001 - every ending is recorded for the viewers
        disk_full = disk_full_message(run, error)
        message = disk_full or f"{type(error).__name__}: {error}"
        run.append_event(
            "error",
            kind="disk_full" if disk_full else type(error).__name__,
            message=message[:2000],
            traceback=traceback.format_exc()[-4000:],
        )
        end(run, state="failed", error=message[:500], finished_at=time.time())
        traceback.print_exc()
        return EXIT_FAILED
    finally:
        release_lock(run)


if __name__ == "__main__":
    sys.exit(main())
