"""The GRPO memory estimate beside the one published GRPO measurement we found.

    .venv/bin/python bench/grpo_memory.py [--json FILE]

1. The issue's plan: Qwen2.5-1.5B-Instruct, LoRA, 8 completions of 512 tokens per
   prompt (one prompt per step), on a 24 GB card: the breakdown and the generation's
   share of the peak.
2. huggingface/trl issue #3456 (2025-05-23): GRPO without vLLM on an 80 GB A100,
   "batch-size = 4, max_prompt_length = 2048, max_completion_length = 1024", nvidia-smi
   showing 49,273 MiB for Qwen3-0.6B and 78,147 MiB for Qwen3-1.7B. The report does not
   give the method, the generations, the accumulation, checkpointing or beta; the rows
   below take trl's defaults of that time (a full fine-tune, beta 0.04, no gradient
   checkpointing, accumulation 1, groups of 4, and fp32 weights: trl 0.17 loaded a
   model named by id with transformers 4.x's default dtype, float32, under bf16
   autocast) and say the estimate's error against it. It is one loosely described
   figure, not a calibration point.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.config.yaml_io import load_config  # noqa: E402
from ftwizard.core.models import catalog  # noqa: E402
from ftwizard.core.planning.estimator import estimate  # noqa: E402

PLAN = [
    "method.objective=grpo",
    "method.adapter=lora",
    "training.bf16=true",
    "training.per_device_train_batch_size=8",
    "training.gradient_accumulation_steps=1",
    "training.max_length=256",
    "rl.num_generations=8",
    "rl.max_completion_length=512",
]
TRL_3456 = [
    "method.objective=grpo",
    "method.adapter=full",
    "method.beta=0.04",
    "model.dtype=float32",
    "training.bf16=true",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "training.gradient_checkpointing=false",
    "training.max_length=2048",
    "rl.num_generations=4",
    "rl.max_completion_length=1024",
]
MEASURED_MIB = {"Qwen/Qwen3-0.6B": 49_273, "Qwen/Qwen3-1.7B": 78_147}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    qwen = catalog.lookup("Qwen/Qwen2.5-1.5B-Instruct")
    assert qwen is not None
    plan = estimate(qwen, load_config(None, PLAN))
    share = plan.breakdown_gib["generation"] / plan.peak_allocated_gib
    print("Qwen2.5-1.5B-Instruct, GRPO + LoRA, 8 x 512-token completions, bf16:")
    for key, value in plan.breakdown_gib.items():
        print(f"  {key:<16} {value:6.2f} GB")
    print(f"  peak {plan.peak_allocated_gib:.2f} GB, card {plan.device_total_gib:.2f} GB")
    print(f"  generation: {share:.1%} of the peak; {plan.notes[0]}")
    rows = []
    for name, mib in MEASURED_MIB.items():
        facts = catalog.lookup(name)
        assert facts is not None
        result = estimate(facts, load_config(None, TRL_3456))
        measured = mib / 1024
        error = result.device_total_gib / measured - 1
        rows.append(
            {"model": name, "estimate_gib": result.device_total_gib, "measured_gib": measured}
        )
        print(
            f"trl#3456 {name}: estimate {result.device_total_gib:.1f} GB, nvidia-smi "
            f"{measured:.1f} GB ({error:+.0%})"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"plan": plan.to_dict(), "generation_share": share, "trl_3456": rows}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
