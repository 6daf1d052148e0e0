"""The throughput model (``core/planning/throughput.py``) against measured runs and independent
oracles: the recorded GPU runs of ``bench/data/``, a Monte Carlo draw for the padding,
and the CLI's JSON for scripts."""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import time
from pathlib import Path

import pytest

from bench.throughput_fit import predict, runs
from ftwizard.core.planning.throughput import GPU_CONSTANTS, micro_batch_lengths
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


def test_long_durations_read_in_days() -> None:
    from ftwizard.core.runs.watch import duration
    from ftwizard.core.units import about as _duration

    assert duration(2 * 86400 + 7 * 3600 + 59) == "2d07h"
    assert duration(3 * 3600 + 5 * 60) == "3h05m"
    assert _duration(403.1 * 3600) == "about 17 days"
    assert _duration(5.25 * 3600) == "about 5.2 h"


def test_the_cpu_is_measured_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ftwizard.core.hardware import cpu_speed

    monkeypatch.delenv(cpu_speed.ENV, raising=False)
    monkeypatch.setenv("FTWIZARD_CACHE", str(tmp_path))
    first = cpu_speed.cpu_gflops(2)  # runs trainer/cpu_speed.py: real torch matmuls
    assert first > 1
    kept = json.loads((tmp_path / "cpu_speed.json").read_text())
    assert [entry["gflops"] for entry in kept.values()] == [first]
    settled = {"gflops": 12.5, "measured_at": time.time(), "busy": False}
    (tmp_path / "cpu_speed.json").write_text(json.dumps({k: settled for k in kept}))
    assert cpu_speed.cpu_gflops(2) == 12.5  # read back, not measured again
    # The first format (a plain figure, the load unknown) is measured once more.
    (tmp_path / "cpu_speed.json").write_text(json.dumps({k: 12.5 for k in kept}))
    assert cpu_speed.cpu_gflops(2) > 12.5
    monkeypatch.setenv(cpu_speed.ENV, "77")
    assert cpu_speed.cpu_gflops(2) == 77


def test_a_cpu_figure_taken_on_a_busy_machine_is_measured_again_keeping_the_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from ftwizard.core import trainer_calls
    from ftwizard.core.hardware import cpu_speed

    monkeypatch.delenv(cpu_speed.ENV, raising=False)
    monkeypatch.setenv("FTWIZARD_CACHE", str(tmp_path))
    figures = iter([114.4, 176.8, 150.0])  # busy, busy, quiet (the quiet one is lower)
    measured: list[float] = []

    def measure(module: str, args: list[str], what: str) -> dict[str, object]:
        measured.append(next(figures))
        return {"fp32_gflops": measured[-1], "threads": 2, "torch": "2.13.0"}

    monkeypatch.setattr(trainer_calls, "call_trainer_module", measure)
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(cpu_speed, "time", SimpleNamespace(time=lambda: clock.now))
    busy = SimpleNamespace(now=True)
    monkeypatch.setattr(cpu_speed, "machine_busy", lambda: busy.now)

    assert cpu_speed.cpu_gflops(2) == 114.4
    clock.now += 60
    assert cpu_speed.cpu_gflops(2) == 114.4 and measured == [114.4]  # not every plan
    clock.now += cpu_speed.RETRY_S
    assert cpu_speed.cpu_gflops(2) == 176.8  # busy again: measured again, the best kept
    clock.now += cpu_speed.RETRY_S + 1
    busy.now = False
    assert cpu_speed.cpu_gflops(2) == 176.8  # quiet, lower: load only ever slows it
    clock.now += 10 * cpu_speed.RETRY_S
    assert cpu_speed.cpu_gflops(2) == 176.8 and measured == [114.4, 176.8, 150.0]  # settled
    kept = json.loads((tmp_path / "cpu_speed.json").read_text())
    assert [(e["gflops"], e["busy"]) for e in kept.values()] == [(176.8, False)]


@pytest.mark.slow
def test_the_demo_launch_counts_tokens_for_its_eta(
    demo_model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch tokenises the demo data: SmolLM2's template adds about 38 tokens a row
    that characters / 4 misses (64 tokens a row, not 27), which more than doubles the
    ETA. With a fixed CPU speed, the ETA is the model's for the counted lengths."""
    import re

    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.core.hardware.gpus import Target
    from ftwizard.core.models.source import resolve_model_facts
    from ftwizard.core.planning.dataset_facts import DatasetFacts
    from ftwizard.core.planning.throughput import training_time
    from ftwizard.core.runs.preflight import with_token_counts
    from ftwizard.core.runs.watch import duration
    from tests.conftest import ROOT, TEST_CACHE

    preset = ROOT / "presets" / "demo-cpu.yaml"
    env = {"FTWIZARD_ETA_TOKENS": "tokenizer", "FTWIZARD_CACHE": str(TEST_CACHE)}
    done = run_cli("--preset", str(preset), "--dry-run", env={**NO_GPU, **env})
    assert done.returncode == 0, done.stderr
    shown = re.search(r"ETA (\S+) \(an estimate\)", done.stderr)
    assert shown, done.stderr
    monkeypatch.setenv("FTWIZARD_ETA_TOKENS", "tokenizer")
    config = load_config(preset)
    counted = with_token_counts(config, DatasetFacts(rows=111, tokens_mean=27.0))
    assert counted.source == "tokenizer" and 55 < (counted.tokens_mean or 0) < 75
    cpu = Target("CPU", 0, 20.0, 20.0, False, 0.1, "detected")  # FTWIZARD_CPU_GFLOPS=100
    facts = resolve_model_facts(config.model.model_name_or_path)
    expected = training_time(facts, config, counted, cpu).eta_seconds
    assert shown[1] == duration(expected)


def test_an_8b_plan_on_a_cpu_leads_with_the_time_and_the_ways_out() -> None:
    """It fits in RAM; it takes weeks. The plan says so first, with the cards it fits and
    smaller models that finish within a day, all from the same throughput model."""
    done = run_cli(
        "plan", "--model", "meta-llama/Llama-3.1-8B", "--rows", "5000",
        env={**NO_GPU, "FTWIZARD_CPU_GFLOPS": "146", "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("data:")
    table = next(i for i, line in enumerate(lines) if line.startswith("Recommendation"))
    first = " ".join(" ".join(lines[1:table]).split())  # before any table, unwrapped
    assert re.match(r"This run would take about \d+ days here\. With a GPU it takes on a T4 "
                    r"about [\d.]+ h", first), first  # fmt: skip
    assert "Smaller models that would finish here within a day: " in first
    assert "SmolLM2-135M-Instruct" in first
    data = json.loads(
        run_cli(
            "plan", "--model", "meta-llama/Llama-3.1-8B", "--rows", "5000", "--json",
            env={**NO_GPU, "FTWIZARD_CPU_GFLOPS": "146"},
        ).stdout
    )  # fmt: skip
    warning = data["time_warning"]
    assert warning["eta_here_seconds"] == data["eta_seconds"] > 86_400
    assert all(card["eta_seconds"] * 10 < data["eta_seconds"] for card in warning["cards"])
    assert all(m["eta_seconds"] <= 86_400 for m in warning["smaller_models"])
    small = run_cli(
        "plan", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--rows", "200", "--json",
        env={**NO_GPU, "FTWIZARD_CPU_GFLOPS": "146"},
    )  # fmt: skip
    assert json.loads(small.stdout)["time_warning"] is None  # minutes here: nothing to say
