"""The model card of a finished run (``core/runs/model_card.py``), from a run folder as the
trainer leaves it; the header is read the way the Hub reads it (YAML between --- lines)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.runs.events import DataRead, Launch, TrainBegin
from ftwizard.core.runs.folder import RunFolder, create_run
from ftwizard.core.runs.model_card import model_card, save_decisions


def finished_run(tmp_path: Path, *overrides: str) -> RunFolder:
    config = load_config(None, [f"output.runs_root={tmp_path}", *overrides])
    run = create_run(config)
    now = time.time()
    run.append_event(Launch(pid=1))
    run.append_event(
        DataRead(
            rows_train=90, rows_eval=10, format="alpaca", loss_token_share=0.42, skipped_invalid=3
        )
    )
    run.append_event(TrainBegin(step=0, max_steps=30))
    run.write_status(
        state="finished",
        step=30,
        final_loss=0.5,
        final_eval_loss=0.75,
        finished_at=now + 125,
        tokens_seen=12_345,
        hardware="1 x NVIDIA L4",
    )
    return run


def split(card: str) -> tuple[dict[str, Any], str]:
    assert card.startswith("---\n")
    header, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


@pytest.mark.parametrize(
    ("adapter", "library"), [("lora", "peft"), ("qlora", "peft"), ("full", "transformers")]
)
def test_the_card_of_each_method(tmp_path: Path, adapter: str, library: str) -> None:
    run = finished_run(
        tmp_path,
        "model.model_name_or_path=smollm2-135m-instruct",
        f"method.adapter={adapter}",
        "data.path=tatsu-lab/alpaca",
    )
    header, body = split(model_card(run))
    # A built-in model's card names the Hub model it came from, never the cache folder.
    assert header["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert header["library_name"] == library
    assert header["datasets"] == ["tatsu-lab/alpaca"]
    assert {"ftwizard", "sft", adapter} <= set(header["tags"])
    assert ("base_model:adapter:HuggingFaceTB/SmolLM2-135M-Instruct" in header["tags"]) == (
        adapter != "full"
    )
    assert "| final training loss | 0.5000 |" in body
    assert "| final evaluation loss | 0.7500 |" in body
    assert "| hardware | 1 x NVIDIA L4 |" in body
    assert "90 training rows, 10 validation rows" in body
    assert "12,345 tokens" in body and "loss on 42% of the tokens" in body
    assert "3 invalid rows skipped" in body
    # Every setting that applied, none that did not.
    assert "| `training.learning_rate` |" in body and "| `model.dtype` |" in body
    assert ("| `method.bits` |" in body) == (adapter == "qlora")
    assert ("| `lora.r` |" in body) == (adapter != "full")
    assert "| `method.beta` |" not in body
    assert "cache" not in yaml.safe_dump(header)
    if adapter != "full":  # the card of its merged model is a transformers one
        merged, merged_body = split(model_card(run, merged=True))
        assert merged["library_name"] == "transformers"
        assert not [t for t in merged["tags"] if t.startswith("base_model:adapter:")]
        assert "merged model" in merged_body


def test_local_models_and_files_are_not_named_as_hub_ids(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    data = tmp_path / "rows.jsonl"
    data.write_text("")
    held_out = tmp_path / "held-out.jsonl"
    run = finished_run(
        tmp_path,
        f"model.model_name_or_path={folder}",
        f"data.path={data}",
        f"evaluation.val_path={held_out}",
    )
    run.append_event(DataRead(rows_train=90, rows_eval=10, format="alpaca", source_sha256="ab12"))
    header, body = split(model_card(run))
    assert "base_model" not in header and "datasets" not in header
    assert "of a local model" in body
    # The data by its name and content, never by where it lies on this machine.
    assert "- source: `rows.jsonl` (a local file, SHA-256 `ab12`)" in body
    assert '| `evaluation.val_path` | "held-out.jsonl" |' in body
    assert str(tmp_path) not in model_card(run) + model_card(run, merged=True)


def test_the_plans_decisions_go_into_the_card(tmp_path: Path) -> None:
    run = finished_run(tmp_path)
    assert "Run from a preset" in model_card(run)
    save_decisions(run, [("method", "lora", "estimate 7.4 GB fits | barely")])
    card = model_card(run)
    assert "| method | lora | estimate 7.4 GB fits \\| barely |" in card


def test_sampled_answers_go_into_the_card(tmp_path: Path) -> None:
    from ftwizard.core.runs.model_card import save_samples
    from ftwizard.core.trainer_calls import SampleRow

    run = finished_run(tmp_path)
    run.final_dir.mkdir()
    (run.final_dir / "README.md").write_text("peft's template")
    save_samples(run, [SampleRow(prompt="Who are you?", base="SmolLM | HF", fine_tuned="Wiz")])
    card = (run.final_dir / "README.md").read_text()
    assert "## Base and fine-tuned answers" in card
    assert "| Who are you? | SmolLM \\| HF | Wiz |" in card
