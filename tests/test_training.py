"""Real training through the detached trainer: every objective and method, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.runs.checkpoints import list_checkpoints
from ftwizard.core.runs.folder import RunFolder, create_run
from tests.conftest import ROOT, TEST_CACHE, TEST_DATA, run_cli

pytestmark = pytest.mark.slow
DEMO_DATA = ROOT / "data" / "demo" / "wizard-identity.jsonl"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def preference_rows() -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"Pick a colour, case {i}."}],
            "chosen": [{"role": "assistant", "content": "Blue, calm and clear."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        }
        for i in range(8)
    ]


def kto_rows() -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"Say hello {i}"},
                {"role": "assistant", "content": "Hello!" if i % 2 else "Go away."},
            ],
            "label": bool(i % 2),
        }
        for i in range(8)
    ]


def text_rows() -> list[dict]:
    return [
        {"text": f"Document {i}: fine-tuning adapts a pretrained model to new data. " * 3}
        for i in range(8)
    ]


def make_run(tmp_path: Path, model: Path, data: Path, *overrides: str) -> RunFolder:
    config = load_config(
        None,
        [
            f"model.model_name_or_path={model}",
            f"data.path={data}",
            "model.dtype=float32",
            f"output.runs_root={tmp_path / 'runs'}",
            "training.max_steps=2",
            "training.per_device_train_batch_size=2",
            "training.gradient_accumulation_steps=1",
            "training.max_length=64",
            "training.gradient_checkpointing=false",
            "checkpointing.save_steps=2",
            "evaluation.val_size=0",
            *overrides,
        ],
    )
    return create_run(config)


def train(run: RunFolder, *extra: str) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "ftwizard.trainer.run", str(run.path), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:])
    return result.returncode


def events(run: RunFolder, kind: str) -> list[Any]:
    return [e for e in run.read_events()[0] if e.type == kind]


@pytest.mark.parametrize(
    ("objective", "adapter", "rows"),
    [
        ("sft", "lora", None),
        ("sft", "qlora", None),
        ("sft", "full", None),
        ("dpo", "lora", preference_rows),
        ("orpo", "lora", preference_rows),
        ("kto", "lora", kto_rows),
        ("cpt", "lora", text_rows),
    ],
    ids=["sft-lora", "sft-qlora-cpu", "sft-full", "dpo", "orpo", "kto", "cpt"],
)
def test_every_objective_trains_on_a_tiny_model(tmp_path, tiny_model, objective, adapter, rows):
    data = DEMO_DATA if rows is None else write_jsonl(tmp_path / "d.jsonl", rows())
    run = make_run(
        tmp_path, tiny_model, data, f"method.objective={objective}", f"method.adapter={adapter}"
    )
    assert train(run) == 0
    status = run.read_status()
    assert status.state == "finished" and status.step == 2
    logs = events(run, "log")
    assert [e.step for e in logs] == [1, 2]
    assert all(isinstance(e.loss, float) for e in logs)
    weights = "model.safetensors" if adapter == "full" else "adapter_model.safetensors"
    assert (run.final_dir / weights).exists()
    if adapter == "qlora":  # fp32 training keeps an fp32 adapter (trl casts it to bf16)
        from safetensors import safe_open

        with safe_open(run.final_dir / weights, "pt") as saved:
            assert {str(saved.get_tensor(k).dtype) for k in saved.keys()} == {"torch.float32"}
    [checkpoint] = list_checkpoints(run)
    assert checkpoint.step == 2 and checkpoint.resumable
    # Checkpoints were written under staging and renamed into place.
    assert not list(run.staging_dir.glob("checkpoint-*"))
    # ftwizard's model card, not peft's template: a YAML header and the run's figures.
    card = (run.final_dir / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["library_name"] == ("transformers" if adapter == "full" else "peft")
    assert "base_model" not in header  # a local folder is no Hub id
    assert "More Information Needed" not in card
    assert "| steps | 2 |" in card and "CPU (" in card
    assert f'| `method.objective` | "{objective}" |' in card
    # The loss curve beside it, drawn by the trainer as `ftwizard plot` draws it.
    assert "![Training and eval loss by step](training_loss.png)" in card
    assert (run.final_dir / "training_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_model_lora_with_evaluation_and_the_headless_command(tmp_path, demo_model_folder):
    result = run_cli(
        "--preset",
        "demo-cpu",
        "--set",
        "training.max_steps=4",
        "--set",
        "evaluation.eval_steps=2",
        "--set",
        "checkpointing.save_steps=2",
        "--set",
        f"output.runs_root={tmp_path / 'runs'}",
        "--set",
        "output.run_name=demo",
        env={"FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "plan: sft + lora of smollm2-135m-instruct" in result.stderr
    assert "step 4/4" in result.stdout and "finished" in result.stdout
    run = RunFolder(tmp_path / "runs" / "demo")
    evals = events(run, "eval")
    assert [e.step for e in evals] == [2, 4] and evals[-1].perplexity > 1
    status = run.read_status()
    assert status.final_eval_loss == evals[-1].eval_loss
    assert oct(run.path.stat().st_mode & 0o777) == "0o700"
    listed = json.loads(run_cli("runs", "--root", str(tmp_path / "runs"), "--json").stdout)
    assert listed[0]["name"] == "demo" and listed[0]["state"] == "finished"
    shown = json.loads(run_cli("runs", "demo", "--root", str(tmp_path / "runs"), "--json").stdout)
    assert [c["step"] for c in shown["checkpoints"]] == [2, 4]
    assert all(c["kind"] == "resumable" for c in shown["checkpoints"])


def test_sample_and_merge(tmp_path, tiny_model):
    run = make_run(tmp_path, tiny_model, DEMO_DATA)
    assert train(run) == 0
    root = str(tmp_path / "runs")
    sample = run_cli(
        "sample",
        run.name,
        "--root",
        root,
        "--prompt",
        "Who are you?",
        "--max-new-tokens",
        "5",
        "--json",
    )
    assert sample.returncode == 0, sample.stderr
    [row] = json.loads(sample.stdout)
    assert row["prompt"] == "Who are you?" and {"base", "fine_tuned"} <= set(row)
    merged = run_cli("merge", run.name, "--root", root)
    assert merged.returncode == 0, merged.stderr
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(run.path / "merged")
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert (run.path / "merged" / "tokenizer.json").exists()


def test_multi_turn_conversations_train_every_answer(tmp_path, demo_model_folder):
    """SmolLM2's template cannot be marked by trl: the trainer trains every answer with
    ftwizard's masks, and the loss share it reports is the one ``ftwizard data`` shows."""
    shared = TEST_DATA / "glaive_toolcall_en_demo.json"
    rows = [
        {"conversations": r["conversations"]}
        for r in json.loads(shared.read_text())
        if all(t["from"] in ("human", "gpt") for t in r["conversations"])
        and len(r["conversations"]) >= 4
    ]
    data = write_jsonl(tmp_path / "multi.jsonl", rows[:24])
    assert len(rows) >= 24
    run = make_run(tmp_path, demo_model_folder, data, "training.max_length=128")
    assert train(run) == 0
    [event] = events(run, "data")
    assert event.loss == "assistant" and event.masks == "ftwizard"

    def share(*flags: str) -> float:
        result = run_cli("data", str(data), "--model", str(demo_model_folder), "--json", *flags)
        assert result.returncode == 0, result.stderr
        return float(json.loads(result.stdout)["stats"]["loss_token_share"])

    assert event.loss_token_share == share()
    assert event.loss_token_share > share("--train-on", "last_assistant")
