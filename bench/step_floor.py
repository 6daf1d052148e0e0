"""The step floor: one LoRA job three ways, in milliseconds per step, and where
ftwizard's steps go.

- **ftwizard**: the trainer's own ``train()`` on a run folder (what ``ftwizard --preset``
  runs in its detached process), with the plan's settings for this machine.
- **plain loop**: PyTorch + peft, written as a person would: the same model, LoRA,
  optimizer, micro-batch and length, no Trainer.
- **plain trl**: trl's ``SFTTrainer`` with its defaults, the same job.

Every micro-batch is full (synthetic chats longer than ``--length``), so all three see
the same tokens. Each way runs in its own process, in turn, ``--repeats`` times; the
figure is the median over the steps after ``WARMUP`` of each run, then over the runs.
On a GPU the plain loop synchronises once at each end of the timed steps, and the
ftwizard figure comes from its step times (the host's clock over the windows between
logs, which wait for the GPU).

    python bench/step_floor.py [--model tiny|demo|FOLDER] [--batch 4] [--length 256]
                               [--steps 40] [--repeats 3] [--set KEY=VALUE ...] [--json OUT]

``--model tiny`` is a 2-layer model of the demo model's family (hidden size 64, its
tokenizer and vocabulary), built once under ``.cache/bench/``; ``demo`` is
SmolLM2-135M-Instruct itself. ``--set`` changes ftwizard's run configuration only
(e.g. ``training.use_liger_kernel=true``), to measure one setting against the plain loop.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gpu_check import write_dataset  # noqa: E402

WARMUP = 5
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}
LORA = {"r": 16, "lora_alpha": 32, "target_modules": "all-linear"}


def demo_folder() -> Path:
    from ftwizard.core.models.builtin import BUILTIN_MODELS

    return Path(BUILTIN_MODELS["smollm2-135m-instruct"].folder)


def model_folder(name: str) -> Path:
    """The model a name stands for; the tiny one is built once from the demo's config."""
    if name == "demo":
        return demo_folder()
    if name != "tiny":
        return Path(name)
    target = ROOT / ".cache" / "bench" / "tiny-model"
    if (target / "config.json").exists():
        return target
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    source = demo_folder()
    config = AutoConfig.from_pretrained(source)
    for key, value in TINY.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    for file in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (source / file).exists():
            shutil.copy(source / file, target / file)
    return target


def ftwizard_config(args: argparse.Namespace, model: Path, data: Path, root: Path) -> Any:
    """The run configuration: the plan's choices for this machine (precision, dropout,
    optimizer, loss, logging) on this job's model, batch and length."""
    from ftwizard.core.config.yaml_io import dump_config, load_config
    from ftwizard.core.hardware.gpus import target_from_report
    from ftwizard.core.hardware.probe import probe
    from ftwizard.core.models.source import resolve_model_facts
    from ftwizard.core.planning.dataset_facts import DatasetFacts
    from ftwizard.core.planning.recommend import recommend
    from ftwizard.core.runs.preflight import with_machine_precision

    settings = [
        f"model.model_name_or_path={model}",
        f"data.path={data}",
        f"training.max_steps={args.steps}",
        f"training.per_device_train_batch_size={args.batch}",
        "training.gradient_accumulation_steps=1",
        f"training.max_length={args.length}",
        "training.gradient_checkpointing=false",
        f"lora.r={LORA['r']}",
        f"lora.lora_alpha={LORA['lora_alpha']}",
        "evaluation.val_size=0",
        f"checkpointing.save_steps={args.steps * 10}",
        f"output.runs_root={root}",
        "output.run_name=floor",
    ]
    config = load_config(None, settings)
    target = target_from_report(probe())
    facts = resolve_model_facts(str(model), None)
    plan = recommend(target, facts, DatasetFacts(rows=256, tokens_mean=args.length), "domain")
    chosen = plan.config.training
    config = config.with_sections(
        training={
            "optim": chosen.optim,
            "bf16": chosen.bf16,
            "fp16": chosen.fp16,
            "logging_steps": chosen.logging_steps,
            "use_liger_kernel": chosen.use_liger_kernel,
        },
        lora={"lora_dropout": plan.config.lora.lora_dropout},
        model={"dtype": plan.config.model.dtype},
    )
    config, _ = with_machine_precision(config, target)
    preset = root / "floor.yaml"
    preset.write_text(dump_config(config))
    return load_config(preset, args.set)


def run_ftwizard(args: argparse.Namespace, model: Path, data: Path) -> dict[str, Any]:
    from ftwizard.core.runs.events import Log
    from ftwizard.core.runs.folder import create_run
    from ftwizard.trainer.run import train

    with tempfile.TemporaryDirectory() as tmp:
        config = ftwizard_config(args, model, data, Path(tmp))
        run = create_run(config)
        ending = train(run, None)
        assert ending.code == 0, ending
        logs = [e for e in run.read_events()[0] if isinstance(e, Log) and e.step_times]
    # Windows wholly after the warm-up steps, weighted by their steps.
    steady = [log for log in logs if log.step - log.step_times.steps >= WARMUP]  # type: ignore[union-attr]
    steps = sum(log.step_times.steps for log in steady)  # type: ignore[union-attr]
    if not steps:
        raise SystemExit("no logged window after the warm-up: train more --steps")

    def mean(key: str) -> float:
        return sum(getattr(log.step_times, key) * log.step_times.steps for log in steady) / steps

    phases = ("data_s", "forward_backward_s", "optimizer_s", "ftwizard_s", "other_s")
    last = steady[-1].step_times
    return {
        "ms_per_step": mean("step_s") * 1000,
        "phases_ms": {key: round(mean(key) * 1000, 3) for key in phases},
        "device_busy": last.device_busy if last else None,
        "settings": {
            "optim": config.training.optim,
            "dtype": config.model.dtype,
            "bf16": config.training.bf16,
            "lora_dropout": config.lora.lora_dropout,
            "logging_steps": config.training.logging_steps,
            "use_liger_kernel": config.training.use_liger_kernel,
        },
    }


def _torch_dtype(settings: dict[str, Any]) -> Any:
    """The dtype ftwizard loaded the base in ("auto" loads fp32)."""
    import torch

    return torch.float32 if settings["dtype"] == "auto" else getattr(torch, settings["dtype"])


def run_plain(args: argparse.Namespace, model: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """A plain PyTorch + peft loop with ftwizard's optimizer, dtype and dropout."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = _torch_dtype(settings)
    net = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(device)
    net = get_peft_model(
        net,
        LoraConfig(**LORA, lora_dropout=settings["lora_dropout"], task_type="CAUSAL_LM"),
    )
    trainable = [p for p in net.parameters() if p.requires_grad]
    fused = settings["optim"] == "adamw_torch_fused"
    optimizer = torch.optim.AdamW(trainable, lr=2e-4, fused=fused or None)
    generator = torch.Generator().manual_seed(0)
    vocab = net.config.vocab_size
    batches = [
        torch.randint(0, vocab, (args.batch, args.length), generator=generator) for _ in range(8)
    ]
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=settings["bf16"])
    net.train()
    for step in range(args.steps):
        if step == WARMUP:
            if cuda:
                torch.cuda.synchronize()
            started = time.perf_counter()
        ids = batches[step % len(batches)].to(device, non_blocking=True)
        with autocast:
            loss = net(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    return {"ms_per_step": wall / (args.steps - WARMUP) * 1000}


def run_trl(
    args: argparse.Namespace, model: Path, data: Path, settings: dict[str, Any]
) -> dict[str, Any]:
    """trl's SFTTrainer with its own defaults (its loss, its metrics), the same job."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    stamps: list[float] = []

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, a: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step in (WARMUP, args.steps):
                if cuda:
                    torch.cuda.synchronize()
                stamps.append(time.perf_counter())

    rows = [json.loads(line) for line in data.open()]
    dtype = _torch_dtype(settings)
    with tempfile.TemporaryDirectory() as tmp:
        config = SFTConfig(
            output_dir=tmp, max_steps=args.steps, per_device_train_batch_size=args.batch,
            gradient_accumulation_steps=1, learning_rate=2e-4, logging_steps=1,
            save_strategy="no", report_to=[], max_length=args.length, use_cpu=not cuda,
            disable_tqdm=True, bf16=settings["bf16"], optim=settings["optim"],
            gradient_checkpointing=False, dataloader_num_workers=0,
        )  # fmt: skip
        trainer = SFTTrainer(
            model=AutoModelForCausalLM.from_pretrained(model, dtype=dtype),
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=AutoTokenizer.from_pretrained(model),
            peft_config=LoraConfig(
                **LORA, lora_dropout=settings["lora_dropout"], task_type="CAUSAL_LM"
            ),
            callbacks=[Clock()],
        )
        trainer.train()
    return {"ms_per_step": (stamps[-1] - stamps[0]) / (args.steps - WARMUP) * 1000}


def one_way(args: argparse.Namespace) -> int:
    """Run one way in this process and print its figures as JSON."""
    model, data = model_folder(args.model), Path(args.data)
    settings = json.loads(args.settings) if args.settings else {}
    if args.way == "ftwizard":
        result = run_ftwizard(args, model, data)
    elif args.way == "plain":
        result = run_plain(args, model, settings)
    else:
        result = run_trl(args, model, data, settings)
    print(json.dumps(result))
    return 0


def _way(
    args: argparse.Namespace, way: str, data: Path, settings: dict[str, Any]
) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--way", way, "--model", args.model,
        "--batch", str(args.batch), "--length", str(args.length), "--steps", str(args.steps),
        "--data", str(data), "--settings", json.dumps(settings),
        *[part for setting in args.set for part in ("--set", setting)],
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{way} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ways", default="ftwizard,plain,trl")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--way", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.way:
        return one_way(args)
    model_folder(args.model)  # built once, before the ways time anything
    ways = args.ways.split(",")
    results: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "long-chats.jsonl"
        write_dataset(data, rows=256, words=1500)  # every micro-batch full
        settings: dict[str, Any] = {}
        others = [way for way in ways if way != "ftwizard"]
        for repeat in range(args.repeats):
            # ftwizard first: the other ways train with the settings it resolved (once,
            # when it is not itself measured).
            if "ftwizard" in ways or not settings:
                figures = _way(args, "ftwizard", data, settings)
                settings = figures["settings"]
                if "ftwizard" in ways:
                    results["ftwizard"].append(figures)
            # The others' order alternates: the machine drifts between runs.
            for way in others if repeat % 2 == 0 else reversed(others):
                results[way].append(_way(args, way, data, settings))
    summary: dict[str, Any] = {
        "model": args.model, "batch": args.batch, "length": args.length, "steps": args.steps,
        "repeats": args.repeats, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
        "settings": settings,
    }  # fmt: skip
    print(
        f"{args.model} LoRA, {args.batch} x {args.length} tokens, {args.steps} steps "
        f"({WARMUP} warm-up) x {args.repeats}, {os.cpu_count()} cores, {summary['date']}"
    )
    print(f"  ftwizard's settings: {settings}")
    for way in ways:
        per_run = [round(r["ms_per_step"], 1) for r in results[way]]
        summary[way] = {"ms_per_step": statistics.median(per_run), "runs": per_run}
        print(f"  {way:<9} {statistics.median(per_run):>8.1f} ms/step  (runs {per_run})")
    if "ftwizard" in ways:
        last = results["ftwizard"][-1]
        summary["ftwizard"]["phases_ms"] = last["phases_ms"]
        summary["ftwizard"]["device_busy"] = last["device_busy"]
        phases = ", ".join(f"{k.removesuffix('_s')} {v:.1f}" for k, v in last["phases_ms"].items())
        print(f"  ftwizard's step (ms): {phases}")
        if last["device_busy"] is not None:
            print(f"  GPU busy {last['device_busy']:.0%} of the profiled step")
    if "ftwizard" in ways and "plain" in ways:
        # Runs of one repeat follow each other: their ratio drifts far less than runs
        # minutes apart.
        pairs = [
            ours["ms_per_step"] / plain["ms_per_step"]
            for ours, plain in zip(results["ftwizard"], results["plain"], strict=True)
        ]
        ratio = statistics.median(pairs)
        summary["ftwizard_over_plain"] = ratio
        summary["pair_ratios"] = pairs
        shown = [round(r, 3) for r in pairs]
        print(f"  ftwizard / plain loop: {ratio:.3f}, median of the pairs' {shown} (goal <= 1.05)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
