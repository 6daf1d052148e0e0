"""Convert a built-in GGUF model into a plain Hugging Face folder (safetensors, bf16).

Run as ``python -m ftwizard.trainer.prepare_model NAME``; the CLI's
``ftwizard models prepare`` starts it in its own process. Prints one line per
step so the parent can show progress.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from ftwizard.core.models.builtin import BUILTIN_MODELS, COMPLETE_MARKER, BuiltinModel


def _say(message: str) -> None:
    print(message, flush=True)


def convert(model: BuiltinModel, dtype_name: str = "bfloat16") -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = model.gguf_path()
    target = model.folder
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)

    started = time.perf_counter()
    _say(f"reading {gguf.name} (dequantising to float)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    hf_model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype_name)
    )
    # The weights are now plain floats: drop the GGUF quantisation marker, or
    # transformers would refuse to train or save them as a quantised model.
    hf_model.hf_quantizer = None
    hf_model.is_quantized = False
    if hasattr(hf_model.config, "quantization_config"):
        del hf_model.config.quantization_config

    _say(f"writing safetensors to {target}")
    hf_model.save_pretrained(work, safe_serialization=True)
    tokenizer.save_pretrained(work)
    (work / COMPLETE_MARKER).write_text(f"converted from {gguf.name}\n")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    _say(f"done in {time.perf_counter() - started:.1f} s")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftwizard.trainer.prepare_model")
    parser.add_argument("name", choices=sorted(BUILTIN_MODELS))
    args = parser.parse_args(argv)
    convert(BUILTIN_MODELS[args.name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
