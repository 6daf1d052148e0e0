"""`ftwizard estimate` and `ftwizard plan` as a person and a script use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEST_DATA, run_cli
from tests.test_cli import assert_clean_failure

NO_GPU = {"FTWIZARD_FAKE_GPUS": ""}
ONE_4090 = {"FTWIZARD_FAKE_GPUS": "NVIDIA GeForce RTX 4090:24:8.9"}


def estimate_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = run_cli("estimate", *args, "--json", env=env or NO_GPU)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_estimate_json_contract_for_a_catalog_model_offline() -> None:
    data = estimate_json("--model", "meta-llama/Llama-3.1-8B", "--method", "qlora")
    for key in ("params", "trainable_params", "peak_allocated_gb", "device_total_gb", "breakdown"):
        assert key in data
    assert data["params"] == 8_030_261_248
    assert set(data["breakdown"]) >= {
        "weights",
        "adapter",
        "gradients",
        "optimizer",
        "activations",
        "logits",
        "cuda_overhead",
    }
    assert "fits" not in data  # no GPU here: no verdict


def test_estimate_gives_a_verdict_against_the_detected_gpu() -> None:
    data = estimate_json(
        "--model", "meta-llama/Llama-3.1-8B", "--method", "qlora", "--batch-size", "1", env=ONE_4090
    )
    assert data["fits"] is True and data["headroom_gb"] > 0
    big = estimate_json("--model", "meta-llama/Llama-3.1-8B", "--method", "full", env=ONE_4090)
    assert big["fits"] is False and big["headroom_gb"] < 0


def test_estimate_flags_change_the_estimate() -> None:
    base = estimate_json("--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "lora")
    longer = estimate_json(
        "--model",
        "Qwen/Qwen2.5-7B-Instruct",
        "--method",
        "lora",
        "--max-length",
        "4096",
        "--no-gradient-checkpointing",
        "--lora-r",
        "64",
        "--lora-target-modules",
        "q_proj,v_proj",
        "--optim",
        "adamw_8bit",
        "--precision",
        "bf16",
        "--attn",
        "sdpa",
    )
    assert longer["breakdown"]["activations"] > base["breakdown"]["activations"]


def test_estimate_for_a_table_gpu_and_a_size() -> None:
    data = estimate_json("--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--gpu", "T4")
    assert data["gpu"]["name"] == "T4" and data["verdict"] == "fits"
    sized = estimate_json("--model", "meta-llama/Llama-3.1-70B-Instruct", "--vram-gb", "48")
    assert sized["verdict"] == "does not fit"


def test_estimate_from_a_preset_with_set() -> None:
    data = estimate_json("--preset", "qlora-8gb", "--set", "training.max_length=512")
    assert data["model"] == "Qwen/Qwen2.5-7B-Instruct" and data["method"] == "qlora"


def test_estimate_for_a_gguf_file() -> None:
    from ftwizard.core.models.builtin import BUILTIN_MODELS

    gguf = str(BUILTIN_MODELS["smollm2-135m-instruct"].gguf_path())
    assert estimate_json("--model", gguf)["params"] == 134_515_008


@pytest.mark.slow
def test_estimate_for_the_demo_model_folder(demo_model_folder: Path) -> None:
    data = estimate_json("--model", str(demo_model_folder))
    assert data["params"] == 134_515_008


def test_estimate_table_output() -> None:
    result = run_cli(
        "estimate",
        "--model",
        "meta-llama/Llama-3.1-8B",
        "--gpu",
        "RTX 4090",
        "--method",
        "qlora",
        "--batch-size",
        "1",
        env=NO_GPU,
    )
    assert result.returncode == 0
    for words in ("base weights", "activations", "logits and loss", "card total", "FITS"):
        assert words in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "nobody/unknown-model"], "not in the local Hugging Face cache"),
        (["--model", "meta-llama/Llama-3.1-8B", "--batch-size", "0"], "--batch-size 0"),
        (["--model", "meta-llama/Llama-3.1-8B", "--optim", "adam_fast"], "--optim adam_fast"),
        (
            ["--model", "meta-llama/Llama-3.1-8B", "--lora-target-modules", "c_attn"],
            "not a linear layer",
        ),
        (["--model", "meta-llama/Llama-3.1-8B", "--gpu", "GTX 1080"], "Unknown GPU"),
        (["--model", "meta-llama/Llama-3.1-8B", "--vram-gb", "0"], "--vram-gb 0"),
        (["--model", "meta-llama/Llama-3.1-8B", "--gpus", "4"], "visible GPU"),
    ],
    ids=[
        "unknown-model",
        "batch-0",
        "unknown-optimizer",
        "bad-targets",
        "unknown-gpu",
        "zero-vram",
        "too-many-gpus",
    ],
)
def test_estimate_bad_input(args: list[str], expected: str) -> None:
    assert_clean_failure(run_cli("estimate", *args, env=ONE_4090), expected)


def test_estimate_folder_without_config_and_corrupt_gguf(tmp_path: Path) -> None:
    assert_clean_failure(run_cli("estimate", "--model", str(tmp_path)), "no config.json")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 20)
    assert_clean_failure(run_cli("estimate", "--model", str(bad)), "not a readable GGUF file")


def test_plan_json_and_reasons() -> None:
    result = run_cli(
        "plan",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--rows",
        "5000",
        "--purpose",
        "prototype",
        "--gpu",
        "RTX 4090",
        "--json",
        env=NO_GPU,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["config"]["method"]["adapter"] == "qlora"  # prototype: least resources
    assert {m["method"] for m in data["methods"]} == {"full", "lora", "qlora"}
    assert data["eta_seconds"] > 0 and data["eta_is_estimate"]
    assert all(d["reason"] for d in data["decisions"])


def test_plan_saves_a_preset_that_runs_unchanged(tmp_path: Path) -> None:
    preset = tmp_path / "planned.yaml"
    result = run_cli(
        "plan",
        "--model",
        "Qwen/Qwen2.5-7B-Instruct",
        "--rows",
        "800",
        "--data-kind",
        "preference",
        "--gpu",
        "A100 80GB",
        "--save-preset",
        str(preset),
        env=NO_GPU,
    )
    assert result.returncode == 0, result.stderr
    assert "Recommendation" in result.stdout and "Every method" in result.stdout
    saved = yaml.safe_load(preset.read_text())
    assert saved["method"]["objective"] == "dpo"
    dry = run_cli("--preset", str(preset), "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout) == saved


def test_plan_which_gpu_lists_the_smallest_cards() -> None:
    result = run_cli(
        "plan",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--rows",
        "5000",
        "--gpu",
        "T4",
        "--which-gpu",
        "--json",
        env=NO_GPU,
    )
    cards = json.loads(result.stdout)["which_gpu"]
    assert cards["qlora"] and cards["full"] and "T4" not in cards["full"]


def test_plan_bad_input() -> None:
    assert_clean_failure(
        run_cli("plan", "--model", "meta-llama/Llama-3.1-8B", "--rows", "0", env=NO_GPU), "--rows 0"
    )
    assert_clean_failure(run_cli("plan", "--model", "x/y", "--rows", "10", env=NO_GPU), "not found")
    assert_clean_failure(
        run_cli(
            "plan",
            "--model",
            "meta-llama/Llama-3.1-8B",
            "--rows",
            "10",
            "--purpose",
            "fun",
            env=NO_GPU,
        ),
        "invalid choice",
    )


def test_models_catalog_and_show() -> None:
    catalog = json.loads(run_cli("models", "catalog", "--json").stdout)
    assert len(catalog) >= 30
    shown = run_cli("models", "show", "google/gemma-2-2b-it")
    assert shown.returncode == 0 and "256,000" in shown.stdout


def test_plan_from_a_dataset_file_without_its_tokenizer() -> None:
    path = TEST_DATA / "dpo_en_demo.json"
    result = run_cli(
        "plan",
        "--model",
        "Qwen/Qwen2.5-7B-Instruct",
        "--data",
        str(path),
        "--gpu",
        "L4",
        "--json",
        env=NO_GPU,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["data"]["rows"] == 40 and data["data"]["kind"] == "preference"
    assert "characters / 4" in data["data"]["source"]
    assert data["config"]["method"]["objective"] == "dpo"
    assert data["config"]["data"]["path"] == str(path)


@pytest.mark.slow
def test_plan_from_a_dataset_with_the_real_tokenizer(demo_model_folder: Path) -> None:
    from tests.conftest import TEST_CACHE

    path = TEST_DATA / "identity.json"
    result = run_cli(
        "plan",
        "--model",
        "smollm2-135m-instruct",
        "--data",
        str(path),
        "--json",
        env={**NO_GPU, "FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["data"]["source"] == "tokenizer" and data["data"]["tokens_p95"] > 0
    assert data["config"]["training"]["max_length"] == 256  # the data's p95, rounded up to 128


def test_plan_refuses_a_dataset_with_invalid_rows() -> None:
    bad = Path(__file__).parent / "data_bad" / "number_output.jsonl"
    assert_clean_failure(
        run_cli("plan", "--model", "Qwen/Qwen2.5-7B-Instruct", "--data", str(bad), env=NO_GPU),
        "1 invalid rows",
    )
