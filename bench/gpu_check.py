"""GPU check: real ftwizard runs on CUDA, measured memory against the estimator.

Each case builds a model folder of a real model's shape with random weights
(weights do not change memory or speed, and a GPU machine without Hub access
cannot fetch the real ones), writes a preset, runs ``ftwizard --preset`` (the
detached trainer, followed to the end) and reads the run's events: the peak of
``torch.cuda.max_memory_allocated``, tokens per second and seconds per step. A
thread polls NVML meanwhile for the most memory the card had in use (what
``nvidia-smi`` shows). The prediction comes from ``ftwizard estimate --preset
FILE --json``: the numbers the plan shows a person.

    python bench/gpu_check.py --tokenizer FOLDER [--only NAME] [--steps 15] [--json out.json]

FOLDER holds a tokenizer (and the demo model's config.json, for the demo shape),
e.g. ``.cache/models/smollm2-135m-instruct``. The sequences are synthetic chats
longer than ``max_length``, so every micro-batch is full, as the estimator assumes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3

SMOLLM2_1_7B = {
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 24,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
    "max_position_embeddings": 8192,
    "rope_theta": 130000.0,
}
LLAMA_3_8B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
}


@dataclass
class Case:
    name: str
    shape: str  # "demo" (the tokenizer folder's config.json) or a key of SHAPES
    overrides: list[str] = field(default_factory=list)


QWEN2_5_0_5B = {
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
}
LLAMA_3_2_3B = {
    "model_type": "llama",
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 28,
    "num_attention_heads": 24,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": True,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
}
SHAPES: dict[str, dict[str, Any]] = {
    "smollm2-1.7b": SMOLLM2_1_7B,
    "llama-3-8b": LLAMA_3_8B,
    "qwen2.5-0.5b": QWEN2_5_0_5B,
    "llama-3.2-3b": LLAMA_3_2_3B,
}
BF16 = ["model.dtype=bfloat16", "training.bf16=true"]
CASES = [
    Case("demo lora b8x1024", "demo", [*BF16, "method.adapter=lora"]),
    Case("demo qlora b8x1024", "demo", [*BF16, "method.adapter=qlora"]),
    Case("demo full b8x1024", "demo", [*BF16, "method.adapter=full"]),
    Case(
        "1.7b lora b4x2048 gc",
        "smollm2-1.7b",
        [*BF16, "method.adapter=lora", "training.per_device_train_batch_size=4",
         "training.max_length=2048", "training.gradient_checkpointing=true"],
    ),
    Case(
        "1.7b qlora b4x2048 gc",
        "smollm2-1.7b",
        [*BF16, "method.adapter=qlora", "training.per_device_train_batch_size=4",
         "training.max_length=2048", "training.gradient_checkpointing=true"],
    ),
    Case(
        "8b qlora b2x2048 gc",
        "llama-3-8b",
        [*BF16, "method.adapter=qlora", "training.per_device_train_batch_size=2",
         "training.max_length=2048", "training.gradient_checkpointing=true"],
    ),
    Case(
        "1.7b full b4x1024 gc",
        "smollm2-1.7b",
        [*BF16, "method.adapter=full", "training.per_device_train_batch_size=4",
         "training.gradient_checkpointing=true"],
    ),
]  # fmt: skip

WORDS = (
    "the model learns from every example it reads and the answers grow longer as the "
    "story goes on through rivers mountains cities machines gardens letters numbers "
    "music engines bridges lamps clocks windows trains harbours forests deserts islands"
).split()


def write_dataset(path: Path, rows: int, words: int) -> None:
    """Chats whose answers are longer than any max_length tried here."""
    rng = random.Random(0)
    with path.open("w") as handle:
        for index in range(rows):
            answer = " ".join(rng.choice(WORDS) for _ in range(words))
            messages = [
                {"role": "user", "content": f"Tell story number {index}."},
                {"role": "assistant", "content": answer},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")


def build_model(shape: str, tokenizer: Path, folder: Path) -> Path:
    """A folder with random weights of ``shape`` and the tokenizer's files; made once."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target = folder / shape
    if (target / "config.json").exists():
        return target
    if shape == "demo":
        config = AutoConfig.from_pretrained(tokenizer)
    else:
        config = AutoConfig.for_model(**SHAPES[shape])
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(target)
    del model
    torch.cuda.empty_cache()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tokenizer / name).exists():
            shutil.copy(tokenizer / name, target / name)
    return target


class MemoryPoll(threading.Thread):
    """The most memory NVML reports in use on GPU 0 above ``baseline``, every 0.1 s."""

    def __init__(self, baseline: int) -> None:
        super().__init__(daemon=True)
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.baseline = baseline
        self.peak = baseline
        self._done = threading.Event()

    def _used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def run(self) -> None:
        while not self._done.wait(0.1):
            self.peak = max(self.peak, self._used())

    def finish(self) -> float:
        self._done.set()
        self.join()
        return (self.peak - self.baseline) / GIB


def nvml_used() -> int | None:
    """Bytes in use on GPU 0 now; None without a driver (a CPU smoke run)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used)
    except Exception:
        return None


def wait_for_exit(run: Path, timeout: float = 120.0) -> None:
    """`ftwizard --preset` returns at the final status; the trainer may still be exiting,
    holding its GPU memory, which the next case's NVML figure must not count."""
    import psutil

    pid = json.loads((run / "status.json").read_text()).get("pid")
    deadline = time.time() + timeout
    while isinstance(pid, int) and psutil.pid_exists(pid) and time.time() < deadline:
        time.sleep(0.2)


def ftwizard(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ftwizard.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def run_case(
    case: Case, model: Path, data: Path, runs: Path, steps: int, extra: list[str], idle: int | None
) -> dict[str, Any]:
    name = "gpu-" + case.name.replace(" ", "-").replace(".", "")
    runs.mkdir(parents=True, exist_ok=True)
    preset = runs / f"{name}.yaml"
    settings = [
        f"model.model_name_or_path={model}",
        f"data.path={data}",
        "training.max_length=1024",
        "training.per_device_train_batch_size=8",
        f"training.max_steps={steps}",
        "training.learning_rate=0.0002",
        "evaluation.val_size=0",
        f"checkpointing.save_steps={steps * 10}",
        f"output.runs_root={runs}",
        f"output.run_name={name}",
        *case.overrides,
        *extra,
    ]
    preset.write_text("\n".join(_as_yaml(settings)) + "\n")
    row: dict[str, Any] = {"case": case.name}
    planned = ftwizard("estimate", "--preset", str(preset), "--json", timeout=120)
    if planned.returncode != 0:
        return {**row, "error": "estimate failed: " + planned.stderr.strip()[-400:]}
    estimate = json.loads(planned.stdout)
    row.update(
        predicted_peak_gb=estimate["peak_allocated_gb"],
        predicted_total_gb=estimate["device_total_gb"],
    )
    poll = MemoryPoll(idle) if idle is not None else None
    if poll:
        poll.start()
    started = time.time()
    try:
        trained = ftwizard("--preset", str(preset), timeout=900)
    finally:
        wait_for_exit(runs / name)
        nvml_gib = poll.finish() if poll else float("nan")
    row["wall_s"] = round(time.time() - started, 1)
    events = [json.loads(line) for line in (runs / name / "events.jsonl").open()]
    logs = [e for e in events if e.get("type") == "log"]
    if trained.returncode != 0 or not logs:
        tail = (runs / name / "trainer.log").read_text()[-800:]
        return {**row, "error": f"exit {trained.returncode}: {tail}"}
    steady = logs[3:] or logs
    seconds = [b["time"] - a["time"] for a, b in zip(steady[:-1], steady[1:], strict=True)]
    seconds = seconds or [float("nan")]
    tokens = [e["tokens_per_s"] for e in steady if e.get("tokens_per_s")]
    row.update(
        measured_peak_gb=max(e.get("gpu_peak_gb", float("nan")) for e in logs),
        measured_reserved_gb=max(e.get("gpu_reserved_gb", float("nan")) for e in logs),
        measured_nvml_gb=round(nvml_gib, 3),
        seconds_per_step=round(statistics.median(seconds), 3),
        tokens_per_s=round(statistics.median(tokens), 1) if tokens else None,
        final_loss=logs[-1].get("loss"),
        steps=logs[-1]["step"],
    )
    row["peak_error"] = round(
        (row["predicted_peak_gb"] - row["measured_peak_gb"]) / row["measured_peak_gb"], 4
    )
    if row["measured_nvml_gb"] > 0:
        row["total_error"] = round(
            (row["predicted_total_gb"] - row["measured_nvml_gb"]) / row["measured_nvml_gb"], 4
        )
    return row


def _as_yaml(settings: list[str]) -> list[str]:
    """Dotted ``key=value`` settings as nested YAML (later settings win)."""
    tree: dict[str, dict[str, str]] = {}
    for setting in settings:
        key, value = setting.split("=", 1)
        section, leaf = key.split(".", 1)
        tree.setdefault(section, {})[leaf] = value
    lines = ["description: gpu_check case"]
    for section, values in tree.items():
        lines.append(f"{section}:")
        lines += [f"  {leaf}: {json.dumps(value) if '/' in value else value}"
                  for leaf, value in values.items()]  # fmt: skip
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument(
        "--only", help="run the cases whose name contains one of these (comma-separated)"
    )
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--json", type=Path, help="write the rows here after each case")
    parser.add_argument(
        "--set", dest="extra", action="append", default=[], help="KEY=VALUE for every case"
    )
    parser.add_argument("--budget-s", type=float, default=1e9, help="start no case after this")
    args = parser.parse_args()
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    print(f"device: {device}; torch {torch.__version__}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ftwizard-gpu-"))
    data = work / "long-chats.jsonl"
    write_dataset(data, rows=64, words=3000)
    started = time.time()
    idle = nvml_used()  # before any case: the driver's own share of the card
    rows: list[dict[str, Any]] = []
    header = f"{'case':<24}{'pred':>7}{'peak':>7}{'err':>7}{'pred+':>7}{'nvml':>7}{'err':>7}"
    print(header + f"{'s/step':>8}{'tok/s':>9}", flush=True)
    for case in CASES:
        if args.only and not any(part in case.name for part in args.only.split(",")):
            continue
        if time.time() - started > args.budget_s:
            print(f"{case.name:<24}skipped: past the time budget", flush=True)
            continue
        model = build_model(case.shape, args.tokenizer, work / "models")
        row = run_case(case, model, data, work / "runs", args.steps, args.extra, idle)
        rows.append(row)
        if "error" in row:
            print(f"{case.name:<24}failed: {row['error']}", flush=True)
            break  # the next cases would most likely fail the same way
        else:
            print(
                f"{row['case']:<24}{row['predicted_peak_gb']:>7.2f}{row['measured_peak_gb']:>7.2f}"
                f"{row['peak_error']:>+7.0%}{row['predicted_total_gb']:>7.2f}"
                f"{row['measured_nvml_gb']:>7.2f}{row.get('total_error', float('nan')):>+7.0%}"
                f"{row['seconds_per_step']:>8.3f}{row['tokens_per_s'] or 0:>9.0f}",
                flush=True,
            )
        if args.json:
            args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=2))
    errors = [abs(r["peak_error"]) for r in rows if "peak_error" in r]
    if errors:
        print(f"median |peak error| {statistics.median(errors):.1%} over {len(errors)} cases")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
