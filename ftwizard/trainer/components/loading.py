"""Loading the base model, its tokenizer and the adapter configuration from a RunConfig."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.models.builtin import resolve_builtin
from ftwizard.core.planning.estimator import load_dtype
from ftwizard.trainer.components.ranks import local_rank

log = logging.getLogger("ftwizard.trainer")

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def model_location(name: str) -> tuple[str, str | None]:
    """(folder or Hub id, GGUF file name or None)."""
    builtin = resolve_builtin(name)
    if builtin is not None:
        return str(builtin), None
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        return str(path.parent), path.name
    return name, None


def compute_dtype(config: RunConfig) -> torch.dtype:
    if config.training.bf16:
        return torch.bfloat16
    if config.training.fp16:
        return torch.float16
    return torch.float32


def _quantization(config: RunConfig) -> Any:
    from transformers import BitsAndBytesConfig

    method = config.method
    if method.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    extra: dict[str, Any] = {}
    if sharded(config):
        # FSDP flattens parameters of one dtype: store the 4-bit values as that dtype.
        extra["bnb_4bit_quant_storage"] = compute_dtype(config)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=method.bnb_4bit_quant_type,
        bnb_4bit_use_double_quant=method.bnb_4bit_use_double_quant,
        bnb_4bit_compute_dtype=compute_dtype(config),
        **extra,
    )


def sharded(config: RunConfig) -> bool:
    return config.distributed.world_size > 1 and config.distributed.strategy == "fsdp"


def load_tokenizer(config: RunConfig) -> Any:
    from transformers import AutoTokenizer

    location, gguf_file = model_location(config.model.model_name_or_path)
    kwargs: dict[str, Any] = {"trust_remote_code": config.model.trust_remote_code}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    if config.model.revision:
        kwargs["revision"] = config.model.revision
    tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


PICKLED = ("*.bin", "*.pt", "*.pth", "*.ckpt")


def refuse_pickled_weights(location: str, name: str) -> None:
    """Weights load from safetensors only: unpickling a .bin file can run code."""
    folder = Path(location)
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickled = sorted(p.name for pattern in PICKLED for p in folder.glob(pattern))
    pickled = [n for n in pickled if n != "training_args.bin"]
    if pickled:
        raise UserError(
            f"{name}: the weights are pickle files ({', '.join(pickled[:3])}); ftwizard "
            "loads safetensors only, because unpickling a file can run code.",
            hint="Convert them once where you trust the file: load it with transformers and "
            "save_pretrained() (safetensors by default), then point to that folder.",
        )


def load_model(config: RunConfig) -> Any:
    """The base model, quantised for QLoRA and prepared for k-bit training."""
    from transformers import AutoModelForCausalLM

    if config.model.trust_remote_code:
        log.warning("trust_remote_code is on: running Python code shipped with the model")
    location, gguf_file = model_location(config.model.model_name_or_path)
    kwargs: dict[str, Any] = {
        "dtype": TORCH_DTYPES[load_dtype(config)],
        "attn_implementation": config.training.attn_implementation,
        "trust_remote_code": config.model.trust_remote_code,
    }
    if config.model.revision:
        kwargs["revision"] = config.model.revision
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    else:
        refuse_pickled_weights(location, config.model.model_name_or_path)
        kwargs["use_safetensors"] = True
    if config.method.adapter == "qlora":
        kwargs["quantization_config"] = _quantization(config)
        if torch.cuda.is_available() and not sharded(config):
            # bitsandbytes quantises on the GPU it loads to: this process's own (LOCAL_RANK).
            kwargs["device_map"] = {"": local_rank()}
    try:
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    except OSError as exc:
        raise UserError(
            f"Cannot load the model `{config.model.model_name_or_path}` ({exc})."
        ) from None
    if gguf_file:
        # Dequantised GGUF weights are plain floats: drop the quantisation marker.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    if config.method.adapter == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.training.gradient_checkpointing
        )
    return model


def lora_config(config: RunConfig) -> Any:
    if config.method.adapter == "full":
        return None
    from peft import LoraConfig

    lora = config.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.lora_alpha,
        lora_dropout=lora.lora_dropout,
        target_modules=lora.target_modules,
        use_dora=lora.use_dora,
        use_rslora=lora.use_rslora,
        task_type="CAUSAL_LM",
    )
