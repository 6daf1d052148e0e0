"""Measure the tensor memory of real training steps and compare it with the estimator.

Without a GPU there is no ``torch.cuda.max_memory_allocated``; instead a
``TorchDispatchMode`` counts the bytes of every live tensor storage, the same
quantity the CUDA caching allocator reports as "allocated". Training steps run
the way ftwizard's trainer runs them (transformers + peft + bitsandbytes, trl's
fused LM head, bf16 autocast) on a randomly initialised model of a chosen shape,
so any size that fits in RAM can be checked.

    .venv/bin/python bench/measure_memory.py            # the built-in grid, a table of errors
    .venv/bin/python bench/measure_memory.py --json out.json

This is how the activation coefficients in ``ftwizard/core/planning/estimator.py`` were
measured; run it again after upgrading transformers, peft, trl or bitsandbytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.config.schema import RunConfig  # noqa: E402
from ftwizard.core.config.yaml_io import load_config  # noqa: E402
from ftwizard.core.models.facts import facts_from_config  # noqa: E402
from ftwizard.core.planning.estimator import GIB, estimate  # noqa: E402


class LiveBytes(TorchDispatchMode):
    """Bytes of tensor storages alive now and at the peak, like CUDA's allocated counter."""

    def __init__(self, existing: list[torch.Tensor]) -> None:
        super().__init__()
        self._live: dict[int, int] = {}
        self.current = 0
        self.peak = 0
        for tensor in existing:
            self._track(tensor)

    def _free(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self._live or storage.nbytes() == 0:
            return
        self._live[key] = storage.nbytes()
        self.current += storage.nbytes()
        weakref.finalize(storage, self._free, key)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for item in tree_flatten(out)[0]:
            if isinstance(item, torch.Tensor) and item.device.type != "meta":
                self._track(item)
        self.peak = max(self.peak, self.current)
        return out


@dataclass
class Case:
    name: str
    shape: dict[str, Any]
    overrides: list[str]
    fused_head: bool = True


SMALL = {
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 6,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "vocab_size": 8192,
    "tie_word_embeddings": True,
    "max_position_embeddings": 8192,
}
WIDE = {
    **SMALL,
    "vocab_size": 49152,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_key_value_heads": 4,
    "num_hidden_layers": 4,
    "tie_word_embeddings": False,
}
# One optimiser step per backward, as measure() runs them (no accumulation).
BASE = [
    "training.bf16=true",
    "training.max_length=512",
    "training.gradient_checkpointing=false",
    "training.gradient_accumulation_steps=1",
]

CASES = [
    Case("lora all-linear", SMALL, [*BASE, "method.adapter=lora"]),
    Case(
        "lora q,v dropout 0",
        SMALL,
        [*BASE, "method.adapter=lora", "lora.lora_dropout=0", "lora.target_modules=q_proj,v_proj"],
    ),
    Case(
        "lora batch 2",
        SMALL,
        [*BASE, "method.adapter=lora", "training.per_device_train_batch_size=2"],
    ),
    Case(
        "lora checkpointing",
        SMALL,
        [*BASE, "method.adapter=lora", "training.gradient_checkpointing=true"],
    ),
    Case("qlora nf4", SMALL, [*BASE, "method.adapter=qlora"]),
    Case(
        "full adamw",
        SMALL,
        [*BASE, "method.adapter=full", "training.per_device_train_batch_size=1"],
    ),
    Case("full 8-bit adam", WIDE, [*BASE, "method.adapter=full", "training.optim=adamw_8bit"]),
    Case(
        "lora wide", WIDE, [*BASE, "method.adapter=lora", "training.per_device_train_batch_size=1"]
    ),
    Case("lora eager", SMALL, [*BASE, "method.adapter=lora", "training.attn_implementation=eager"]),
    Case("lora plain loss", SMALL, [*BASE, "method.adapter=lora"], fused_head=False),
]


def _build_model(shape: dict[str, Any], config: RunConfig) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    model_config = AutoConfig.for_model(**shape)
    attn = config.training.attn_implementation
    if config.method.adapter != "qlora":
        model = AutoModelForCausalLM.from_config(
            model_config, dtype=torch.bfloat16, attn_implementation=attn
        )
        return model
    # bitsandbytes quantises while loading: save a random model, then load it in 4 bit.
    with tempfile.TemporaryDirectory() as folder:
        AutoModelForCausalLM.from_config(model_config, dtype=torch.bfloat16).save_pretrained(folder)
        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=config.method.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=config.method.bnb_4bit_use_double_quant,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        return AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.bfloat16, attn_implementation=attn, quantization_config=quantization
        )


def _optimizer(params: list[torch.nn.Parameter], name: str) -> torch.optim.Optimizer:
    if name == "adamw_8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-4)
    return torch.optim.AdamW(params, lr=1e-4, foreach=True)


def measure(case: Case, steps: int = 2) -> dict[str, Any]:
    from peft import LoraConfig, get_peft_model
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    config = load_config(None, case.overrides)
    model = _build_model(case.shape, config)
    base = model
    if config.training.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if case.fused_head:
        add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    if config.method.adapter == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.training.gradient_checkpointing
        )
    if config.method.adapter != "full":
        lora = config.lora
        model = get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.lora_alpha,
                lora_dropout=lora.lora_dropout,
                target_modules=lora.target_modules,
                task_type="CAUSAL_LM",
            ),
        )
        model.enable_input_require_grads()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(params, config.training.optim)
    batch = config.training.per_device_train_batch_size
    ids = torch.randint(0, case.shape["vocab_size"], (batch, config.training.max_length))
    counter = LiveBytes([*model.parameters(), *model.buffers()])
    with counter:
        for _ in range(steps):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                if case.fused_head:
                    loss = model(input_ids=ids, labels=ids, fused_lm_head=True).loss
                else:
                    loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    facts = facts_from_config(dict(case.shape), name=case.name, source="bench")
    predicted = estimate(
        facts, config, loss_impl="chunked" if case.fused_head else "full", device="cpu"
    )
    del base
    measured = counter.peak / GIB
    return {
        "case": case.name,
        "measured_gib": round(measured, 4),
        "predicted_gib": predicted.peak_allocated_gib,
        "error": round((predicted.peak_allocated_gib - measured) / measured, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    print(f"{'case':<22}{'measured':>12}{'predicted':>12}{'error':>9}")
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        row = measure(case)
        rows.append(row)
        print(
            f"{row['case']:<22}{row['measured_gib']:>11.3f}G{row['predicted_gib']:>11.3f}G"
            f"{row['error']:>+9.1%}",
            flush=True,
        )
    errors = [abs(r["error"]) for r in rows]
    median, worst = statistics.median(errors), max(errors)
    print(f"median |error| {median:.1%}, max {worst:.1%} over {len(rows)} cases")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
