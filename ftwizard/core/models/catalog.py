"""A built-in catalog of popular models: just their config facts, no weights.

With it a person can plan for a model before downloading it, and the planner
works offline. Each row holds the ``config.json`` values that shape memory; the
exact parameter counts follow from :func:`ftwizard.core.models.facts.facts_from_config`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ftwizard.core.models.facts import ModelFacts, facts_from_config


class CatalogRow(NamedTuple):
    model_id: str
    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool
    context: int
    chat: bool
    head_dim: int | None = None


# fmt: off
ROWS: tuple[CatalogRow, ...] = (
    CatalogRow("meta-llama/Llama-3.2-1B", "llama", 2048, 16, 32, 8, 8192, 128256, True, 131072, False),
    CatalogRow("meta-llama/Llama-3.2-1B-Instruct", "llama", 2048, 16, 32, 8, 8192, 128256, True, 131072, True),
    CatalogRow("meta-llama/Llama-3.2-3B", "llama", 3072, 28, 24, 8, 8192, 128256, True, 131072, False),
    CatalogRow("meta-llama/Llama-3.2-3B-Instruct", "llama", 3072, 28, 24, 8, 8192, 128256, True, 131072, True),
    CatalogRow("meta-llama/Llama-3.1-8B", "llama", 4096, 32, 32, 8, 14336, 128256, False, 131072, False),
    CatalogRow("meta-llama/Llama-3.1-8B-Instruct", "llama", 4096, 32, 32, 8, 14336, 128256, False, 131072, True),
    CatalogRow("meta-llama/Llama-3.1-70B-Instruct", "llama", 8192, 80, 64, 8, 28672, 128256, False, 131072, True),
    CatalogRow("meta-llama/Llama-3.3-70B-Instruct", "llama", 8192, 80, 64, 8, 28672, 128256, False, 131072, True),
    CatalogRow("Qwen/Qwen2.5-0.5B-Instruct", "qwen2", 896, 24, 14, 2, 4864, 151936, True, 32768, True),
    CatalogRow("Qwen/Qwen2.5-1.5B-Instruct", "qwen2", 1536, 28, 12, 2, 8960, 151936, True, 32768, True),
    CatalogRow("Qwen/Qwen2.5-3B-Instruct", "qwen2", 2048, 36, 16, 2, 11008, 151936, True, 32768, True),
    CatalogRow("Qwen/Qwen2.5-7B", "qwen2", 3584, 28, 28, 4, 18944, 152064, False, 131072, False),
    CatalogRow("Qwen/Qwen2.5-7B-Instruct", "qwen2", 3584, 28, 28, 4, 18944, 152064, False, 32768, True),
    CatalogRow("Qwen/Qwen2.5-14B-Instruct", "qwen2", 5120, 48, 40, 8, 13824, 152064, False, 32768, True),
    CatalogRow("Qwen/Qwen2.5-32B-Instruct", "qwen2", 5120, 64, 40, 8, 27648, 152064, False, 32768, True),
    CatalogRow("Qwen/Qwen2.5-72B-Instruct", "qwen2", 8192, 80, 64, 8, 29568, 152064, False, 32768, True),
    CatalogRow("Qwen/Qwen3-0.6B", "qwen3", 1024, 28, 16, 8, 3072, 151936, True, 40960, True, 128),
    CatalogRow("Qwen/Qwen3-1.7B", "qwen3", 2048, 28, 16, 8, 6144, 151936, True, 40960, True, 128),
    CatalogRow("Qwen/Qwen3-4B", "qwen3", 2560, 36, 32, 8, 9728, 151936, True, 40960, True, 128),
    CatalogRow("Qwen/Qwen3-8B", "qwen3", 4096, 36, 32, 8, 12288, 151936, False, 40960, True, 128),
    CatalogRow("Qwen/Qwen3-14B", "qwen3", 5120, 40, 40, 8, 17408, 151936, False, 40960, True, 128),
    CatalogRow("Qwen/Qwen3-32B", "qwen3", 5120, 64, 64, 8, 25600, 151936, False, 40960, True, 128),
    CatalogRow("mistralai/Mistral-7B-v0.3", "mistral", 4096, 32, 32, 8, 14336, 32768, False, 32768, False),
    CatalogRow("mistralai/Mistral-7B-Instruct-v0.3", "mistral", 4096, 32, 32, 8, 14336, 32768, False, 32768, True),
    CatalogRow("google/gemma-2-2b-it", "gemma2", 2304, 26, 8, 4, 9216, 256000, True, 8192, True, 256),
    CatalogRow("google/gemma-2-9b-it", "gemma2", 3584, 42, 16, 8, 14336, 256000, True, 8192, True, 256),
    CatalogRow("google/gemma-2-27b-it", "gemma2", 4608, 46, 32, 16, 36864, 256000, True, 8192, True, 128),
    CatalogRow("google/gemma-3-1b-it", "gemma3_text", 1152, 26, 4, 1, 6912, 262144, True, 32768, True, 256),
    CatalogRow("microsoft/Phi-3-mini-4k-instruct", "phi3", 3072, 32, 32, 32, 8192, 32064, False, 4096, True),
    CatalogRow("microsoft/Phi-3-medium-4k-instruct", "phi3", 5120, 40, 40, 10, 17920, 32064, False, 4096, True),
    CatalogRow("microsoft/phi-4", "phi3", 5120, 40, 40, 10, 17920, 100352, False, 16384, True),
    CatalogRow("microsoft/Phi-4-mini-instruct", "phi3", 3072, 32, 24, 8, 8192, 200064, True, 131072, True),
    CatalogRow("HuggingFaceTB/SmolLM2-135M-Instruct", "llama", 576, 30, 9, 3, 1536, 49152, True, 8192, True),
    CatalogRow("HuggingFaceTB/SmolLM2-360M-Instruct", "llama", 960, 32, 15, 5, 2560, 49152, True, 8192, True),
    CatalogRow("HuggingFaceTB/SmolLM2-1.7B-Instruct", "llama", 2048, 24, 32, 32, 8192, 49152, True, 8192, True),
)
# fmt: on

_BY_ID = {row.model_id.lower(): row for row in ROWS}


def row_config(row: CatalogRow) -> dict[str, Any]:
    """The row as a ``config.json``-style dictionary."""
    config: dict[str, Any] = {
        "model_type": row.model_type,
        "hidden_size": row.hidden,
        "num_hidden_layers": row.layers,
        "num_attention_heads": row.heads,
        "num_key_value_heads": row.kv_heads,
        "intermediate_size": row.intermediate,
        "vocab_size": row.vocab,
        "tie_word_embeddings": row.tied,
        "max_position_embeddings": row.context,
        "torch_dtype": "bfloat16",
    }
    if row.head_dim is not None:
        config["head_dim"] = row.head_dim
    return config


def lookup(model_id: str) -> ModelFacts | None:
    """Facts of a catalog model (case-insensitive id), or None."""
    row = _BY_ID.get(model_id.lower())
    if row is None:
        return None
    return facts_from_config(row_config(row), name=row.model_id, source="catalog", is_chat=row.chat)


def catalog_ids() -> list[str]:
    return [row.model_id for row in ROWS]
