"""A finished run's models, loaded: its base, the base with the run's adapter (or its
full fine-tune), and the tokenizer it trained with. Sampling, merging, the chat and the
GGUF export all start from these."""

from __future__ import annotations

from typing import Any

import torch

from ftwizard.core.runs.folder import RunFolder
from ftwizard.trainer.components.loading import (
    TORCH_DTYPES,
    load_tokenizer,
    model_location,
    refuse_pickled_weights,
)


def base_model(run: RunFolder, dtype: Any = None) -> Any:
    """The run's base model, in ``dtype`` (default: fp32 on a CPU, bf16 on a GPU)."""
    from transformers import AutoModelForCausalLM

    config = run.read_config()
    location, gguf_file = model_location(config.model.model_name_or_path)
    if dtype is None:
        dtype = TORCH_DTYPES["float32" if not torch.cuda.is_available() else "bfloat16"]
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": config.model.trust_remote_code}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    else:
        refuse_pickled_weights(location, config.model.model_name_or_path)
        kwargs["use_safetensors"] = True
    model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    if gguf_file:
        model.hf_quantizer = None
        model.is_quantized = False
    return model.to("cuda" if torch.cuda.is_available() else "cpu")


def tuned_model(run: RunFolder, base: Any) -> Any:
    run.require_output()
    refuse_pickled_weights(str(run.final_dir), run.name)
    if (run.final_dir / "adapter_config.json").exists():
        from peft import PeftModel

        return PeftModel.from_pretrained(base, str(run.final_dir))
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(run.final_dir), dtype=base.dtype, use_safetensors=True
    ).to(base.device)


def final_tokenizer(run: RunFolder) -> Any:
    """The tokenizer the run trained with: saved beside its output, else the base's."""
    if (run.final_dir / "tokenizer_config.json").exists():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(run.final_dir))
    return load_tokenizer(run.read_config())
