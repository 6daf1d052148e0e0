"""The estimator against published peak-memory measurements (../shared/vram).

Each usable row of ``calibration_points.csv`` is translated into a model shape and
a run configuration as close as the row's stack allows, then the estimate is
compared with the measured peak. The rows come from LitGPT and torchtune, not
from ftwizard's transformers + peft + trl stack, so their errors measure how far
the physics carries across stacks, not a fit: nothing in the estimator is tuned
to these rows. Rows that cannot be mapped (optimizer-in-backward, unstated
settings, out-of-memory markers, rows flagged as suspect) are listed as skipped.

    .venv/bin/python bench/calibration.py
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.config.yaml_io import load_config  # noqa: E402
from ftwizard.core.models import catalog  # noqa: E402
from ftwizard.core.models.facts import ModelFacts, facts_from_config  # noqa: E402
from ftwizard.core.planning.estimator import GIB, LossImpl, estimate  # noqa: E402

CSV_PATH = ROOT.parent / "shared" / "vram" / "calibration_points.csv"


def _llama(
    h: int,
    layers: int,
    heads: int,
    kv: int,
    inter: int,
    vocab: int,
    tied: bool,
    model_type: str = "llama",
    head_dim: int | None = None,
) -> dict[str, Any]:
    config = {
        "model_type": model_type,
        "hidden_size": h,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": inter,
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
    }
    if head_dim:
        config["head_dim"] = head_dim
    return config


# Two-matrix GELU MLPs (phi, GPT-NeoX, Falcon) are written as a SwiGLU of equal size.
SHAPES: dict[str, dict[str, Any]] = {
    "phi-1.5": _llama(2048, 24, 32, 32, 8192 * 2 // 3, 51200, False),
    "phi-2": _llama(2560, 32, 32, 32, 10240 * 2 // 3, 51200, False),
    "stablelm-base-alpha-3b": _llama(4096, 16, 32, 32, 16384 * 2 // 3, 50688, False),
    "falcon-7b": _llama(4544, 32, 71, 1, 18176 * 2 // 3, 65024, False),
    "LLaMA/Llama-2-7B": _llama(4096, 32, 32, 32, 11008, 32000, False),
    "LLaMA/Llama-2-13B": _llama(5120, 40, 40, 40, 13824, 32000, False),
    "Mistral-7B": _llama(4096, 32, 32, 8, 14336, 32000, False, "mistral"),
    "TinyLlama-1.1B": _llama(2048, 22, 32, 4, 5632, 32000, False),
    "gemma-2b": _llama(2048, 18, 8, 1, 16384, 256000, True, "gemma", 256),
    "gemma-7b": _llama(3072, 28, 16, 16, 24576, 256000, True, "gemma", 256),
}
CATALOG = {
    "Llama-3/3.1-8B": "meta-llama/Llama-3.1-8B",
    "Llama-3.2-1B": "meta-llama/Llama-3.2-1B",
    "Llama-3.2-3B": "meta-llama/Llama-3.2-3B",
}
TARGETS = {
    "q,v": "q_proj,v_proj",
    "all linear + lm_head": "all-linear",
    "all linear + output proj": "all-linear",
    "q,k,v,o + MLP": "all-linear",
    "q,k,v,o+MLP": "all-linear",
    "q,v,o + MLP": "q_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
}
OPTIMIZERS = [
    ("PagedAdamW8bit", "paged_adamw_8bit"),
    ("AdamW8bit", "adamw_8bit"),
    ("PagedAdamW", "paged_adamw_32bit"),
    ("SGD", "sgd"),
    ("AdamW", "adamw_torch"),
]


@dataclass
class Point:
    row_id: str
    label: str
    measured_gib: float
    predicted_gib: float

    @property
    def error(self) -> float:
        return (self.predicted_gib - self.measured_gib) / self.measured_gib


def _facts(model: str) -> ModelFacts | None:
    if model in CATALOG:
        return catalog.lookup(CATALOG[model])
    shape = SHAPES.get(model)
    return None if shape is None else facts_from_config(dict(shape), model, "calibration shape")


def _seq_len(text: str) -> int | None:
    match = re.search(r"(\d{3,5})", text)
    return int(match.group(1)) if match else None


def _translate(row: dict[str, str]) -> tuple[ModelFacts, list[str], LossImpl, str] | str:
    """(facts, overrides, loss implementation, what to compare) or why it is skipped."""
    notes = row["notes"] + row["optimizer"] + row["measured_peak"]
    if row["grade"] == "C" or "SUSPECT" in notes or "OOM" in notes:
        return "grade C, suspect or an out-of-memory marker"
    if (
        "opt_in_bwd" in notes
        or "optimizer_in_bwd" in notes
        or "offload" in row["grad_checkpointing"]
    ):
        return "optimizer-in-backward or offloading: not something the trainer does"
    facts = _facts(row["model"])
    seq = _seq_len(row["seq_len"])
    if facts is None or seq is None:
        return "model shape or sequence length not stated"
    method = {"LoRA": "lora", "QLoRA": "qlora", "Full": "full"}[row["method"]]
    optim = next((name for key, name in OPTIMIZERS if key in row["optimizer"]), "adamw_torch")
    overrides = [
        f"method.adapter={method}",
        "training.bf16=true",
        f"training.per_device_train_batch_size={int(row['batch_size'])}",
        f"training.max_length={seq}",
        f"training.gradient_checkpointing={row['grad_checkpointing'].startswith('yes')}",
        f"training.optim={optim}",
        f"method.bnb_4bit_use_double_quant={'dq' in row['precision_quant']}",
        "training.packing=true",  # litgpt and torchtune pass no padding mask to attention
    ]
    if "fp32 weights" in row["precision_quant"]:
        overrides.append("model.dtype=float32")
    if method != "full":
        overrides += [
            f"lora.r={int(row['lora_r'])}",
            f"lora.target_modules={TARGETS[row['lora_targets']]}",
            f"lora.lora_dropout={0.05 if 'dropout 0.05' in row['notes'] else 0.0}",
        ]
    chunked = "chunked CE" in row["notes"]
    return facts, overrides, "chunked" if chunked else "full", row["what_was_measured"]


def points(path: Path = CSV_PATH) -> tuple[list[Point], list[tuple[str, str]]]:
    used: list[Point] = []
    skipped: list[tuple[str, str]] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            translated = _translate(row)
            if isinstance(translated, str):
                skipped.append((row["id"], translated))
                continue
            facts, overrides, loss_impl, measured_what = translated
            predicted = estimate(facts, load_config(None, overrides), loss_impl=loss_impl)
            value = predicted.peak_allocated_gib
            if "reserved" in measured_what:
                value *= 1.07  # the caching allocator's slack
            measured = float(row["measured_peak"])
            if row["unit"] == "GB":
                measured = measured * 1e9 / GIB  # LitGPT prints decimal gigabytes
            label = f"{row['model']} {row['method']} b{row['batch_size']} {row['seq_len'][:14]}"
            used.append(Point(row["id"], label, measured, value))
    return used, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    used, skipped = points()
    print(f"{'id':>4} {'run':<52}{'measured':>10}{'estimate':>10}{'error':>8}")
    for point in used:
        print(
            f"{point.row_id:>4} {point.label:<52}{point.measured_gib:>9.2f}G"
            f"{point.predicted_gib:>9.2f}G{point.error:>+8.0%}"
        )
    errors = [abs(p.error) for p in used]
    within = sum(e <= 0.15 for e in errors) / len(errors)
    print(
        f"{len(used)} rows compared, {len(skipped)} skipped; median |error| "
        f"{statistics.median(errors):.1%}; within 15%: {within:.0%}"
    )
    if args.json:
        summary = {"rows": len(used), "skipped": len(skipped)}
        summary.update(median_error=statistics.median(errors), share_within_15=within)
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
