"""Fit the throughput model's GPU constants (``core/planning/throughput.py``) to measured runs, and
report every run's predicted seconds per step beside its measurement.

    python bench/throughput_fit.py [--json OUT]          # report with the shipped constants
    python bench/throughput_fit.py --fit [--json OUT]    # fit again, with leave-one-out

The runs are the GPU measurements in ``bench/data/``: ``gpu_speed_h200*.json``
(``bench/gpu_speed.py``) and ``gpu_check_h100.json`` (``bench/gpu_check.py``). Each case
name says its shape, method, micro-batch x tokens, checkpointing (gc) and accumulation
(ga4). Leave-one-out: each run predicted by constants fitted without it, the honest
figure for configurations not measured.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gpu_check import SHAPES  # noqa: E402
from ftwizard.core.config.schema import RunConfig  # noqa: E402
from ftwizard.core.config.yaml_io import load_config  # noqa: E402
from ftwizard.core.hardware.gpus import find_gpu  # noqa: E402
from ftwizard.core.models.facts import ModelFacts, facts_from_config  # noqa: E402
from ftwizard.core.planning.throughput import (  # noqa: E402
    GPU_CONSTANTS,
    Constants,
    Device,
    Lengths,
    step_time,
)

DATA = ROOT / "bench" / "data"
SMOLLM2_135M = {
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
SHAPE_OF = {
    "135m": SMOLLM2_135M,
    "1.7b": SHAPES["smollm2-1.7b"],
    "8b": SHAPES["llama-3-8b"],
    "0.5b-qwen": SHAPES["qwen2.5-0.5b"],
    "3b": SHAPES["llama-3.2-3b"],
}
CARD_OF = {"NVIDIA H200": "H200", "NVIDIA H100 80GB HBM3": "H100"}


def case_config(name: str) -> tuple[ModelFacts, RunConfig, Lengths]:
    """The model, the run configuration and the lengths a case name describes."""
    words = name.split()
    size = re.search(r"b(\d+)x(\d+)", name)
    assert size, name
    batch, length = int(size[1]), int(size[2])
    settings = [
        "model.model_name_or_path=x",
        f"method.adapter={words[1]}",
        f"training.per_device_train_batch_size={batch}",
        f"training.max_length={length}",
        f"training.gradient_checkpointing={'gc' in words}",
        f"training.gradient_accumulation_steps={4 if 'ga4' in words else 1}",
    ]
    model = facts_from_config(SHAPE_OF[words[0]], words[0], "bench")
    return model, load_config(None, settings), Lengths(length, length)


def runs() -> list[dict[str, Any]]:
    rows = []
    for path in sorted(DATA.glob("gpu_*.json")):
        data = json.loads(path.read_text())
        card = find_gpu(CARD_OF[data["device"]])
        for row in data["rows"]:
            if "seconds_per_step" not in row or "varied" in row["case"]:
                continue  # varied lengths: padded to the longest, as the full-length case
            model, config, lengths = case_config(row["case"])
            rows.append(
                {
                    "file": path.name,
                    "case": row["case"],
                    "card": card,
                    "model": model,
                    "config": config,
                    "lengths": lengths,
                    "measured": row["seconds_per_step"],
                }
            )
    return rows


def predict(run: dict[str, Any], constants: Constants) -> float:
    card = run["card"]
    device = Device(card.tflops * 1e12, card.bandwidth_tbs * 1e12, constants)
    return step_time(run["model"], run["config"], run["lengths"], device).seconds_per_step


# The fitted constants, as a vector of logs (they are all positive).
def to_vector(k: Constants) -> list[float]:
    return [
        math.log(v)
        for v in (
            k.matmul_share,
            k.matmul_half_width,
            k.bytes_per_token_layer_hidden,
            k.lora_bytes_per_token_layer_hidden,
            k.floor_ms_per_layer["full"],
            k.floor_ms_per_layer["lora"],
            k.floor_ms_per_layer["qlora"],
            k.checkpointing_floor_factor,
            k.blend,
        )
    ]


def from_vector(x: list[float]) -> Constants:
    v = [math.exp(value) for value in x]
    return Constants(
        matmul_share=min(v[0], 1.0),
        matmul_half_width=v[1],
        bytes_per_token_layer_hidden=v[2],
        lora_bytes_per_token_layer_hidden=v[3],
        floor_ms_per_layer={"full": v[4], "lora": v[5], "qlora": v[6]},
        checkpointing_floor_factor=max(v[7], 1.0),
        blend=max(v[8], 1.0),
    )


def loss(x: list[float], data: list[dict[str, Any]]) -> float:
    k = from_vector(x)
    return sum(math.log(predict(run, k) / run["measured"]) ** 2 for run in data)


def nelder_mead(f: Any, start: list[float], step: float = 0.3, rounds: int = 3000) -> list[float]:
    """Minimise ``f`` from ``start`` (a plain Nelder-Mead; the model has 9 constants)."""
    n = len(start)
    simplex = [start] + [[v + (step if i == j else 0.0) for j, v in enumerate(start)]
                         for i in range(n)]  # fmt: skip
    scores = [f(p) for p in simplex]
    for _ in range(rounds):
        order = sorted(range(n + 1), key=lambda i: scores[i])
        simplex, scores = [simplex[i] for i in order], [scores[i] for i in order]
        centre = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]
        reflected = [c + (c - w) for c, w in zip(centre, worst, strict=True)]
        r = f(reflected)
        if r < scores[0]:
            expanded = [c + 2 * (c - w) for c, w in zip(centre, worst, strict=True)]
            e = f(expanded)
            simplex[-1], scores[-1] = (expanded, e) if e < r else (reflected, r)
        elif r < scores[-2]:
            simplex[-1], scores[-1] = reflected, r
        else:
            contracted = [c + 0.5 * (w - c) for c, w in zip(centre, worst, strict=True)]
            c_score = f(contracted)
            if c_score < scores[-1]:
                simplex[-1], scores[-1] = contracted, c_score
            else:
                best = simplex[0]
                simplex = [best] + [[b + 0.5 * (p - b) for b, p in zip(best, q, strict=True)]
                                    for q in simplex[1:]]  # fmt: skip
                scores = [scores[0]] + [f(p) for p in simplex[1:]]
    return simplex[min(range(n + 1), key=lambda i: scores[i])]


def fit(
    data: list[dict[str, Any]], start: Constants, restarts: int = 3, rounds: int = 3000
) -> Constants:
    x = to_vector(start)
    for _ in range(restarts):  # restarts around the last best
        x = nelder_mead(lambda p: loss(p, data), x, rounds=rounds)
    return from_vector(x)


def report(rows: list[tuple[str, str, float, float]], title: str) -> dict[str, float]:
    print(title)
    errors, ratios = [], []
    for file, case, measured, predicted in rows:
        error = predicted / measured - 1
        errors.append(abs(error))
        ratios.append(max(predicted / measured, measured / predicted))
        print(f"  {file:28}{case:32}{measured:8.3f}{predicted:8.3f}{error:+8.0%}")
    summary = {
        "median_abs_error": statistics.median(errors),
        "max_abs_error": max(errors),
        "max_ratio": max(ratios),  # the worst, either way: 2.0 is "2x off"
    }
    print(
        f"  median |error| {summary['median_abs_error']:.1%}, worst {summary['max_abs_error']:.1%}"
    )
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fit", action="store_true", help="fit the constants again")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    data = runs()
    result: dict[str, Any] = {"runs": len(data)}
    constants = GPU_CONSTANTS
    if args.fit:
        constants = fit(data, GPU_CONSTANTS)
        print("fitted:", constants)
        held_out = []
        for index, run in enumerate(data):
            others = data[:index] + data[index + 1 :]
            k = fit(others, constants, restarts=1, rounds=1000)  # from the full fit
            held_out.append((run["file"], run["case"], run["measured"], predict(run, k)))
        result["leave_one_out"] = report(held_out, "leave-one-out (each run unseen by its fit)")
    shipped = [(r["file"], r["case"], r["measured"], predict(r, constants)) for r in data]
    result["fitted"] = report(shipped, "seconds per step: measured, predicted")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
