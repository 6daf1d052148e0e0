"""Where a training step goes: the trainer's clock, and a real training that reads no
tensor on the host on the steps that do not log."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.runs.events import Log
from tests.test_training import ROOT, TEST_CACHE, make_run


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_clock_splits_a_step_into_its_phases() -> None:
    from ftwizard.trainer.components.step_clock import StepClock

    fake = FakeClock()
    clock = StepClock(now=fake)
    clock.start(0)
    for _ in range(2):  # two steps of two micro-batches each
        with clock.phase("data"):
            fake.t += 0.01
        for _ in range(2):
            with clock.phase("forward_backward"):
                fake.t += 0.1
                with clock.phase("generation"):  # inside the step: taken out of it
                    fake.t += 0.5
        fake.t += 0.03  # clipping and the optimizer
        clock.optimizer_done()
        fake.t += 0.02  # the schedule, zeroing the gradients
        clock.step_done(1)
        with clock.phase("ftwizard"):  # our callbacks: counted in the next step
            fake.t += 0.005
    times = clock.take()
    assert times is not None and times.steps == 2
    assert times.data_s == pytest.approx(0.01)
    assert times.forward_backward_s == pytest.approx(0.2)
    assert times.generation_s == pytest.approx(1.0)
    assert times.optimizer_s == pytest.approx(0.03)
    # The first step has no ftwizard time before it; the second has the first's.
    assert times.ftwizard_s == pytest.approx(0.0025)
    assert times.step_s == pytest.approx((1.26 + 1.265) / 2)
    assert times.other_s == pytest.approx(0.02)
    assert times.device_busy is None  # a CPU: nothing profiled
    assert clock.take() is None  # the window starts again


def test_kernel_time_is_the_union_of_their_intervals() -> None:
    from ftwizard.trainer.components.step_clock import union_length

    rng = random.Random(0)
    for _ in range(200):
        intervals = []
        for _ in range(rng.randint(0, 12)):
            start = rng.randint(0, 90)
            intervals.append((start, start + rng.randint(1, 20)))
        covered = {t for start, stop in intervals for t in range(start, stop)}
        assert union_length(sorted(intervals)) == len(covered)


def test_kernel_time_reads_a_real_profile() -> None:
    """The profiler's raw events as torch gives them; CPU ops stand in for a GPU's
    kernels (the same event type, another device)."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    from ftwizard.trainer.components.step_clock import kernel_seconds

    profiler = profile(activities=[ProfilerActivity.CPU])
    started = time.perf_counter()
    profiler.start()
    matrix = torch.randn(300, 300)
    for _ in range(20):
        matrix = torch.tanh(matrix @ matrix)
    profiler.stop()
    wall = time.perf_counter() - started
    busy = kernel_seconds(profiler, device="CPU")
    assert busy is not None and 0 < busy <= wall
    assert kernel_seconds(profiler) == 0  # no CUDA kernel ran


def test_no_step_reads_a_tensor_on_the_host_unless_it_logs(
    tiny_model: Path, tmp_path: Path
) -> None:
    """On a GPU every host read of a tensor waits for all the queued kernels. The same
    code paths run on the CPU, so a read here is a wait there. Left: the optimizer's
    step counter (a CPU tensor in torch's AdamW, read without a wait) and transformers'
    check that the attention mask has no padding (inside the model, once a forward)."""
    data = ROOT / "data" / "demo" / "wizard-identity.jsonl"
    run = make_run(
        tmp_path,
        tiny_model,
        data,
        "training.max_steps=6",
        "training.logging_steps=3",
        "checkpointing.save_steps=100",
    )
    result = subprocess.run(
        [sys.executable, "-m", "tests.host_reads", str(run.path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**__import__("os").environ, "FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["exit"] == 0
    allowed = ("torch/optim/", "transformers/masking_utils.py")
    waits = [r for r in found["reads"] if not r["logged"] and not r["where"].startswith(allowed)]
    assert waits == []
    logged = [r["where"] for r in found["reads"] if r["logged"]]
    assert any(where.startswith("transformers/trainer.py") for where in logged)  # it counts

    logs = [e for e in run.read_events()[0] if isinstance(e, Log)]
    assert [log.step for log in logs] == [3, 6]
    for log in logs:
        times = log.step_times
        assert times is not None and times.steps == 3
        parts = (
            times.data_s,
            times.forward_backward_s,
            times.optimizer_s,
            times.ftwizard_s,
            times.other_s,
        )
        assert all(part >= 0 for part in parts)
        assert sum(parts) == pytest.approx(times.step_s, rel=0.01)
        assert times.forward_backward_s > times.data_s and times.optimizer_s > 0
        assert times.ftwizard_s > 0  # our callbacks ran, and were counted
