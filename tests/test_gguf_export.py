"""GGUF export (``trainer/gguf_export.py``) against independent oracles.

- llama.cpp's own converter: the demo model ships as a GGUF that llama.cpp's
  ``convert_hf_to_gguf.py`` wrote; ftwizard's export of the same weights must carry the
  same metadata, tokenizer, tensor names and shapes, and (the rotary reordering
  included) the same values.
- transformers' GGUF reader (its own tensor map and reverse reordering): a LoRA run
  exported to f16 and q8_0 loads back and answers like the merged model; tiny Qwen2 and
  Qwen3 models do the same.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ftwizard.core.errors import UserError
from tests.conftest import run_cli

PROMPTS = [
    [{"role": "user", "content": "Who are you?"}],
    [
        {"role": "user", "content": "Hi! I am Ann and I am learning to cook."},
        {"role": "assistant", "content": "Nice to meet you, Ann! What would you like to cook?"},
        {"role": "user", "content": "What is the capital of France?"},
    ],
]


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def _logits(model: Any, tokenizer: Any) -> Any:
    import torch

    rows = []
    with torch.no_grad():
        for messages in PROMPTS:
            ids = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
            rows.append(model(input_ids=ids).logits[0].float())
    return torch.cat(rows)


def test_unsupported_architectures_are_refused_by_name() -> None:
    from ftwizard.trainer.gguf_export import architecture_of

    with pytest.raises(UserError, match="`gemma2`.*llama, mistral, qwen2, qwen3") as caught:
        architecture_of("gemma2")
    assert caught.value.hint and "convert_hf_to_gguf.py" in caught.value.hint


@pytest.mark.slow
def test_the_export_matches_llama_cpps_own_conversion(
    tmp_path: Path, demo_model_folder: Path
) -> None:
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftwizard.core.models.builtin import BUILTIN_MODELS
    from ftwizard.trainer.gguf_export import write_gguf

    model = AutoModelForCausalLM.from_pretrained(demo_model_folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_folder)
    ours = GGUFReader(write_gguf(model, tokenizer, tmp_path / "x.gguf", "f16", "x").path)
    theirs = GGUFReader(BUILTIN_MODELS["smollm2-135m-instruct"].gguf_path())

    # Every key llama.cpp wrote, except the file's own description and encoding.
    skipped = ("general.", "GGUF.")
    keys = [k for k in theirs.fields if not k.startswith(skipped)]
    assert len(keys) > 20
    for key in keys:
        assert _field(ours, key) == _field(theirs, key), key
    assert _field(ours, "general.architecture") == "llama"

    # The same tensors; values within the bf16 rounding of the prepared folder (the
    # original is Q4_1, dequantised once to bf16 when the demo model was prepared).
    mine = {t.name: t for t in ours.tensors}
    assert sorted(mine) == sorted(t.name for t in theirs.tensors)
    for tensor in theirs.tensors:
        shape = list(reversed(tensor.shape.tolist()))
        expected = dequantize(tensor.data, tensor.tensor_type).reshape(shape)
        got = np.asarray(mine[tensor.name].data, dtype=np.float32).reshape(shape)
        scale = float(np.abs(expected).max())
        assert float(np.abs(got - expected).max()) <= 0.005 * scale, tensor.name


@pytest.mark.slow
def test_a_lora_run_exports_to_f16_and_q8_0_that_load_and_answer_alike(lora_run: Any) -> None:
    import torch
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM

    from ftwizard.trainer.gguf_export import load_final_model

    merged, tokenizer = load_final_model(lora_run)
    reference = _logits(merged, tokenizer)
    files = {}
    for outtype in ("f16", "q8_0"):
        done = run_cli("export", str(lora_run.path), "--outtype", outtype, "--json")
        assert done.returncode == 0, done.stderr
        files[outtype] = Path(json.loads(done.stdout)["path"])
        reader = GGUFReader(files[outtype])
        assert _field(reader, "general.architecture") == "llama"
        assert len(reader.tensors) == 272  # tied embeddings: no separate output tensor
        assert len(_field(reader, "tokenizer.ggml.tokens")) == merged.config.vocab_size
        assert _field(reader, "tokenizer.ggml.pre") == "smollm"
        assert _field(reader, "tokenizer.chat_template") == tokenizer.chat_template
        shapes = {t.name: list(reversed(t.shape.tolist())) for t in reader.tensors}
        assert shapes["blk.0.attn_k.weight"] == [192, 576]

    f16 = AutoModelForCausalLM.from_pretrained(
        files["f16"].parent, gguf_file=files["f16"].name, dtype=torch.float32
    )
    exported = _logits(f16, tokenizer)
    # The file holds the merged weights rounded to f16 (norms in fp32): the same model
    # rounded so answers alike to float noise; against fp32 the rounding moves logits
    # of magnitude ~25 by a few hundredths.
    with torch.no_grad():
        for param in merged.parameters():
            if param.dim() == 2:
                param.copy_(param.half().float())
    assert float((exported - _logits(merged, tokenizer)).abs().max()) <= 1e-2
    assert float((exported - reference).abs().max()) <= 1e-3 * float(reference.abs().max()) * 5
    q8 = AutoModelForCausalLM.from_pretrained(
        files["q8_0"].parent, gguf_file=files["q8_0"].name, dtype=torch.float32
    )
    agree = (_logits(q8, tokenizer).argmax(-1) == reference.argmax(-1)).float().mean()
    assert float(agree) >= 0.95
    assert files["q8_0"].stat().st_size < 0.6 * files["f16"].stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["qwen2", "qwen3"])
def test_qwen_families_load_back_with_their_biases_and_norms(
    tmp_path: Path, demo_model_folder: Path, model_type: str
) -> None:
    """A tiny random Qwen2 (q/k/v biases) or Qwen3 (q/k norms) with the demo tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from ftwizard.trainer.gguf_export import write_gguf

    source = AutoConfig.from_pretrained(demo_model_folder)
    config = AutoConfig.for_model(
        model_type,
        vocab_size=source.vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        # Qwen3 heads are 128 wide, wider than hidden / heads; transformers' GGUF reader
        # assumes that width (it does not read key_length), so the tiny model has it too.
        head_dim=128 if model_type == "qwen3" else 16,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=source.bos_token_id,
        eos_token_id=source.eos_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    for name, param in model.named_parameters():
        if name.endswith(".bias") or "norm" in name:  # not the zeros/ones they start as
            param.data.normal_(1.0 if "norm" in name else 0.0, 0.1)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_folder)
    path = write_gguf(model, tokenizer, tmp_path / "m.gguf", "f16", model_type).path
    loaded = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    assert type(loaded).__name__ == type(model).__name__
    difference = (_logits(loaded, tokenizer) - _logits(model, tokenizer)).abs().max()
    assert float(difference) <= 1e-2


@pytest.mark.slow
def test_llama_3_1_rotary_scaling_is_written_as_llama_cpps_rope_freqs(
    tmp_path: Path, demo_model_folder: Path
) -> None:
    """The oracle is llama.cpp's own rule for Llama 3.1 (convert_hf_to_gguf.py): per
    frequency, 1 below the high-frequency wavelength, ``factor`` above the low one, and
    a smooth blend between."""
    import math

    import numpy as np
    import torch
    from gguf import GGUFReader
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ftwizard.trainer.gguf_export import write_gguf

    scaling = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
    original, theta, head_dim = 8192, 500000.0, 64
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=131072,
        tie_word_embeddings=True,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": theta,
            "original_max_position_embeddings": original,
            **scaling,
        },
    )
    expected = []
    for i in range(0, head_dim, 2):
        wavelength = 2 * math.pi * theta ** (i / head_dim)
        if wavelength < original / scaling["high_freq_factor"]:
            expected.append(1.0)
        elif wavelength > original / scaling["low_freq_factor"]:
            expected.append(scaling["factor"])
        else:
            smooth = (original / wavelength - scaling["low_freq_factor"]) / (
                scaling["high_freq_factor"] - scaling["low_freq_factor"]
            )
            expected.append(1 / ((1 - smooth) / scaling["factor"] + smooth))
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    tokenizer = AutoTokenizer.from_pretrained(demo_model_folder)
    reader = GGUFReader(write_gguf(model, tokenizer, tmp_path / "l.gguf", "f16", "l").path)
    [freqs] = [t for t in reader.tensors if t.name == "rope_freqs.weight"]
    assert np.allclose(np.asarray(freqs.data), expected, rtol=1e-5)
    assert 1.0 < float(np.asarray(freqs.data).max()) <= 8.0  # some frequencies were scaled


@pytest.mark.slow
def test_the_modelfile_prompts_ollama_as_the_run_trained(
    lora_run: Any, go_template: Callable[[str, list[dict[str, str]]], str]
) -> None:
    """``--ollama NAME``: a Modelfile beside the GGUF whose template, executed by Go's
    text/template as Ollama does, writes the training chat template's prompt."""
    import re

    from ftwizard.trainer.components.run_model import final_tokenizer

    done = run_cli("export", str(lora_run.path), "--outtype", "q8_0", "--ollama", "wiz", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    modelfile = Path(result["modelfile"])
    assert modelfile == Path(result["path"]).with_name("Modelfile")
    assert result["ollama_create"] == f"ollama create wiz -f {modelfile}"
    text = modelfile.read_text()
    assert f"FROM ./{Path(result['path']).name}\n" in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert f"PARAMETER num_ctx {lora_run.read_config().training.max_length}\n" in text
    [template] = re.findall(r'^TEMPLATE """(.*?)"""$', text, flags=re.S | re.M)
    tokenizer = final_tokenizer(lora_run)
    for messages in (PROMPTS[1], [{"role": "system", "content": "Be brief."}, *PROMPTS[1]]):
        expected = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        assert go_template(template, messages) == expected


@pytest.mark.slow
def test_k_quants_without_llama_quantize_are_refused_before_any_work(lora_run: Any) -> None:
    exports = lora_run.path / "export"
    before = sorted(exports.iterdir()) if exports.exists() else []
    done = run_cli(
        "export", str(lora_run.path), "--outtype", "q4_k_m",
        env={"PATH": str(Path(sys.executable).parent)},
    )  # fmt: skip
    assert done.returncode == 2
    assert (sorted(exports.iterdir()) if exports.exists() else []) == before
    assert "Q4_K_M needs llama.cpp's llama-quantize, which is not on PATH" in done.stderr
    assert "ollama create NAME -q q4_K_M -f Modelfile" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_k_quants_go_through_llama_quantize_when_it_is_on_path(
    lora_run: Any, tmp_path: Path
) -> None:
    """A stand-in llama-quantize (the real one is a llama.cpp build) records how it was
    called, prints progress as the real one does, and copies its input."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "llama-quantize"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {calls}\n'
        'echo "[   1/   2]  token_embd.weight - converting to q6_K"\n'
        'echo "[   2/   2]  output_norm.weight - size = 0.002 MB"\n'
        'cp "$1" "$2"\n'
    )
    fake.chmod(0o755)
    out = tmp_path / "wiz-q4.gguf"
    done = run_cli(
        "export", str(lora_run.path), "--outtype", "q4_k_m", "--out", str(out), "--json",
        env={"PATH": f"{fake.parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    source = lora_run.path / "export" / f"{lora_run.name}-f16.gguf"
    assert result["path"] == str(out) and result["source"] == str(source)
    assert calls.read_text().split() == [str(source), f"{out}.partial", "Q4_K_M"]
    assert out.read_bytes() == source.read_bytes()
    assert result["size_bytes"] == out.stat().st_size
