"""Run folders as the trainer leaves them, written without training: for dashboard,
resume-picker and start-screen tests and for the screenshots.

Every time in them is fixed (``T0``), so pictures of them are stable.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import dump_config

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC
STEP_S = 2.0


def _loss(step: int) -> float:
    return round(0.35 + 3.2 * math.exp(-step / 18) + 0.04 * math.sin(step * 1.7), 4)


def record_run(
    root: Path,
    name: str,
    state: str,
    steps_done: int,
    max_steps: int = 120,
    checkpoints: tuple[int, ...] = (),
    incomplete: tuple[int, ...] = (),
    eval_every: int = 20,
    oom: bool = False,
    config: RunConfig | None = None,
    gpus: int = 0,
    card_gb: float = 80.0,
) -> Path:
    """A run folder ``root/name`` in ``state`` after ``steps_done`` logged steps; with
    ``gpus``, trained on that many ``card_gb`` cards (one process each), as NVML and
    torch's allocator report them; an ``oom`` run's memory climbs to the card's size."""
    path = root / name
    (path / "checkpoints").mkdir(parents=True)
    config = (config or RunConfig()).with_sections(
        data={"path": "data/demo/wizard-identity.jsonl"},
        output={"run_name": name, "runs_root": str(root)},
    )
    (path / "config.yaml").write_text(dump_config(config))
    events: list[dict[str, Any]] = [
        {"time": T0, "type": "launch", "pid": 4242, "resume_from": None},
        {"time": T0 + 1, "type": "status", "state": "starting", "phase": "loading model"},
        {
            "time": T0 + 5,
            "type": "data",
            "rows_train": 72,
            "rows_eval": 8,
            "skipped_invalid": 0,
            "format": "messages",
            "loss": "assistant",
            "masks": "ftwizard",
            "loss_token_share": 0.31,
        },
        {
            "time": T0 + 6,
            "type": "train_begin",
            "step": 0,
            "max_steps": max_steps,
            "epochs": 3,
            "memory_limit_gb": card_gb if gpus else 64.0,
        },
    ]
    for step in range(1, steps_done + 1):
        events.append(
            {
                "time": T0 + 6 + step * STEP_S,
                "type": "log",
                "step": step,
                "max_steps": max_steps,
                "epoch": round(step / 40, 4),
                "loss": _loss(step),
                "learning_rate": round(2e-4 * (1 - step / max_steps), 8),
                "grad_norm": round(1.5 * math.exp(-step / 40) + 0.2, 4),
                "tokens_per_s": 2400.0 if not gpus else round(21000 + 900 * math.sin(step), 1),
                "ram_gb": round(1.9 + step / 1000, 3),
                # The peak since the log before: the loading's at the first step, then a
                # step's transient (freed before the log) on top of the RSS.
                "ram_peak_gb": round(2.6 if step == 1 else 2.2 + step / 1000, 3),
                **_gpu_memory(step, gpus, card_gb, oom),
                # As a CPU LoRA step of the demo model divides up (2026-12-07).
                "step_times": {
                    "steps": 1,
                    "step_s": STEP_S,
                    "data_s": 0.012,
                    "forward_backward_s": round(STEP_S * 0.9, 4),
                    "optimizer_s": round(STEP_S * 0.06, 4),
                    "ftwizard_s": 0.004,
                    "other_s": round(STEP_S * 0.04 - 0.016, 4),
                },
            }
        )
        if step % eval_every == 0:
            eval_loss = round(_loss(step) + 0.12, 4)
            events.append(
                {
                    "time": T0 + 7 + step * STEP_S,
                    "type": "eval",
                    "step": step,
                    "eval_loss": eval_loss,
                    "perplexity": round(math.exp(eval_loss), 3),
                }
            )
        if step in checkpoints:
            events.append({"time": T0 + 8 + step * STEP_S, "type": "checkpoint", "step": step})
    last = T0 + 6 + steps_done * STEP_S
    status: dict[str, Any] = {
        "state": state,
        "step": steps_done,
        "max_steps": max_steps,
        "created_at": T0,
        "started_at": T0 + 6,
        "updated_at": last,
        "last_loss": _loss(steps_done),
        "eta_s": (max_steps - steps_done) * STEP_S,
        "estimate_gb": round(card_gb * 0.575, 1) if gpus else 2.3,
        # Running runs need a live process: this one (the test or the script).
        "pid": os.getpid() if state in ("starting", "running", "stopping") else 4242,
    }
    if state == "stopped":
        status["stopped_at"] = last
        events.append(
            {
                "time": last + 1,
                "type": "status",
                "state": "stopped",
                "step": steps_done,
                "reason": "stopped by the user; a resumable checkpoint was saved",
            }
        )
    if state == "finished":
        status.update(
            final_loss=_loss(steps_done),
            final_eval_loss=_loss(steps_done) + 0.1,
            finished_at=last,
            output=str(path / "final"),
        )
        (path / "final").mkdir()
    if oom:
        advice = [
            {
                "text": "halve the micro-batch to 2 and double accumulation to 8",
                "saves_gib": 3.1,
                "overrides": [
                    "training.per_device_train_batch_size=2",
                    "training.gradient_accumulation_steps=8",
                ],
            },
            {
                "text": "turn on gradient checkpointing",
                "saves_gib": 2.4,
                "overrides": ["training.gradient_checkpointing=true"],
            },
        ]
        status.update(
            error=f"out of memory at step {steps_done}", oom=True, advice=advice, finished_at=last
        )
        events.append(
            {
                "time": last + 1,
                "type": "error",
                "kind": "oom",
                **({"gpu_allocated_gb": card_gb * 0.97, "ram_gb": 3.2} if gpus else {}),
                "step": steps_done,
                "message": "CUDA out of memory. Tried to allocate 2.00 GiB",
                "advice": advice,
            }
        )
    with (path / "events.jsonl").open("w") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")
    (path / "status.json").write_text(json.dumps(status, indent=2))
    for step in checkpoints:
        _checkpoint(path / "checkpoints" / f"checkpoint-{step}", step, step in incomplete)
    os.utime(path / "config.yaml", (T0, T0))
    return path


def _card(step: int, rank: int, card_gb: float, oom: bool) -> dict[str, float]:
    """One card's memory at ``step``: the allocator's caches grow over the first steps
    and stay (or, before an ``oom``, creep up to the card's size as longer batches
    come); utilisation dips when the step's end waits on the host."""
    share = 0.39 + rank * 0.008 + 0.106 * (1 - math.exp(-step / 6))
    allocated = round(card_gb * share, 3)
    reserved, peak = allocated + card_gb * 0.052, allocated + card_gb * 0.076
    if oom:
        allocated = round(card_gb * (0.72 + 0.2 * step / 41), 3)
        reserved = peak = min(card_gb * 0.99, allocated + 1.1)
    return {
        "gpu_allocated_gb": allocated,
        "gpu_reserved_gb": round(reserved, 3),
        "gpu_peak_gb": round(peak, 3),
        "gpu_utilization": float(round(88 + 9 * math.sin(step / 3 + rank))),
    }


def _gpu_memory(step: int, gpus: int, card_gb: float, oom: bool) -> dict[str, Any]:
    if not gpus:
        return {}
    if gpus == 1:
        return _card(step, 0, card_gb, oom)
    ranks = [{"rank": r, "ram_gb": 2.1, **_card(step, r, card_gb, oom)} for r in range(gpus)]
    return {**_card(step, 0, card_gb, oom), "ranks": ranks}


def _safetensors(size: int) -> bytes:
    """A whole safetensors file of ``size`` bytes: one uint8 tensor after a header
    padded with spaces to 80 bytes (the format allows the padding)."""
    data = size - 8 - 80
    header = json.dumps({"w": {"dtype": "U8", "shape": [data], "data_offsets": [0, data]}})
    return (80).to_bytes(8, "little") + header.ljust(80).encode() + b"w" * data


def _torch_file(path: Path, size: int) -> None:
    """A file of ``size`` bytes in torch.save's zip layout, without importing torch."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    overhead = path.stat().st_size
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"s" * (size - overhead))


def _checkpoint(folder: Path, step: int, incomplete: bool) -> None:
    folder.mkdir()
    history = [{"step": s, "loss": _loss(s)} for s in range(1, step + 1)]
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    (folder / "adapter_model.safetensors").write_bytes(b"" if incomplete else _safetensors(4096))
    (folder / "adapter_config.json").write_text("{}")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        _torch_file(folder / name, 1024)
    stamp = T0 + 6 + step * STEP_S
    os.utime(folder, (stamp, stamp))
