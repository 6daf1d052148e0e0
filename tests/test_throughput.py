"""The throughput model (``core/throughput.py``) against measured runs and independent
oracles: the recorded GPU runs of ``bench/data/``, a Monte Carlo draw for the padding,
and the CLI's JSON for scripts."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from bench.throughput_fit import predict, runs
from ftwizard.core.throughput import GPU_CONSTANTS, micro_batch_lengths
from tests.conftest import run_cli

NO_GPU = {"FTWIZARD_FAKE_GPUS": ""}


def test_the_shipped_constants_predict_the_measured_gpu_runs() -> None:
    """33 runs on an H200 and an H100, 135M to 8B, LoRA / QLoRA / full, 512 to 65,536
    tokens a micro-batch: the constants were fitted on them (leave-one-out: median 4.9%,
    worst 43%, bench/throughput_fit.py --fit), so they must still describe them."""
    measured = runs()
    assert len(measured) >= 30
    errors = [abs(predict(run, GPU_CONSTANTS) / run["measured"] - 1) for run in measured]
    assert statistics.median(errors) <= 0.10
    assert max(errors) <= 0.35


@pytest.mark.parametrize("batch", [2, 4, 16, 64])
def test_the_padded_length_is_the_longest_of_a_micro_batch(batch: int) -> None:
    """Oracle: draw micro-batches from the log-normal with the dataset's mean and p95 and
    average their longest example."""
    mean, p95, cap = 300.0, 900.0, 4096
    lengths = micro_batch_lengths(batch, cap, mean, p95, packing=False)
    ratio = math.log(p95 / mean)
    sigma = 1.645 - math.sqrt(1.645**2 - 2 * ratio)
    mu = math.log(mean) - sigma**2 / 2
    rng = random.Random(0)
    sample = [rng.lognormvariate(mu, sigma) for _ in range(100_000)]
    assert statistics.fmean(sample) == pytest.approx(mean, rel=0.02)  # the fit is right
    assert sorted(sample)[int(0.95 * len(sample))] == pytest.approx(p95, rel=0.03)
    longest = statistics.fmean(
        max(sample[i : i + batch]) for i in range(0, len(sample) - batch, batch)
    )
    assert lengths.padded == pytest.approx(min(longest, cap), rel=0.05)
    assert lengths.real == mean


def test_packing_and_missing_statistics_mean_full_sequences() -> None:
    assert micro_batch_lengths(8, 2048, 300, 900, packing=True).padded == 2048
    full = micro_batch_lengths(8, 2048, None, None, packing=False)
    assert (full.padded, full.real) == (2048, 2048)
    capped = micro_batch_lengths(64, 512, 300, 5000, packing=False)
    assert capped.padded == pytest.approx(512, rel=0.01)  # cut at max_length


def test_estimate_and_plan_json_give_the_speed() -> None:
    args = ["--model", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "--gpu", "H200", "--json"]
    full = json.loads(
        run_cli("estimate", *args, "--method", "lora", "--batch-size", "4", env=NO_GPU).stdout
    )
    short = json.loads(
        run_cli(
            "estimate", *args, "--method", "lora", "--batch-size", "4",
            "--tokens-per-example", "256", env=NO_GPU,
        ).stdout
    )  # fmt: skip
    assert full["seconds_per_step"] > short["seconds_per_step"] > 0
    assert full["tokens_per_second"] > 0 and "peak_allocated_gb" in full  # old keys stay
    plan = run_cli("plan", "--rows", "5000", *args, env=NO_GPU)
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert data["eta_seconds"] == pytest.approx(data["steps"] * data["seconds_per_step"], rel=0.01)
    assert data["tokens_per_second"] > 0
