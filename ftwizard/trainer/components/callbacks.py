"""Trainer callbacks: events and status for viewers, and a clean stop on SIGTERM."""

from __future__ import annotations

import math
import os
import re
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from transformers import TrainerCallback

from ftwizard.core.runs.events import (
    Evaluation,
    Log,
    Memory,
    RankMemory,
    StatusChange,
    TrainBegin,
)
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.status import process_started
from ftwizard.trainer.components.ranks import agree, gather, rank, world_size
from ftwizard.trainer.components.step_clock import StepClock

PROC_STATUS, PROC_CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def ram_peak_gb() -> float:
    """The process's highest RSS since ``reset_ram_peak`` (Linux's VmHWM), or since it
    started where that cannot be read (``ru_maxrss``: bytes on macOS)."""
    try:
        found = re.search(r"^VmHWM:\s+(\d+) kB", PROC_STATUS.read_text(), re.MULTILINE)
    except OSError:
        found = None
    if found is not None:
        return round(int(found.group(1)) * 1024 / 1024**3, 3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak * (1 if sys.platform == "darwin" else 1024) / 1024**3, 3)


def reset_ram_peak() -> None:
    """Start the high-water mark again from the RSS now, so that each logged step says
    the peak since the one before (a step's, or an evaluation's). Where the kernel does
    not allow it, the peaks stay the run's highest so far."""
    try:
        PROC_CLEAR_REFS.write_text("5")
    except OSError:
        pass


def memory_figures() -> Memory:
    """This process's RSS (now and its peak), and on CUDA what torch allocated, reserved
    and peaked at (GiB)."""
    gib = 1024**3
    ram = round(psutil.Process().memory_info().rss / gib, 3)
    if not torch.cuda.is_available():
        return Memory(ram_gb=ram, ram_peak_gb=ram_peak_gb())
    return Memory(
        ram_gb=ram,
        ram_peak_gb=ram_peak_gb(),
        gpu_allocated_gb=round(torch.cuda.memory_allocated() / gib, 3),
        gpu_reserved_gb=round(torch.cuda.memory_reserved() / gib, 3),
        gpu_peak_gb=round(torch.cuda.max_memory_allocated() / gib, 3),
        gpu_utilization=gpu_utilization(),
    )


def gpu_utilization() -> float | None:
    """NVML's utilisation of this process's card (a driver query: no wait on the GPU's
    queue); None where NVML cannot answer."""
    try:
        return float(torch.cuda.utilization())
    except Exception:  # noqa: BLE001 - a missing figure, not a reason to stop training
        return None


def memory_limit_gb() -> float:
    """What the training device holds: this process's GPU, or the machine's RAM."""
    if torch.cuda.is_available():
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    else:
        total = psutil.virtual_memory().total
    return round(total / 1024**3, 2)


# What every Log event carries in its own fields.
LOGGED_APART = ("loss", "learning_rate", "grad_norm", "epoch")
# What the Trainer adds to every evaluation: its timing, not the model's.
EVAL_TIMING = ("loss", "runtime", "samples_per_second", "steps_per_second")


def eval_metrics(logs: dict[str, Any]) -> dict[str, float]:
    """The held-out numbers trl logs beside ``eval_loss``, without the prefix."""
    return {
        key.removeprefix("eval_"): value
        for key, value in objective_metrics(logs).items()
        if key.startswith("eval_") and key.removeprefix("eval_") not in EVAL_TIMING
    }


def objective_metrics(logs: dict[str, Any]) -> dict[str, float]:
    """The numbers trl logs beside the loss, by its names."""
    return {
        key: float(value)
        for key, value in logs.items()
        if key not in LOGGED_APART
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


class EventsCallback(TrainerCallback):  # type: ignore[misc]
    """Writes one event per log, evaluation and phase, and keeps status.json current."""

    def __init__(self, run: RunFolder, clock: StepClock | None = None) -> None:
        self.run = run
        self.clock = clock
        self.started = time.time()
        self.first_step: int | None = None
        self.last_tokens = 0.0
        self.last_time = time.time()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.first_step = state.global_step
        self.started = self.last_time = time.time()
        self.last_tokens = float(getattr(state, "num_input_tokens_seen", 0) or 0)
        self.run.write_status(
            state="running",
            pid=os.getpid(),
            pid_started=process_started(os.getpid()),
            step=state.global_step,
            max_steps=state.max_steps,
            started_at=self.started,
            eta_s=None,  # a resume's ETA starts again from its own steps
            eta_steps=0,
        )
        self.run.append_event(
            TrainBegin(
                step=state.global_step,
                max_steps=state.max_steps,
                epochs=args.num_train_epochs,
                memory_limit_gb=memory_limit_gb(),
                ram_peak_gb=ram_peak_gb(),
            )
        )
        reset_ram_peak()  # the first step's peak is its own, not the loading's

    def _eta(self, state: Any) -> float | None:
        done = state.global_step - (self.first_step or 0)
        if done <= 0:
            return None
        per_step = (time.time() - self.started) / done
        return round(per_step * (state.max_steps - state.global_step), 1)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        logs = dict(logs or {})
        now = time.time()
        if "eval_loss" in logs:
            loss = logs["eval_loss"]
            self.run.append_event(
                Evaluation(
                    step=state.global_step,
                    eval_loss=loss,
                    perplexity=round(math.exp(min(loss, 50)), 3),
                    metrics=eval_metrics(logs),
                    ram_peak_gb=ram_peak_gb(),
                )
            )
            self.run.write_status(last_eval_loss=loss)
            return
        if "loss" not in logs:
            return
        tokens = float(getattr(state, "num_input_tokens_seen", 0) or 0)
        elapsed = max(now - self.last_time, 1e-9)
        tokens_per_s = (tokens - self.last_tokens) / elapsed if tokens else None
        self.last_tokens, self.last_time = tokens, now
        memory = memory_figures()
        reset_ram_peak()
        # Every rank logs at the same steps: one gather gives the memory of each GPU.
        ranks = gather(RankMemory(rank=rank(), **memory.model_dump()))
        speed = None if tokens_per_s is None else round(tokens_per_s, 1)
        self.run.append_event(
            Log(
                step=state.global_step,
                max_steps=state.max_steps,
                epoch=round(state.epoch or 0.0, 4),
                loss=logs["loss"],
                learning_rate=logs.get("learning_rate", 0.0),
                grad_norm=logs.get("grad_norm"),
                tokens_per_s=speed,
                ranks=tuple(ranks) if len(ranks) > 1 else (),
                metrics=objective_metrics(logs),
                step_times=self.clock.take() if self.clock else None,
                **memory.model_dump(),
            )
        )
        self.run.write_status(
            state="running",
            step=state.global_step,
            max_steps=state.max_steps,
            last_loss=logs["loss"],
            eta_s=self._eta(state),
            eta_steps=state.global_step - (self.first_step or 0),
            tokens_per_s=speed,
        )


class StopOnSignal(TrainerCallback):  # type: ignore[misc]
    """SIGTERM asks for a checkpoint at the current step and a clean end.

    A second SIGTERM falls back to the default handler (exit at once); the last
    complete checkpoint stays intact because checkpoints are renamed into place.
    """

    def __init__(self, run: RunFolder) -> None:
        self.run = run
        self.requested = False
        self.save_now = False
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGUSR1, self._on_save)
        # The trainer has its own session; a hang-up elsewhere is not for it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_term(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.run.write_status(state="stopping")
        self.run.append_event(StatusChange(state="stopping", reason="stop requested (SIGTERM)"))

    def _on_save(self, signum: int, frame: Any) -> None:
        self.save_now = True

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        # On several machines `ftwizard stop` cannot signal every process: it leaves a
        # request in the (shared) run folder, which any rank may see first.
        if not self.requested and self.run.requested("stop"):
            self.requested = True
            self.run.write_status(state="stopping")
            self.run.append_event(
                StatusChange(state="stopping", reason="stop requested (through the run folder)")
            )
        if self.run.requested("save"):
            self.save_now = True
        if world_size() > 1 and state.global_step % args.logging_steps:
            # Agreeing reads a tensor back from the GPU, so ranks agree on the steps they
            # log (every rank logs at the same steps); a stop waits at most till then.
            return control
        # Whichever rank got the signal, every rank stops (or saves) at this same step.
        self.requested, self.save_now = agree([self.requested, self.save_now], args.device)
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        elif self.save_now:
            self.save_now = False
            control.should_save = True
            if rank() == 0:
                self.run.clear_request("save")
        return control
