"""Find a model's facts wherever it is: a folder, a .gguf file, the HF cache, the catalog.

Order of lookup for a name: a local path; a built-in short name; the local
Hugging Face cache (works offline); the built-in catalog; the Hub itself when
online. Nothing here loads weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from ftwizard.core.errors import UserError
from ftwizard.core.files import load_json
from ftwizard.core.models import catalog
from ftwizard.core.models.builtin import BUILTIN_MODELS
from ftwizard.core.models.facts import ModelFacts, facts_from_config
from ftwizard.core.network import hub_host, hub_reachable
from ftwizard.core.paths import looks_local

# The catalog row that describes each built-in model before it is converted.
_BUILTIN_CATALOG_IDS = {"smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}

_GGUF_ARCH_TO_MODEL_TYPE = {
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3_text",
    "phi3": "phi3",
}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = load_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object.")
    return data


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").exists() or (folder / "chat_template.json").exists():
        return True
    tokenizer_config = folder / "tokenizer_config.json"
    if tokenizer_config.exists():
        try:
            return bool(load_json(tokenizer_config.read_text()).get("chat_template"))
        except (OSError, json.JSONDecodeError):
            return False
    return False


def facts_from_folder(
    folder: Path, name: str | None = None, source: str = "local folder"
) -> ModelFacts:
    config_path = folder / "config.json"
    if not config_path.exists():
        raise UserError(
            f"{folder}: no config.json in this folder, so it is not a Hugging Face model folder.",
            hint="Point at the folder that holds config.json and the *.safetensors files.",
        )
    return facts_from_config(
        _read_json(config_path),
        name=name or str(folder),
        source=source,
        is_chat=_has_chat_template(folder),
    )


def facts_from_gguf(path: Path) -> ModelFacts:
    """Read shapes from a GGUF file's metadata (no tensor data is loaded)."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(path)
    except Exception as exc:  # the reader raises ValueError, struct errors, OSError...
        raise UserError(
            f"{path}: not a readable GGUF file ({type(exc).__name__}: {exc}).",
            hint="The file may be truncated or corrupt; download it again.",
        ) from None

    def field(key: str) -> Any:
        item = reader.fields.get(key)
        return None if item is None else item.contents()

    arch = field("general.architecture")
    if not isinstance(arch, str):
        raise UserError(f"{path}: the GGUF metadata names no architecture.")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    tensor_names = {t.name for t in reader.tensors}
    config = {
        "model_type": _GGUF_ARCH_TO_MODEL_TYPE.get(arch, arch),
        "architectures": [arch],
        "hidden_size": field(f"{arch}.embedding_length"),
        "num_hidden_layers": field(f"{arch}.block_count"),
        "num_attention_heads": field(f"{arch}.attention.head_count"),
        "num_key_value_heads": field(f"{arch}.attention.head_count_kv"),
        "head_dim": field(f"{arch}.attention.key_length"),
        "intermediate_size": field(f"{arch}.feed_forward_length"),
        "vocab_size": field(f"{arch}.vocab_size") or (len(tokens.data) if tokens else None),
        "max_position_embeddings": field(f"{arch}.context_length"),
        "tie_word_embeddings": "output.weight" not in tensor_names,
    }
    facts = facts_from_config(
        config,
        name=str(field("general.name") or path.stem),
        source=f"GGUF file {path.name}",
        is_chat=bool(field("tokenizer.chat_template")),
    )
    stored = sum(int(t.n_elements) for t in reader.tensors)
    if stored != facts.params_total:
        notes = (
            *facts.notes,
            f"the file stores {stored:,} parameters; shapes computed here differ",
        )
        return dataclasses.replace(facts, notes=notes, exact=False)
    return facts


def _from_hf_cache(model_id: str, revision: str | None) -> ModelFacts | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json", revision=revision)
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    return facts_from_folder(folder, name=model_id, source="Hugging Face cache")


def _from_hub(model_id: str, revision: str | None) -> ModelFacts | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        path = hf_hub_download(model_id, "config.json", revision=revision)
    except RepositoryNotFoundError:
        return None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise UserError(f"`{model_id}`: the Hub could not be reached ({exc}).") from None
    folder = Path(path).parent
    try:  # the chat template lives in the tokenizer files
        hf_hub_download(model_id, "tokenizer_config.json", revision=revision)
    except Exception:
        pass
    return facts_from_folder(folder, name=model_id, source="Hugging Face Hub")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def tokenizer_location(name_or_path: str) -> tuple[str, str | None]:
    """(folder or Hub id, GGUF file name or None) to load a model's tokenizer from."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UserError(f"{path}: no such GGUF file.")
        return str(path.parent), path.name
    if path.is_dir():
        return str(path), None
    builtin = BUILTIN_MODELS.get(name_or_path)
    if builtin is not None:
        if not builtin.prepared:
            raise UserError(
                f"The built-in model `{name_or_path}` is not prepared yet.",
                hint=f"Run `ftwizard models prepare {name_or_path}` once (about 20 s).",
            )
        return str(builtin.folder), None
    return name_or_path, None


def check_loadable(name_or_path: str) -> None:
    """A UserError now when the model's weights cannot be loaded here: no such folder or
    file, a built-in model not prepared, or a Hub id outside the cache while offline.
    (The catalog knows many models' facts, not their weights.)"""
    location, _ = tokenizer_location(name_or_path)
    if Path(location).is_dir() or not _hub_id_shaped(name_or_path):
        if not Path(location).is_dir():
            raise UserError(f"Model `{name_or_path}`: no such folder or file.")
        return
    if _from_hf_cache(name_or_path, None) is None and (_offline() or not hub_reachable()):
        raise UserError(
            f"Model `{name_or_path}` is not in the local Hugging Face cache and the Hub "
            "cannot be reached.",
            hint="Download it once where the Hub answers, or give a local folder.",
        )


def hub_id_of(name: str) -> str | None:
    """The Hugging Face Hub id a model or dataset name stands for (a built-in model's
    origin included); None for anything on this machine's disk."""
    if name in _BUILTIN_CATALOG_IDS:
        return _BUILTIN_CATALOG_IDS[name]
    if Path(name).expanduser().exists() or name.startswith("~") or not _hub_id_shaped(name):
        return None
    owner, _, repo = name.partition("/")
    # "owner/name" with both parts, and no file extension ("data/train.jsonl" is a file).
    if owner and repo and not Path(repo).suffix[1:].isalpha():
        return name
    return None


def _hub_id_shaped(name: str) -> bool:
    """One slash and no leading ./ or /: how a Hub id looks (it may still be a path)."""
    return name.count("/") == 1 and not looks_local(name)


def resolve_model_facts(name_or_path: str, revision: str | None = None) -> ModelFacts:
    """Facts for a model name, folder or file; a clear UserError when it cannot be found."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UserError(f"{path}: no such GGUF file.")
        return facts_from_gguf(path)
    if path.is_dir():
        return facts_from_folder(path)
    if path.is_file():
        raise UserError(
            f"{path}: a model is a folder with config.json, or a .gguf file; this is neither."
        )

    builtin = BUILTIN_MODELS.get(name_or_path)
    if builtin is not None:
        if builtin.prepared:
            return facts_from_folder(builtin.folder, name=name_or_path, source="built-in model")
        facts = catalog.lookup(_BUILTIN_CATALOG_IDS[name_or_path])
        assert facts is not None
        return facts

    looks_like_hub_id = _hub_id_shaped(name_or_path)
    if looks_like_hub_id:
        cached = _from_hf_cache(name_or_path, revision)
        if cached is not None:
            return cached
    listed = catalog.lookup(name_or_path)
    if listed is not None:
        return listed
    reachable = looks_like_hub_id and not _offline() and hub_reachable()
    if reachable:
        fetched = _from_hub(name_or_path, revision)
        if fetched is not None:
            return fetched

    where = "no local folder or file, not in the built-in catalog"
    if looks_like_hub_id:
        where += ", not in the local Hugging Face cache"
        if _offline():
            where += " and the Hub is offline (HF_HUB_OFFLINE=1)"
        elif not reachable:
            where += f" and the Hub cannot be reached from this machine ({hub_host()})"
        else:
            where += " nor on the Hub"
    raise UserError(
        f"Model `{name_or_path}` not found: {where}.",
        hint="List the catalog with `ftwizard models catalog`, give a local folder with "
        "config.json or a .gguf file, or download the model's config first.",
    )
