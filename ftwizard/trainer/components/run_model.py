"""A finished run's models, loaded: the model it started from, that model with the run's
adapter (or its full fine-tune), and the tokenizer it trained with. Sampling, merging,
the chat and the GGUF export all start from these."""

from __future__ import annotations

from typing import Any

import torch

from ftwizard.core.runs.folder import RunFolder
from ftwizard.trainer.components.loading import (
    TORCH_DTYPES,
    load_tokenizer,
    refuse_pickled_weights,
    starting_model,
)


def base_model(run: RunFolder, dtype: Any = None) -> Any:
    """The model the run started from, in ``dtype`` (default: fp32 on a CPU, bf16 on a
    GPU): its base, or with ``model.from_run`` the source run's result, every adapter
    of the chain folded in."""
    if dtype is None:
        dtype = TORCH_DTYPES["float32" if not torch.cuda.is_available() else "bfloat16"]
    model = starting_model(run.read_config(), dtype=dtype)
    return model.to("cuda" if torch.cuda.is_available() else "cpu")


def tuned_model(run: RunFolder, base: Any) -> Any:
    run.require_text_model()
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
