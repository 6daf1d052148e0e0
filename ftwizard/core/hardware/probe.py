"""What this machine has: GPUs (through NVML), CPU cores, RAM and free disk.

:func:`probe` never raises. Without an NVIDIA driver it reports no GPUs and
the reason, and everything else still works (CPU mode); a single NVML call that
fails leaves that one field as ``None`` (shown as "n/a").
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

from ftwizard.core.hardware.nvml import Nvml

GIB = 1024**3
BF16_MIN_CAPABILITY = (8, 0)  # Ampere and newer


@dataclass(frozen=True)
class GpuInfo:
    """One visible NVIDIA GPU. Any figure NVML could not give is None."""

    index: int
    """Index as CUDA (and torch) number the GPU, after CUDA_VISIBLE_DEVICES."""
    nvml_index: int
    """Index as nvidia-smi numbers it."""
    name: str | None
    uuid: str | None
    memory_total_bytes: int | None
    memory_free_bytes: int | None
    memory_used_bytes: int | None
    compute_capability: tuple[int, int] | None
    utilization_percent: int | None

    @property
    def bf16(self) -> bool | None:
        """Native bfloat16 support (compute capability 8.0 or newer)."""
        if self.compute_capability is None:
            return None
        return self.compute_capability >= BF16_MIN_CAPABILITY

    @property
    def memory_total_gib(self) -> float | None:
        return None if self.memory_total_bytes is None else self.memory_total_bytes / GIB

    @property
    def memory_free_gib(self) -> float | None:
        return None if self.memory_free_bytes is None else self.memory_free_bytes / GIB

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["compute_capability"] = (
            None if self.compute_capability is None else "{}.{}".format(*self.compute_capability)
        )
        data["bf16"] = self.bf16
        return data


@dataclass(frozen=True)
class HardwareReport:
    """The whole probe result, as the CLI, the TUI and the planner see it."""

    gpus: list[GpuInfo]
    gpu_reason: str | None
    """Why there are no GPUs (or fewer than NVML sees); None when all is well."""
    driver_version: str | None
    cuda_driver_version: str | None
    cpu_cores_logical: int | None
    cpu_cores_physical: int | None
    ram_total_bytes: int | None
    ram_available_bytes: int | None
    disk_path: str
    disk_free_bytes: int | None
    warnings: list[str] = field(default_factory=list)
    visible_device_problem: str | None = None
    """CUDA_VISIBLE_DEVICES names a GPU that is not here (a launch refuses to start)."""
    cpu_bf16: str | None = None
    """The CPU's bf16 instructions (AMX-BF16, AVX512-BF16), None without them or unknown."""

    @property
    def cpu_mode(self) -> bool:
        return not self.gpus

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gpus"] = [gpu.to_dict() for gpu in self.gpus]
        data["cpu_mode"] = self.cpu_mode
        return data


def _visible_nvml_indices(
    nvml: Nvml, count: int, warnings: list[str], problems: list[str]
) -> tuple[list[int], str | None]:
    """Apply CUDA_VISIBLE_DEVICES the way CUDA does: in its order, up to a bad entry.

    A bad entry is a warning for the probe and a problem for a launch (``problems``).
    """
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return list(range(count)), None
    if not raw.strip():
        return [], "CUDA_VISIBLE_DEVICES is set but empty: no GPU is visible"
    uuids = [
        nvml.query("nvmlDeviceGetUUID", nvml.query("nvmlDeviceGetHandleByIndex", i))
        for i in range(count)
    ]
    chosen: list[int] = []
    for entry in (part.strip() for part in raw.split(",")):
        match: int | None = None
        if entry.isdigit() and int(entry) < count:
            match = int(entry)
        elif entry.startswith("GPU-"):
            found = [i for i, u in enumerate(uuids) if isinstance(u, str) and u.startswith(entry)]
            match = found[0] if len(found) == 1 else None
        if match is None or match in chosen:
            problems.append(
                f"CUDA_VISIBLE_DEVICES={raw} names `{entry}`, which is not a GPU here "
                f"(this machine has {count}: {', '.join(map(str, range(count)))})"
                + (", or names it twice" if match is not None else "")
            )
            warnings.append(problems[-1] + "; CUDA ignores it and every entry after it.")
            break
        chosen.append(match)
    reason = None if chosen else "CUDA_VISIBLE_DEVICES names no GPU that exists here"
    return chosen, reason


def _read_gpu(nvml: Nvml, cuda_index: int, nvml_index: int) -> GpuInfo:
    handle = nvml.query("nvmlDeviceGetHandleByIndex", nvml_index)
    if handle is None:
        memory = capability = utilization = None
        name = uuid = None
    else:
        name = nvml.query("nvmlDeviceGetName", handle)
        uuid = nvml.query("nvmlDeviceGetUUID", handle)
        memory = nvml.query("nvmlDeviceGetMemoryInfo", handle)
        capability = nvml.query("nvmlDeviceGetCudaComputeCapability", handle)
        utilization = nvml.query("nvmlDeviceGetUtilizationRates", handle)
    return GpuInfo(
        index=cuda_index,
        nvml_index=nvml_index,
        name=name,
        uuid=uuid,
        memory_total_bytes=getattr(memory, "total", None),
        memory_free_bytes=getattr(memory, "free", None),
        memory_used_bytes=getattr(memory, "used", None),
        compute_capability=None if capability is None else (int(capability[0]), int(capability[1])),
        utilization_percent=getattr(utilization, "gpu", None),
    )


def _cuda_version(raw: Any) -> str | None:
    # NVML encodes 12.4 as 12040.
    if not isinstance(raw, int):
        return None
    return f"{raw // 1000}.{(raw % 1000) // 10}"


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_gpus(
    nvml: Nvml, warnings: list[str], problems: list[str]
) -> tuple[list[GpuInfo], str | None, Any, Any]:
    if not nvml.available:
        return [], nvml.reason, None, None
    driver = nvml.query("nvmlSystemGetDriverVersion")
    cuda = _cuda_version(nvml.query("nvmlSystemGetCudaDriverVersion"))
    count = nvml.query("nvmlDeviceGetCount")
    if count is None:
        return [], "NVML could not count the GPUs", driver, cuda
    if count == 0:
        return [], "the NVIDIA driver reports no GPU", driver, cuda
    indices, reason = _visible_nvml_indices(nvml, count, warnings, problems)
    gpus = [
        _read_gpu(nvml, cuda_index, nvml_index) for cuda_index, nvml_index in enumerate(indices)
    ]
    return gpus, reason, driver, cuda


def probe(
    runs_root: str | os.PathLike[str] = "runs", nvml_module: ModuleType | Any | None = None
) -> HardwareReport:
    """Probe the machine. ``nvml_module`` replaces pynvml (tests, simulations)."""
    nvml = Nvml(nvml_module)
    warnings: list[str] = []
    problems: list[str] = []
    try:
        gpus, reason, driver, cuda = _probe_gpus(nvml, warnings, problems)
    finally:
        nvml.shutdown()
    if nvml.failed_calls:
        warnings.append(
            "NVML could not answer: " + ", ".join(nvml.failed_calls) + " (shown as n/a)"
        )

    memory = _safe(psutil.virtual_memory)
    disk_path = _existing_parent(Path(runs_root))
    disk = _safe(shutil.disk_usage, disk_path)
    return HardwareReport(
        gpus=gpus,
        gpu_reason=reason,
        driver_version=driver,
        cuda_driver_version=cuda,
        cpu_cores_logical=_safe(psutil.cpu_count, logical=True),
        cpu_cores_physical=_safe(psutil.cpu_count, logical=False),
        ram_total_bytes=getattr(memory, "total", None),
        ram_available_bytes=getattr(memory, "available", None),
        disk_path=str(disk_path),
        disk_free_bytes=getattr(disk, "free", None),
        warnings=warnings,
        visible_device_problem=problems[0] if problems else None,
        cpu_bf16=cpu_bf16_instructions(cpu_flags()),
    )


CPU_FLAGS_ENV = "FTWIZARD_FAKE_CPU_FLAGS"
"""Simulates the CPU's feature flags (space-separated, as /proc/cpuinfo lists them)."""
BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's feature flags (Linux x86), None where they cannot be read."""
    fake = os.environ.get(CPU_FLAGS_ENV)
    if fake is not None:
        return set(fake.split())
    try:
        with cpuinfo.open() as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return None


def cpu_bf16_instructions(flags: set[str] | None) -> str | None:
    """The best bf16 instructions the flags name ("AMX-BF16", "AVX512-BF16"), or None."""
    return next((name for flag, name in BF16_FLAGS.items() if flag in (flags or ())), None)


def _safe(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except Exception:  # a probe reports what it can
        return None
