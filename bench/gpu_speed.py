"""GPU speed grid: seconds per step of real ftwizard trainings across model sizes, methods,
micro-batches, sequence lengths and checkpointing, for the throughput model's calibration.

Each case runs the trainer's own ``train()`` (the code ``ftwizard --preset`` runs in its
detached process) in this one process, one case after another, so a grid of a dozen
cases fits in a few minutes of a lent card: no interpreter start or import per case.
Weights are random, of each model's real shape (``bench/gpu_check.py`` builds them):
weights change neither memory nor speed.

    python bench/gpu_speed.py --tokenizer FOLDER --json OUT.json [--budget-s 420] [--steps 8]

One row per case: the settings (Liger's kernels on where liger-kernel is installed, as
plans do), the median seconds per step of the trainer's step times after the first
log (steps 1-2 warm up; a log every 2 steps, as a log waits for the GPU),
tokens per second (padding included, as the trainer counts), and the peak memory. The
first row is the card's own bf16 matmul rate, the ceiling the model's efficiency is
measured against.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gpu_check import _as_yaml, build_model, write_dataset  # noqa: E402

BF16 = ["model.dtype=bfloat16", "training.bf16=true"]


def case(
    name: str, shape: str, method: str, batch: int, length: int, *extra: str
) -> dict[str, Any]:
    return {
        "name": name,
        "shape": shape,
        "settings": [
            *BF16,
            f"method.adapter={method}",
            f"training.per_device_train_batch_size={batch}",
            f"training.max_length={length}",
            "training.gradient_accumulation_steps=1",
            *extra,
        ],
    }


GC = "training.gradient_checkpointing=true"
NO_GC = "training.gradient_checkpointing=false"
VARIED = "data=varied"  # this bench's own switch: rows of many lengths, not all full
# Most informative first: the budget may stop the grid early.
CASES = [
    case("135m lora b1x512", "demo", "lora", 1, 512, NO_GC),
    case("135m lora b8x1024", "demo", "lora", 8, 1024, NO_GC),
    case("1.7b lora b4x2048 gc", "smollm2-1.7b", "lora", 4, 2048, GC),
    case("1.7b lora b4x2048", "smollm2-1.7b", "lora", 4, 2048, NO_GC),
    case("1.7b lora b1x1024", "smollm2-1.7b", "lora", 1, 1024, NO_GC),
    case("1.7b qlora b4x2048 gc", "smollm2-1.7b", "qlora", 4, 2048, GC),
    case("1.7b full b4x1024 gc", "smollm2-1.7b", "full", 4, 1024, GC),
    case("8b lora b2x2048 gc", "llama-3-8b", "lora", 2, 2048, GC),
    case("8b qlora b2x2048 gc", "llama-3-8b", "qlora", 2, 2048, GC),
    case("135m lora b32x2048", "demo", "lora", 32, 2048, NO_GC),
    case("135m full b8x1024", "demo", "full", 8, 1024, NO_GC),
    case("135m qlora b8x1024", "demo", "qlora", 8, 1024, NO_GC),
    case("1.7b lora b16x2048 gc", "smollm2-1.7b", "lora", 16, 2048, GC),
    case("1.7b lora b16x2048 gc varied", "smollm2-1.7b", "lora", 16, 2048, GC, VARIED),
    case("8b lora b8x2048 gc", "llama-3-8b", "lora", 8, 2048, GC),
    case("1.7b lora b4x2048 gc ga4", "smollm2-1.7b", "lora", 4, 2048, GC,
         "training.gradient_accumulation_steps=4"),
]  # fmt: skip

# Cases the throughput model is not fitted on: other shapes (a 151k vocabulary, 3B),
# lengths, ranks and batch sizes, to check its predictions on.
HOLDOUT = [
    case("0.5b-qwen lora b8x1024", "qwen2.5-0.5b", "lora", 8, 1024, NO_GC),
    case("3b lora b4x2048 gc", "llama-3.2-3b", "lora", 4, 2048, GC),
    case("1.7b lora b1x8192 gc", "smollm2-1.7b", "lora", 1, 8192, GC),
    case("1.7b lora b8x512", "smollm2-1.7b", "lora", 8, 512, NO_GC),
    case("135m lora b64x512", "demo", "lora", 64, 512, NO_GC),
    case("3b qlora b8x1024 gc", "llama-3.2-3b", "qlora", 8, 1024, GC),
    case("0.5b-qwen full b8x1024", "qwen2.5-0.5b", "full", 8, 1024, NO_GC),
    case("1.7b lora r64 b4x2048 gc", "smollm2-1.7b", "lora", 4, 2048, GC, "lora.r=64"),
    case("8b lora b1x4096 gc", "llama-3-8b", "lora", 1, 4096, GC),
    case("1.7b full b8x2048 gc", "smollm2-1.7b", "full", 8, 2048, GC),
    case("135m full b32x2048", "demo", "full", 32, 2048, NO_GC),
]  # fmt: skip


def matmul_tflops() -> float:
    """The card's bf16 matmul rate on 8192^3 products (mean of 10 after 3 warm-ups)."""
    import torch

    if not torch.cuda.is_available():  # a CPU smoke run of this script
        return 0.0
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return 2 * 8192**3 * 10 / (time.perf_counter() - started) / 1e12


def write_varied(path: Path) -> None:
    """Chats of 20 to 1,500 words: micro-batches pad to their longest row."""
    import random

    from bench.gpu_check import WORDS

    rng = random.Random(1)
    with path.open("w") as handle:
        for index in range(256):
            answer = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 1500)))
            messages = [
                {"role": "user", "content": f"Tell story number {index}."},
                {"role": "assistant", "content": answer},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")


def liger_available() -> bool:
    import torch

    from ftwizard.core.planning.kernels import liger_installed

    return torch.cuda.is_available() and liger_installed()


def run_case(
    spec: dict[str, Any], model: Path, data: Path, work: Path, steps: int
) -> dict[str, Any]:
    import torch

    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.core.runs.folder import create_run
    from ftwizard.trainer.run import train

    name = "speed-" + spec["name"].replace(" ", "-").replace(".", "")
    settings = [
        f"model.model_name_or_path={model}",
        f"data.path={data}",
        f"training.max_steps={steps}",
        "training.learning_rate=0.0002",
        # A log waits for the GPU: every other step, and the seconds come from the
        # trainer's step times (means over the steps between logs).
        "training.logging_steps=2",
        # What a plan turns on where liger-kernel is installed (core/planning/kernels.py).
        f"training.use_liger_kernel={liger_available()}",
        "evaluation.val_size=0",
        f"checkpointing.save_steps={steps * 10}",
        f"output.runs_root={work / 'runs'}",
        f"output.run_name={name}",
        *[s for s in spec["settings"] if s != VARIED],
    ]
    preset = work / f"{name}.yaml"
    preset.write_text("\n".join(_as_yaml(settings)) + "\n")
    config = load_config(preset)
    run = create_run(config)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.time()
    code = train(run, None)
    wall = time.time() - started
    events = [json.loads(line) for line in (run.path / "events.jsonl").open()]
    logs = [e for e in events if e.get("type") == "log"]
    row: dict[str, Any] = {
        "case": spec["name"],
        "settings": spec["settings"],
        "use_liger_kernel": config.training.use_liger_kernel,
        "exit": code,
    }
    if code != 0 or len(logs) < 3:
        return {**row, "error": f"exit {code}, {len(logs)} logs"}
    steady = logs[1:]  # the first two steps warm up
    seconds = [e["step_times"]["step_s"] for e in steady if e.get("step_times")]
    tokens = [e["tokens_per_s"] for e in steady if e.get("tokens_per_s")]
    data_event = next((e for e in events if e.get("type") == "data"), {})
    return {
        **row,
        "seconds_per_step": round(statistics.median(seconds), 4),
        "seconds_per_step_all": [round(s, 4) for s in seconds],
        "tokens_per_s": round(statistics.median(tokens), 1) if tokens else None,
        "peak_allocated_gb": round(torch.cuda.max_memory_allocated() / 1024**3, 3) if cuda else 0,
        "wall_s": round(wall, 1),
        "rows_train": data_event.get("rows_train"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no case after")
    parser.add_argument("--holdout", action="store_true", help="the cases not fitted on")
    parser.add_argument("--only", help="cases whose name contains one of these (comma list)")
    args = parser.parse_args()
    import torch

    begun = time.time()
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "matmul_bf16_tflops": round(matmul_tflops(), 1),
        "rows": [],
    }
    print(f"{result['device']}: bf16 matmul {result['matmul_bf16_tflops']} TFLOP/s", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ftwizard-speed-"))
    full, varied = work / "long-chats.jsonl", work / "varied-chats.jsonl"
    write_dataset(full, rows=256, words=3000)
    write_varied(varied)
    for spec in HOLDOUT if args.holdout else CASES:
        if args.only and not any(p in spec["name"] for p in args.only.split(",")):
            continue
        if time.time() - begun > args.budget_s:
            print(f"{spec['name']:<32} skipped: past the budget", flush=True)
            continue
        try:
            model = build_model(spec["shape"], args.tokenizer, work / "models")
            data = varied if VARIED in spec["settings"] else full
            row = run_case(spec, model, data, work, args.steps)
        except Exception:
            row = {"case": spec["name"], "error": traceback.format_exc()[-1500:]}
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        result["rows"].append(row)
        args.json.write_text(json.dumps(result, indent=1))
        if "error" in row:
            print(f"{spec['name']:<32} failed: {row['error'][-600:]}", flush=True)
        else:
            print(
                f"{row['case']:<32}{row['seconds_per_step']:>8.3f} s/step"
                f"{row['tokens_per_s'] or 0:>10.0f} tok/s{row['peak_allocated_gb']:>7.2f} GiB"
                f"{row['wall_s']:>7.1f} s",
                flush=True,
            )
    print(f"total {time.time() - begun:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
