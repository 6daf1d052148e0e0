"""Model facts without weights: exact counts, every source, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftwizard.core.errors import UserError
from ftwizard.core.models import catalog
from ftwizard.core.models.catalog import ROWS, row_config
from ftwizard.core.models.facts import facts_from_config
from ftwizard.core.models.source import resolve_model_facts

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _meta_model(config: dict) -> torch.nn.Module:
    config = dict(config)
    model_type = config.pop("model_type")
    hf_config = transformers.AutoConfig.for_model(model_type, **config)
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(hf_config)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.model_id)
def test_counts_match_a_model_built_on_the_meta_device(row) -> None:
    facts = catalog.lookup(row.model_id)
    assert facts is not None and facts.exact
    model = _meta_model(row_config(row))
    assert facts.params_total == sum(p.numel() for p in model.parameters())
    # Per linear layer kind: what LoRA and 4-bit quantisation act on.
    by_name: dict[str, int] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and ".layers." in name:
            kind = name.rsplit(".", 1)[-1]
            by_name[kind] = by_name.get(kind, 0) + sum(p.numel() for p in module.parameters())
    assert by_name == facts.linear_params_by_module()


# Published totals, to catch a wrong catalog row (the meta test only checks the arithmetic).
PUBLISHED = {
    "meta-llama/Llama-3.1-8B": 8_030_261_248,
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "Qwen/Qwen2.5-7B-Instruct": 7_615_616_512,
    "Qwen/Qwen2.5-0.5B-Instruct": 494_032_768,
    "mistralai/Mistral-7B-v0.3": 7_248_023_552,
    "google/gemma-2-9b-it": 9_241_705_984,
    "microsoft/Phi-3-mini-4k-instruct": 3_821_079_552,
    "HuggingFaceTB/SmolLM2-135M-Instruct": 134_515_008,
}


@pytest.mark.parametrize(("model_id", "total"), PUBLISHED.items())
def test_catalog_matches_published_parameter_counts(model_id: str, total: int) -> None:
    facts = catalog.lookup(model_id)
    assert facts is not None and facts.params_total == total


def test_catalog_has_about_thirty_models_of_each_family() -> None:
    ids = catalog.catalog_ids()
    assert len(ids) >= 30
    for family in (
        "Llama-3",
        "Qwen2.5",
        "Qwen3",
        "Mistral",
        "gemma-2",
        "gemma-3",
        "Phi-3",
        "phi-4",
        "SmolLM2",
    ):
        assert any(family.lower() in i.lower() for i in ids), family
    assert catalog.lookup("META-LLAMA/llama-3.1-8b") is not None  # ids are case-insensitive


def test_multimodal_wrapper_reads_its_text_config() -> None:
    config = {
        "model_type": "gemma3",
        "architectures": ["Gemma3ForConditionalGeneration"],
        "text_config": {**row_config(ROWS[0]), "model_type": "gemma3_text"},
    }
    facts = facts_from_config(config, "x", "test")
    assert facts.hidden_size == ROWS[0].hidden


def test_unknown_family_is_counted_as_llama_with_a_note() -> None:
    facts = facts_from_config({**row_config(ROWS[0]), "model_type": "brandnew"}, "x", "test")
    assert not facts.exact and "not a known family" in facts.notes[0]


def test_local_folder(tmp_path: Path) -> None:
    import json

    (tmp_path / "config.json").write_text(json.dumps(row_config(ROWS[4])))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))
    facts = resolve_model_facts(str(tmp_path))
    assert facts.params_total == catalog.lookup(ROWS[4].model_id).params_total
    assert facts.is_chat is True and facts.source == "local folder"


def test_hugging_face_cache_offline(tmp_path: Path, monkeypatch) -> None:
    import json

    import huggingface_hub.constants as hub_constants

    snapshot = tmp_path / "models--acme--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(row_config(ROWS[8])))
    (tmp_path / "models--acme--tiny" / "refs").mkdir()
    (tmp_path / "models--acme--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    facts = resolve_model_facts("acme/tiny")
    assert facts.source == "Hugging Face cache" and facts.hidden_size == ROWS[8].hidden


def test_gguf_file_metadata() -> None:
    from ftwizard.core.models.builtin import BUILTIN_MODELS

    path = BUILTIN_MODELS["smollm2-135m-instruct"].gguf_path()
    facts = resolve_model_facts(str(path))
    assert facts.params_total == 134_515_008  # the file's own tensor count agrees
    assert facts.exact and facts.is_chat and facts.tied_embeddings


def test_builtin_short_name_plans_before_it_is_prepared(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FTWIZARD_CACHE", str(tmp_path))
    facts = resolve_model_facts("smollm2-135m-instruct")
    assert facts.params_total == 134_515_008 and facts.source == "catalog"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p), "no config.json"),
        (
            lambda p: (
                (p / "bad.gguf").write_bytes(b"GGUF\x03\x00\x00\x00garbage") and str(p / "bad.gguf")
            ),
            "not a readable GGUF file",
        ),
        (lambda p: str(p / "missing.gguf"), "no such GGUF file"),
        (lambda p: (p / "notes.txt").write_text("hi") and str(p / "notes.txt"), "neither"),
        (lambda p: "nobody/no-such-model-anywhere", "not in the local Hugging Face cache"),
    ],
    ids=["folder-without-config", "corrupt-gguf", "missing-gguf", "plain-file", "unknown-id"],
)
def test_bad_model_inputs(tmp_path: Path, monkeypatch, make, message: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=message):
        resolve_model_facts(make(tmp_path))
