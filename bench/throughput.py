"""Training overhead: `ftwizard --preset` against a plain trl script on the identical job.

Both train the demo model (SmolLM2-135M-Instruct, LoRA r16 all-linear, batch 4,
max_length 256; ``--method qlora``: the same on a 4-bit NF4 base, as bitsandbytes runs
it on the CPU) on the demo dataset for the same number of steps, each in its own
process, with the base dtype ftwizard resolves for this machine and the preset's
dropout (so only the engines differ: on a CPU ftwizard's SFT loss is the model's own,
trl's is its fused head; for QLoRA trl casts the adapter to bf16 whatever the compute
dtype, which this CPU emulates, and ftwizard keeps it in fp32); the figure is seconds
per step between the first and the last logged step
(model loading and saving excluded), so the ratio is throughput(ftwizard) /
throughput(plain trl). Goal: at least 0.97. The two run back to back as a pair, which
goes first alternating from pair to pair; the figure is the median of the pairs' ratios
(on a shared 2-core VM, runs of one program minutes apart differ by up to 25%, the two
runs of a pair far less). How much the pairs disagree is printed beside it: the ratio
cannot resolve less. The time ftwizard's own callbacks add to a step is also measured
on its own, which is precise.

    .venv/bin/python bench/throughput.py [--steps 20] [--repeats 3] [--method lora|qlora]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "demo" / "wizard-identity.jsonl"

PLAIN_TRL = r"""
import json, sys, time, torch
from datasets import Dataset
from peft import LoraConfig, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, TrainerCallback
from trl import SFTConfig, SFTTrainer

folder, data, out, method = sys.argv[1], sys.argv[2], sys.argv[4], sys.argv[5]
steps, dtype, dropout = int(sys.argv[3]), getattr(torch, sys.argv[6]), float(sys.argv[7])
rows = [json.loads(line) for line in open(data)]
# The same loss as ftwizard's trainer uses for this template: the final answer.
rows = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
times = []

class Clock(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            times.append(time.time())

args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=4,
                 gradient_accumulation_steps=1, learning_rate=5e-4, logging_steps=1,
                 save_strategy="no", report_to=[], max_length=256, use_cpu=True,
                 disable_tqdm=True, seed=42, warmup_steps=0.05, lr_scheduler_type="cosine",
                 # everything else as the preset says (trl's own defaults differ)
                 gradient_checkpointing=False, optim="adamw_torch", bf16=False, fp16=False,
                 weight_decay=0.0, max_grad_norm=1.0, dataloader_num_workers=0)
if method == "qlora":  # the usual recipe: 4-bit NF4, double quantisation, k-bit preparation
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                 quantization_config=quantization)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
else:
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                     processing_class=AutoTokenizer.from_pretrained(folder),
                     peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=dropout,
                                            target_modules="all-linear", task_type="CAUSAL_LM"),
                     callbacks=[Clock()])
trainer.train()
print(json.dumps({"seconds_per_step": (times[-1] - times[0]) / (len(times) - 1)}))
"""


def ftwizard_run(steps: int, root: Path, name: str, method: str) -> tuple[float, float]:
    """Seconds per step measured, and as the plan predicted them at launch."""
    command = [
        sys.executable,
        "-m",
        "ftwizard.cli.main",
        "--preset",
        "demo-cpu",
        "--set",
        f"training.max_steps={steps}",
        "--set",
        "evaluation.val_size=0",
        "--set",
        f"checkpointing.save_steps={steps * 10}",
        "--set",
        f"output.runs_root={root}",
        "--set",
        f"output.run_name={name}",
        "--set",
        f"method.adapter={method}",
    ]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    from ftwizard.core.runs.events import Log
    from ftwizard.core.runs.folder import RunFolder

    run = RunFolder(root / name)
    times = [e.time for e in run.read_events()[0] if isinstance(e, Log)]
    planned = run.read_status().estimate_s_per_step
    assert planned is not None, f"{name} has no planned step time"
    return (times[-1] - times[0]) / (len(times) - 1), planned


def plain_run(steps: int, folder: str, out: Path, method: str, job: tuple[str, float]) -> float:
    dtype, dropout = job
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_TRL, folder, str(DATA), str(steps), str(out), method]
        + [dtype, str(dropout)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["seconds_per_step"])


def preset_job(method: str) -> tuple[str, float]:
    """The base dtype ftwizard loads on this machine (``model.dtype: auto`` resolved as
    at launch) and the preset's adapter dropout, so the plain script trains the same job."""
    from ftwizard.core.config.presets import find_preset
    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.core.hardware.gpus import target_from_report
    from ftwizard.core.hardware.probe import probe
    from ftwizard.core.runs.preflight import with_machine_precision

    config = load_config(find_preset("demo-cpu"), [f"method.adapter={method}"])
    config, _ = with_machine_precision(config, target_from_report(probe()))
    dtype = "float32" if config.model.dtype == "auto" else config.model.dtype
    return dtype, config.lora.lora_dropout


def added_ms_per_step(steps: int = 300) -> float:
    """What ftwizard's callbacks add to every step, in milliseconds: the log event, the
    status file, the memory reading and the stop check, called as the Trainer calls
    them. Unlike the ratio of two trainings, this does not drown in the machine's noise."""
    from types import SimpleNamespace

    from ftwizard.core.runs.folder import RunFolder
    from ftwizard.trainer.components.callbacks import EventsCallback, StopOnSignal

    with tempfile.TemporaryDirectory() as tmp:
        run = RunFolder(Path(tmp))
        events, stopper = EventsCallback(run), StopOnSignal(run)
        args = SimpleNamespace(device="cpu", num_train_epochs=1)
        control = SimpleNamespace(should_save=False, should_training_stop=False)
        state = SimpleNamespace(global_step=0, max_steps=steps, epoch=0.0, num_input_tokens_seen=0)
        events.on_train_begin(args, state, control)
        logs = {"loss": 1.0, "learning_rate": 1e-4, "grad_norm": 0.5}
        started = time.perf_counter()
        for step in range(1, steps + 1):
            state.global_step, state.num_input_tokens_seen = step, step * 1024
            stopper.on_step_end(args, state, control)
            events.on_log(args, state, control, logs=logs)
        return (time.perf_counter() - started) / steps * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--method", choices=("lora", "qlora"), default="lora")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from ftwizard.core.models.builtin import BUILTIN_MODELS

    folder = str(BUILTIN_MODELS["smollm2-135m-instruct"].folder)
    job = preset_job(args.method)
    ours, plain, predicted = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            # Each pair runs back to back, which one goes first alternating: the machine
            # drifts between pairs far more than within one.
            ftwizard_first = repeat % 2 == 0
            plain_out = Path(tmp) / f"plain-{repeat}"
            if not ftwizard_first:
                plain.append(plain_run(args.steps, folder, plain_out, args.method, job))
            measured, planned = ftwizard_run(
                args.steps, Path(tmp) / "runs", f"bench-{repeat}", args.method
            )
            ours.append(measured)
            predicted.append(planned)
            if ftwizard_first:
                plain.append(plain_run(args.steps, folder, plain_out, args.method, job))
    ours_s, plain_s = statistics.median(ours), statistics.median(plain)
    pair_ratios = [p / o for p, o in zip(plain, ours, strict=True)]
    ratio = statistics.median(pair_ratios)
    noise = max(pair_ratios) - min(pair_ratios) if args.repeats > 1 else float("nan")
    added_ms = added_ms_per_step()
    print(
        f"{args.method}: {args.steps} steps x {args.repeats} runs, alternated, "
        f"on {os.cpu_count()} cores ({time.strftime('%Y-%m-%d')})"
    )
    print(f"  ftwizard --preset : {ours_s:.3f} s/step (median of {[round(x, 3) for x in ours]})")
    print(f"  plain trl script  : {plain_s:.3f} s/step (median of {[round(x, 3) for x in plain]})")
    print(f"  the plan predicted: {statistics.median(predicted):.3f} s/step for ftwizard's run")
    print(
        f"  throughput ratio  : {ratio:.3f}, median of the pairs' "
        f"{[round(r, 3) for r in pair_ratios]} (goal >= 0.97)"
    )
    print(f"  pairs disagree by : {noise:.1%} (the ratio cannot resolve less than this)")
    print(
        f"  added per step    : {added_ms:.2f} ms by ftwizard's callbacks "
        f"= {added_ms / 1000 / ours_s:.2%} of a step"
    )
    if args.json:
        figures = {"method": args.method, "steps": args.steps, "repeats": args.repeats}
        figures["ftwizard_s_per_step"] = ours_s
        figures["predicted_s_per_step"] = statistics.median(predicted)
        figures.update(plain_s_per_step=plain_s, ratio=ratio, ours=ours, plain=plain)
        figures.update(spread=noise, pair_ratios=pair_ratios, added_ms_per_step=added_ms)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
