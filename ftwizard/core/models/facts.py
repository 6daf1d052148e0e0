"""Model facts without weights: shapes and exact parameter counts from a config.

The planner needs to know how big a model is and how its linear layers are
shaped (LoRA adds ``r x (in + out)`` per targeted layer) before a byte of weights
is downloaded. :func:`facts_from_config` derives all of it from a Hugging Face
``config.json`` dictionary; the counting is exact for the common decoder families
(Llama, Mistral, Qwen2/3, Gemma 2/3, Phi-3, SmolLM), which a test checks
against models instantiated on the ``meta`` device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ftwizard.core.errors import UserError

SUPPORTED_FAMILIES = (
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi3",
)


@dataclass(frozen=True)
class LinearModule:
    """One kind of linear layer inside every decoder block (e.g. ``q_proj``)."""

    name: str
    in_features: int
    out_features: int
    bias: bool = False

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class ModelFacts:
    """What the planner knows about a model; every count is exact for known families."""

    name: str
    source: str
    """Where the facts came from: catalog, local folder, HF cache, GGUF file..."""
    architecture: str
    model_type: str
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool
    max_context: int | None
    native_dtype: str | None
    is_chat: bool | None
    """A chat template is present (instruct/chat model); None when unknown."""
    linear_modules: tuple[LinearModule, ...]
    """Linear layers of one decoder block, in order."""
    norm_params_per_layer: int
    params_total: int
    params_embedding: int
    """Input embedding plus an untied output head."""
    exact: bool = True
    """False when the family is unknown and counts follow the Llama layout."""
    notes: tuple[str, ...] = field(default=())

    @property
    def params_linear(self) -> int:
        """Parameters in the decoder blocks' linear layers (what 4-bit quantises)."""
        return self.num_layers * sum(m.params for m in self.linear_modules)

    @property
    def params_billions(self) -> float:
        return self.params_total / 1e9

    def linear_params_by_module(self) -> dict[str, int]:
        return {m.name: m.params * self.num_layers for m in self.linear_modules}

    def module_names(self) -> list[str]:
        return [m.name for m in self.linear_modules]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["linear_modules"] = [asdict(m) for m in self.linear_modules]
        data["params_linear"] = self.params_linear
        data["params_by_module"] = self.linear_params_by_module()
        return data


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    # Multimodal wrappers (Gemma 3, Llava...) keep the language model in text_config.
    text = config.get("text_config")
    if isinstance(text, dict) and "hidden_size" in text:
        merged = {**text}
        merged.setdefault("architectures", config.get("architectures"))
        merged.setdefault("tie_word_embeddings", config.get("tie_word_embeddings"))
        return merged
    return config


def _require(config: dict[str, Any], key: str, where: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or value <= 0:
        raise UserError(
            f"{where}: config.json has no usable `{key}` "
            f"(got {value!r}); is this a decoder language model?"
        )
    return value


_TIED_DEFAULT = {"gemma": True, "gemma2": True, "gemma3_text": True, "gemma3": True}


def _linear_modules(
    model_type: str, config: dict[str, Any], h: int, n: int, kv: int, d: int, inter: int
) -> list[LinearModule]:
    q_out, kv_out = n * d, kv * d
    if model_type == "phi3":
        return [
            LinearModule("qkv_proj", h, q_out + 2 * kv_out),
            LinearModule("o_proj", q_out, h),
            LinearModule("gate_up_proj", h, 2 * inter),
            LinearModule("down_proj", inter, h),
        ]
    qkv_bias = model_type == "qwen2" or bool(config.get("attention_bias", False))
    o_bias = bool(config.get("attention_bias", False)) and model_type != "qwen2"
    mlp_bias = bool(config.get("mlp_bias", False))
    return [
        LinearModule("q_proj", h, q_out, qkv_bias),
        LinearModule("k_proj", h, kv_out, qkv_bias),
        LinearModule("v_proj", h, kv_out, qkv_bias),
        LinearModule("o_proj", q_out, h, o_bias),
        LinearModule("gate_proj", h, inter, mlp_bias),
        LinearModule("up_proj", h, inter, mlp_bias),
        LinearModule("down_proj", inter, h, mlp_bias),
    ]


def _norm_params_per_layer(model_type: str, h: int, d: int) -> int:
    if model_type in {"gemma2", "gemma3_text", "gemma3"}:
        # input, post-attention, pre- and post-feed-forward norms (+ q/k norms in Gemma 3)
        return 4 * h + (2 * d if model_type != "gemma2" else 0)
    if model_type == "qwen3":
        return 2 * h + 2 * d  # q_norm and k_norm over the head dimension
    return 2 * h


def facts_from_config(
    config: dict[str, Any],
    name: str,
    source: str,
    is_chat: bool | None = None,
) -> ModelFacts:
    """Derive :class:`ModelFacts` from a ``config.json`` dictionary."""
    cfg = _text_config(config)
    where = f"{name} ({source})"
    model_type = str(cfg.get("model_type") or "unknown")
    architectures = cfg.get("architectures") or config.get("architectures") or [model_type]
    h = _require(cfg, "hidden_size", where)
    layers = _require(cfg, "num_hidden_layers", where)
    n = _require(cfg, "num_attention_heads", where)
    inter = _require(cfg, "intermediate_size", where)
    vocab = _require(cfg, "vocab_size", where)
    kv = cfg.get("num_key_value_heads") or n
    d = cfg.get("head_dim") or h // n
    tied = cfg.get("tie_word_embeddings")
    if tied is None:
        tied = _TIED_DEFAULT.get(model_type, False)

    modules = _linear_modules(model_type, cfg, h, n, kv, d, inter)
    norms = _norm_params_per_layer(model_type, h, d)
    embedding = vocab * h
    head = 0 if tied else vocab * h
    total = embedding + head + layers * (sum(m.params for m in modules) + norms) + h
    exact = model_type in SUPPORTED_FAMILIES or model_type == "gemma3"
    notes = (
        ()
        if exact
        else (f"model type `{model_type}` is not a known family: counts assume a Llama layout",)
    )
    dtype = cfg.get("torch_dtype") or cfg.get("dtype") or config.get("torch_dtype")
    return ModelFacts(
        name=name,
        source=source,
        architecture=str(architectures[0]),
        model_type=model_type,
        hidden_size=h,
        num_layers=layers,
        num_attention_heads=n,
        num_key_value_heads=int(kv),
        head_dim=int(d),
        intermediate_size=inter,
        vocab_size=vocab,
        tied_embeddings=bool(tied),
        max_context=cfg.get("max_position_embeddings"),
        native_dtype=str(dtype) if dtype else None,
        is_chat=is_chat,
        linear_modules=tuple(modules),
        norm_params_per_layer=norms,
        params_total=total,
        params_embedding=embedding + head,
        exact=exact,
        notes=notes,
    )
