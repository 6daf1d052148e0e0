"""GPUs to plan for: the ones detected here, a card from the table, or a size.

People choosing which GPU to rent plan for hardware they do not have yet:
``--gpu NAME`` takes a card from :data:`GPU_TABLE`, ``--vram-gb N`` any size.
Memory figures are what ``nvidia-smi`` reports as total for each card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ftwizard.core.errors import UserError
from ftwizard.core.hardware.probe import HardwareReport

FIT_SHARE = 0.9  # plan within 90 % of free memory; the rest is "tight"


@dataclass(frozen=True)
class GpuSpec:
    name: str
    memory_gib: float
    bf16: bool
    tflops: float
    """Dense bf16 (fp16 on cards without bf16) tensor throughput, for ETAs."""
    bandwidth_tbs: float
    """Memory bandwidth in TB/s (the vendor's figure), for the memory-bound share."""
    aliases: tuple[str, ...] = ()


GPU_TABLE: tuple[GpuSpec, ...] = (
    GpuSpec("T4", 15.0, False, 65, 0.32, ("tesla-t4",)),
    GpuSpec("L4", 22.5, True, 121, 0.30),
    GpuSpec("A10G", 22.5, True, 70, 0.60, ("a10",)),
    GpuSpec("RTX 3090", 24.0, True, 71, 0.94, ("3090",)),
    GpuSpec("RTX 4090", 24.0, True, 165, 1.01, ("4090",)),
    GpuSpec("RTX 5090", 31.8, True, 209, 1.79, ("5090",)),
    GpuSpec("A6000", 48.0, True, 155, 0.77, ("rtx-a6000",)),
    GpuSpec("L40S", 45.0, True, 362, 0.86),
    GpuSpec("A100 40GB", 40.0, True, 312, 1.56, ("a100-40gb", "a100-40")),
    GpuSpec("A100 80GB", 80.0, True, 312, 2.04, ("a100", "a100-80gb", "a100-80")),
    GpuSpec("H100 80GB", 79.6, True, 989, 3.35, ("h100", "h100-80gb")),
    GpuSpec("H200", 140.4, True, 989, 4.8, ("h200-141gb",)),
)

# Throughput of cards we only know by memory size (--vram-gb, unknown detected names).
DEFAULT_TFLOPS = 150.0


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def find_gpu(name: str) -> GpuSpec:
    """A card from the table by name or alias, case and punctuation ignored."""
    wanted = _key(name)
    for spec in GPU_TABLE:
        if wanted in {_key(spec.name), *(_key(a) for a in spec.aliases)}:
            return spec
    known = ", ".join(spec.name for spec in GPU_TABLE)
    raise UserError(
        f"Unknown GPU `{name}`. Known cards: {known}.",
        hint="Or give the memory size: --vram-gb 24 (add --no-bf16 for older cards).",
    )


@dataclass(frozen=True)
class Target:
    """The hardware a plan is made for: N identical GPUs (on each of M machines), or the CPU."""

    label: str
    count: int
    memory_gib: float
    free_gib: float
    bf16: bool
    tflops: float
    source: str
    """detected, table or size."""
    bandwidth_tbs: float = 1.0
    """Memory bandwidth, TB/s (unknown cards: 1.0, a mid-range card's)."""
    machines: int = 1
    """Machines the plan may use, each with ``count`` of these GPUs."""

    @property
    def cpu(self) -> bool:
        return self.count == 0

    @property
    def budget_gib(self) -> float:
        return self.free_gib * FIT_SHARE


def target_from_report(report: HardwareReport) -> Target:
    """The detected machine; with several GPUs, the smallest free memory decides."""
    if not report.gpus:
        ram = (report.ram_available_bytes or 0) / 1024**3
        cores = report.cpu_cores_physical or report.cpu_cores_logical or 1
        bf16 = report.cpu_bf16 is not None  # bf16 in hardware (AMX, AVX512-BF16)
        from ftwizard.core.hardware.cpu_speed import cpu_gflops

        return Target("CPU", 0, ram, ram, bf16, cpu_gflops(cores) / 1000, "detected")
    frees = [g.memory_free_gib for g in report.gpus if g.memory_free_gib is not None]
    totals = [g.memory_total_gib for g in report.gpus if g.memory_total_gib is not None]
    name = report.gpus[0].name or "GPU"
    spec = next((s for s in GPU_TABLE if _key(s.name) in _key(name)), None)
    return Target(
        label=name,
        count=len(report.gpus),
        memory_gib=min(totals) if totals else 0.0,
        free_gib=min(frees) if frees else 0.0,
        bf16=all(bool(g.bf16) for g in report.gpus),
        tflops=spec.tflops if spec else DEFAULT_TFLOPS,
        source="detected",
        bandwidth_tbs=spec.bandwidth_tbs if spec else 1.0,
    )


def target_from_spec(spec: GpuSpec, count: int = 1) -> Target:
    return Target(
        spec.name,
        count,
        spec.memory_gib,
        spec.memory_gib,
        spec.bf16,
        spec.tflops,
        "table",
        spec.bandwidth_tbs,
    )


def target_from_size(memory_gib: float, bf16: bool = True, count: int = 1) -> Target:
    if memory_gib <= 0:
        raise UserError(f"--vram-gb {memory_gib:g}: give the card's memory in GB, e.g. 24.")
    return Target(
        f"{memory_gib:g} GB GPU", count, memory_gib, memory_gib, bf16, DEFAULT_TFLOPS, "size"
    )


Verdict = str  # "fits" | "tight" | "does not fit"


def verdict(device_total_gib: float, target: Target) -> Verdict:
    """Fits within 90 % of free memory, tight up to 100 %, otherwise does not fit."""
    if device_total_gib <= target.budget_gib:
        return "fits"
    if device_total_gib <= target.free_gib:
        return "tight"
    return "does not fit"
