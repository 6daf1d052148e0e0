"""Loading the base model, its tokenizer and the adapter configuration from a RunConfig."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.models.builtin import resolve_builtin
from ftwizard.core.planning.estimator import load_dtype
from ftwizard.core.runs.start import source_of
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

    start = source_of(config)
    if start is not None and (start.run.final_dir / "tokenizer_config.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(str(start.run.final_dir))  # as it trained
    else:
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


def from_pretrained(
    location: str, gguf_file: str | None, name: str, auto_class: Any = None, **kwargs: Any
) -> Any:
    """``AutoModelForCausalLM.from_pretrained`` (or ``auto_class``'s: a reward model's
    sequence classifier) the way every load here goes: safetensors only (or a GGUF file,
    dequantised to plain floats), a failure in words."""
    from transformers import AutoModelForCausalLM

    auto_class = auto_class or AutoModelForCausalLM
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    else:
        refuse_pickled_weights(location, name)
        kwargs["use_safetensors"] = True
    try:
        model = auto_class.from_pretrained(location, **kwargs)
    except OSError as exc:
        raise UserError(f"Cannot load the model `{name}` ({exc}).") from None
    if gguf_file:
        # Dequantised GGUF weights are plain floats: drop the quantisation marker.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def starting_model(config: RunConfig, **kwargs: Any) -> Any:
    """The model a run starts from, unquantised: its base; or with ``model.from_run`` the
    source run's result: its own starting model with its adapter folded in (so a chain
    of runs folds every adapter in order), or its fully trained weights. ``auto_class``
    (a keyword) loads it as another head, the reward model's scalar one."""
    start = source_of(config)
    kwargs.setdefault("trust_remote_code", config.model.trust_remote_code)
    if start is None:
        if config.model.revision:
            kwargs["revision"] = config.model.revision
        location, gguf_file = model_location(config.model.model_name_or_path)
        return from_pretrained(location, gguf_file, config.model.model_name_or_path, **kwargs)
    result = str(start.run.final_dir)
    if not start.adapter:
        return from_pretrained(result, None, start.run.name, **kwargs)
    from peft import PeftModel

    refuse_pickled_weights(result, start.run.name)
    base = starting_model(start.config, **kwargs)
    return PeftModel.from_pretrained(base, result).merge_and_unload()


def _folded_copy(config: RunConfig, folder: Path) -> str:
    """The starting model written to ``folder`` once (safetensors), for a load that
    quantises: bitsandbytes quantises weights as they load, not a model in memory."""
    if not (folder / "config.json").exists():
        staged = folder.with_name(f"{folder.name}.{os.getpid()}")
        starting_model(config, dtype=compute_dtype(config)).save_pretrained(staged)
        try:
            os.replace(staged, folder)
        except OSError:  # another rank's copy came first
            shutil.rmtree(staged, ignore_errors=True)
    return str(folder)


def reward_head() -> dict[str, Any]:
    """How a reward model loads: the base with one scalar output (trl's ``num_labels=1``)."""
    from transformers import AutoModelForSequenceClassification

    return {"auto_class": AutoModelForSequenceClassification, "num_labels": 1}


def load_model(config: RunConfig, scratch: Path | None = None) -> Any:
    """The model a run trains: its starting model, quantised for QLoRA and prepared for
    k-bit training; a reward model gets a scalar head. ``scratch``: where a QLoRA run
    from an adapter run keeps the folded starting model it quantises (``start/``)."""
    if config.model.trust_remote_code:
        log.warning("trust_remote_code is on: running Python code shipped with the model")
    kwargs: dict[str, Any] = {
        "dtype": TORCH_DTYPES[load_dtype(config)],
        "attn_implementation": config.training.attn_implementation,
    }
    if config.method.objective == "reward":
        kwargs.update(reward_head())
    if config.method.adapter != "qlora":
        return starting_model(config, **kwargs)
    kwargs["quantization_config"] = _quantization(config)
    if torch.cuda.is_available() and not sharded(config):
        # bitsandbytes quantises on the GPU it loads to: this process's own (LOCAL_RANK).
        kwargs["device_map"] = {"": local_rank()}
    kwargs["trust_remote_code"] = config.model.trust_remote_code
    start = source_of(config)
    if start is None:
        model = starting_model(config, **kwargs)
    elif start.adapter:
        if scratch is None:
            raise ValueError("a QLoRA run from an adapter run needs a folder for its start")
        model = from_pretrained(_folded_copy(config, scratch), None, start.run.name, **kwargs)
    else:
        model = from_pretrained(str(start.run.final_dir), None, start.run.name, **kwargs)
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=config.training.gradient_checkpointing
    )


def apply_kernels(model: Any, config: RunConfig) -> None:
    """Liger's kernels on the loaded model, where the run asks for them
    (``core/planning/kernels.py`` says when and why). Applied before trl adds its fused
    head and peft wraps the model, so both end up calling Liger's forward, whose loss
    never builds the logits."""
    if not config.training.use_liger_kernel:
        return
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(
        model=model,
        rope=True,
        rms_norm=True,
        swiglu=True,
        cross_entropy=False,
        fused_linear_cross_entropy=True,
    )


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
        # A reward model's new score head trains whole beside the adapters (peft's
        # SEQ_CLS keeps it in modules_to_save), and is saved with them.
        task_type="SEQ_CLS" if config.method.objective == "reward" else "CAUSAL_LM",
    )
