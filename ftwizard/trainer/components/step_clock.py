"""Where a training step's time goes: data, forward and backward, writing completions
(online RL), the optimizer, ftwizard's callbacks and the rest.

Host perf counters around the Trainer's own phases cost microseconds and read no
tensor, so they run on every step. On a GPU the host only queues kernels, so its
times say where the host spends a step; how busy the GPU was comes from one profiled
step now and then (``PROFILE_AT``, ``PROFILE_EVERY``): the union of its kernels'
intervals over the step's wall time. A Log event carries the mean of the steps since
the previous log (``core.runs.events.StepTimes``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback

from ftwizard.core.runs.events import StepTimes

PHASES = ("data", "forward_backward", "generation", "optimizer", "ftwizard")
# The third step after a (re)start, past the first steps' allocations and warm-ups,
# then every so many steps: a profiled step runs a little slower (CUPTI records every
# kernel), so it is rare.
PROFILE_AT, PROFILE_EVERY = 3, 500


@dataclass
class StepClock:
    """Accumulates each phase's host seconds over the steps since the last log.

    ``current`` holds the step under way; a step's end adds it to ``totals``, the
    finished steps a log reports (what runs after a step's end counts in the next)."""

    cuda: bool = False
    now: Callable[[], float] = time.perf_counter
    current: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    wall: float = 0.0
    steps: int = 0
    step_started: float | None = None
    last_forward_end: float | None = None
    device_busy: float | None = None
    profiled_step: int | None = None
    _stack: list[list[float]] = field(default_factory=list)
    _profiler: Any = None
    _first_step: int | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time ``name``; a phase inside another (generation inside the training step)
        is taken out of the outer one."""
        frame = [self.now(), 0.0]  # start, time of nested phases
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            spent = self.now() - frame[0]
            self.current[name] += spent - frame[1]
            if self._stack:
                self._stack[-1][1] += spent
            if name == "forward_backward":
                self.last_forward_end = self.now()

    def timed(self, callback: Any) -> Any:
        """``callback`` with each of its ``on_*`` methods counted as ftwizard's time."""
        for name in dir(callback):
            method = getattr(callback, name)
            if name.startswith("on_") and callable(method):
                setattr(callback, name, self._counted(method))
        return callback

    def _counted(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self.phase("ftwizard"):
                return method(*args, **kwargs)

        return counted

    # --- step boundaries (called by ClockCallback) ----------------------------------

    def start(self, step: int) -> None:
        self._first_step = step
        self.step_started = self.now()

    def optimizer_done(self) -> None:
        """Clipping and the optimizer's step: from the last backward to here."""
        if self.last_forward_end is not None:
            self.current["optimizer"] += self.now() - self.last_forward_end
            self.last_forward_end = None

    def step_done(self, step: int) -> None:
        now = self.now()
        if self._profiler is not None:
            self._finish_profile(step, now)
            now = self.now()
        if self.step_started is not None:
            self.wall += now - self.step_started
            self.steps += 1
            for name, seconds in self.current.items():
                self.totals[name] += seconds
        self.current = dict.fromkeys(PHASES, 0.0)
        if self._should_profile(step + 1):
            self._start_profile()
        self.step_started = self.now()

    def take(self) -> StepTimes | None:
        """The mean step since the last call, and a fresh window."""
        if self.steps == 0:
            return None
        n = self.steps
        per = {name: total / n for name, total in self.totals.items()}
        step_s = self.wall / n
        times = StepTimes(
            steps=n,
            step_s=round(step_s, 5),
            data_s=round(per["data"], 5),
            forward_backward_s=round(per["forward_backward"], 5),
            generation_s=round(per["generation"], 5),
            optimizer_s=round(per["optimizer"], 5),
            ftwizard_s=round(per["ftwizard"], 5),
            other_s=round(max(step_s - sum(per.values()), 0.0), 5),
            device_busy=self.device_busy,
            profiled_step=self.profiled_step,
        )
        self.totals = dict.fromkeys(PHASES, 0.0)
        self.wall, self.steps = 0.0, 0
        return times

    # --- the profiled step (CUDA) ---------------------------------------------------

    def _should_profile(self, step: int) -> bool:
        if not self.cuda or self._first_step is None:
            return False
        after = step - self._first_step
        return after == PROFILE_AT or (after > PROFILE_AT and step % PROFILE_EVERY == 0)

    def _start_profile(self) -> None:
        import torch
        from torch.profiler import ProfilerActivity, profile

        torch.cuda.synchronize()  # the step starts with an empty queue
        self._profiler = profile(activities=[ProfilerActivity.CUDA])
        self._profiler.start()

    def _finish_profile(self, step: int, now: float) -> None:
        import torch

        torch.cuda.synchronize()  # every kernel of the step has run
        wall = self.now() - (self.step_started or now)
        profiler, self._profiler = self._profiler, None
        profiler.stop()
        busy = kernel_seconds(profiler)
        if busy is not None and wall > 0:
            self.device_busy = round(min(busy / wall, 1.0), 4)
            self.profiled_step = step


def kernel_seconds(profiler: Any, device: str = "CUDA") -> float | None:
    """The time at least one of ``device``'s kernels ran during the profile: the union
    of their intervals (kernels of several streams overlap)."""
    try:
        events = profiler.profiler.kineto_results.events()
    except AttributeError:
        return None
    intervals = sorted(
        (e.start_ns(), e.start_ns() + e.duration_ns())
        for e in events
        if str(e.device_type()).endswith(device) and e.duration_ns() > 0
    )
    return union_length(intervals) / 1e9


def union_length(intervals: list[tuple[int, int]]) -> int:
    """Total length covered by sorted (start, end) intervals."""
    total, end = 0, None
    for start, stop in intervals:
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


class ClockCallback(TrainerCallback):  # type: ignore[misc]
    """Marks the step boundaries; first in the callback list, so a step ends before
    the other callbacks' ``on_step_end``."""

    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.start(state.global_step)

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.optimizer_done()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.step_done(state.global_step)


class TimesSteps:
    """Trainer mixin: the data and the forward/backward phases of every step."""

    ftwizard_clock: StepClock

    def get_batch_samples(self, *args: Any, **kwargs: Any) -> Any:
        with self.ftwizard_clock.phase("data"):
            return super().get_batch_samples(*args, **kwargs)  # type: ignore[misc]

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        with self.ftwizard_clock.phase("forward_backward"):
            return super().training_step(*args, **kwargs)  # type: ignore[misc]


class TimesGeneration:
    """Online RL mixin: writing and scoring completions, apart from the step's training."""

    ftwizard_clock: StepClock

    def _generate_and_score_completions(self, *args: Any, **kwargs: Any) -> Any:
        with self.ftwizard_clock.phase("generation"):
            return super()._generate_and_score_completions(*args, **kwargs)  # type: ignore[misc]
