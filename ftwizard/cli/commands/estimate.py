"""``ftwizard estimate``: the memory of one training run, and whether it fits."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import out, print_json
from ftwizard.cli.targets import resolve_target
from ftwizard.core.config.presets import find_preset
from ftwizard.core.config.yaml_io import Override, load_config
from ftwizard.core.hardware.gpus import Target, verdict
from ftwizard.core.models.source import resolve_model_facts
from ftwizard.core.planning.estimator import Estimate, estimate
from ftwizard.core.planning.throughput import StepTime, device_for, micro_batch_lengths, step_time

# flag attribute -> (the flag as a person types it, the config key it sets)
FLAG_KEYS = {
    "method": ("--method", "method.adapter"),
    "objective": ("--objective", "method.objective"),
    "bits": ("--bits", "method.bits"),
    "double_quant": ("--double-quant", "method.bnb_4bit_use_double_quant"),
    "lora_r": ("--lora-r", "lora.r"),
    "lora_target_modules": ("--lora-target-modules", "lora.target_modules"),
    "lora_dropout": ("--lora-dropout", "lora.lora_dropout"),
    "batch_size": ("--batch-size", "training.per_device_train_batch_size"),
    "max_length": ("--max-length", "training.max_length"),
    "gradient_checkpointing": ("--gradient-checkpointing", "training.gradient_checkpointing"),
    "optim": ("--optim", "training.optim"),
    "attn": ("--attn", "training.attn_implementation"),
}


def flag_overrides(args: argparse.Namespace) -> list[Override]:
    """Each shortcut flag as a labelled override, so messages name the flag."""
    overrides: list[Override] = []
    for attribute, (flag, key) in FLAG_KEYS.items():
        value = getattr(args, attribute, None)
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        overrides.append((f"{flag} {value}", f"{key}={text}"))
    precision = getattr(args, "precision", None)
    if precision:
        overrides.append((f"--precision {precision}", f"training.bf16={precision == 'bf16'}"))
        overrides.append((f"--precision {precision}", f"training.fp16={precision == 'fp16'}"))
    return overrides


def estimate_json(
    result: Estimate,
    target: Target | None,
    model: str,
    method: str,
    speed: StepTime | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": model,
        "method": method,
        "params": result.params,
        "trainable_params": result.trainable_params,
        "peak_allocated_gb": result.peak_allocated_gib,
        "device_total_gb": result.device_total_gib,
        "breakdown": result.breakdown_gib,
        "tokens_per_micro_batch": result.tokens_per_micro_batch,
        "units": "GiB (2**30 bytes), as nvidia-smi and torch report them",
        "notes": result.notes,
    }
    if speed is not None:
        data.update(
            seconds_per_step=round(speed.seconds_per_step, 3),
            tokens_per_second=round(speed.tokens_per_second, 1),
        )
    if target is not None and not target.cpu:
        data.update(
            fits=verdict(result.device_total_gib, target) != "does not fit",
            verdict=verdict(result.device_total_gib, target),
            headroom_gb=round(target.free_gib - result.device_total_gib, 3),
            gpu={
                "name": target.label,
                "count": target.count,
                "free_gb": round(target.free_gib, 3),
                "total_gb": round(target.memory_gib, 3),
                "source": target.source,
            },
        )
    return data


LABELS = {
    "weights": "base weights",
    "adapter": "adapter weights",
    "gradients": "gradients",
    "optimizer": "optimizer states",
    "activations": "activations",
    "logits": "logits and loss",
    "generation": "generation (KV cache)",
    "reference_model": "reference model",
    "reward_model": "reward model",
    "cuda_overhead": "CUDA context + allocator",
}


def render(result: Estimate, model: str, method: str) -> Group:
    table = Table()
    table.add_column("component")
    table.add_column("GB", justify="right")
    for key, value in result.breakdown_gib.items():
        table.add_row(LABELS.get(key, key), f"{value:.2f}")
    table.add_section()
    table.add_row("peak allocated (torch)", f"{result.peak_allocated_gib:.2f}")
    table.add_row(
        Text("card total (nvidia-smi)", style="bold"),
        Text(f"{result.device_total_gib:.2f}", style="bold"),
    )
    title = Text(f"Memory estimate: {model}, {method}", style="bold")
    facts = Text(
        f"{result.params / 1e9:.2f}B parameters, {result.trainable_params:,} trainable; "
        f"{result.tokens_per_micro_batch:,} tokens per micro-batch"
    )
    return Group(title, table, facts)


def verdict_line(result: Estimate, target: Target | None) -> Text:
    if target is None or target.cpu:
        return Text("No GPU detected: add --gpu NAME or --vram-gb N for a verdict.", style="yellow")
    word = verdict(result.device_total_gib, target)
    style = {"fits": "bold green", "tight": "bold yellow"}.get(word, "bold red")
    each = " each" if target.count > 1 else ""
    return Text.assemble(
        (word.upper(), style),
        f" on {target.label}{each} ({target.free_gib:.1f} GB free; "
        f"headroom {target.free_gib - result.device_total_gib:+.1f} GB; "
        "fits = within 90% of free memory)",
    )


def run(args: argparse.Namespace) -> int:
    preset = find_preset(args.preset) if args.preset else None
    overrides: list[Override] = [*args.overrides, *flag_overrides(args)]
    if args.model:
        overrides.insert(
            0, (f"--model {args.model}", f"model.model_name_or_path={json.dumps(args.model)}")
        )
    config = load_config(preset, overrides)
    model = config.model.model_name_or_path
    facts = resolve_model_facts(model, config.model.revision)
    result = estimate(facts, config, loss_impl=args.loss)
    target = resolve_target(args)
    method = config.method.adapter
    t = config.training
    mean = args.tokens_per_example
    lengths = micro_batch_lengths(
        t.per_device_train_batch_size, t.max_length, mean, None, t.packing
    )
    speed = step_time(facts, config, lengths, device_for(target))
    if args.json:
        print_json(estimate_json(result, target, model, method, speed))
        return 0
    out.print(render(result, model, method))
    out.print(verdict_line(result, target))
    out.print(
        f"speed on {target.label}: {speed.seconds_per_step:.2f} s per optimizer step, "
        f"{speed.tokens_per_second:,.0f} tokens/s (a throughput model; "
        f"{'examples as given by --tokens-per-example' if mean else 'every example full'})",
        style="dim",
    )
    for note in result.notes:
        out.print(f"note: {note}", style="dim")
    return 0
