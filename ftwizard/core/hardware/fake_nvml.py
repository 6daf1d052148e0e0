"""A stand-in for the pynvml module, describing GPUs that are not there.

Used by the tests, by screenshot generation, and by anyone who wants to plan for
hardware they do not have in hand: ``FTWIZARD_FAKE_GPUS="H100 80GB HBM3:80:9.0,x2"``.
It implements just the NVML calls ftwizard makes, with the same signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

GIB = 1024**3


class FakeNVMLError(Exception):
    """Raised like ``pynvml.NVMLError``."""


class NVMLError_LibraryNotFound(FakeNVMLError):  # noqa: N801 - the pynvml class name
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


@dataclass
class FakeGpu:
    name: str = "NVIDIA A100-SXM4-80GB"
    memory_gib: float = 80.0
    compute_capability: tuple[int, int] = (8, 0)
    used_gib: float = 0.5
    utilization: int = 0
    uuid: str = ""


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=list)
    driver_version: str = "570.86.15"
    cuda_driver_version: int = 12080
    library_missing: bool = False
    failing: set[str] = field(default_factory=set)
    """NVML function names that raise, to test partial failures."""

    def __post_init__(self) -> None:
        for i, gpu in enumerate(self.gpus):
            gpu.uuid = gpu.uuid or f"GPU-00000000-0000-0000-0000-{i:012d}"

    @classmethod
    def from_spec(cls, spec: str) -> FakeNvml:
        """Parse ``NAME:MEMORY_GB:CC[,...]``; ``,xN`` repeats the previous card.

        An empty spec means the driver is missing (no NVIDIA GPU).
        """
        spec = spec.strip()
        if not spec:
            return cls(library_missing=True)
        gpus: list[FakeGpu] = []
        for item in (part.strip() for part in spec.split(",")):
            if item.startswith("x") and item[1:].isdigit() and gpus:
                gpus.extend(
                    FakeGpu(**{**vars(gpus[-1]), "uuid": ""}) for _ in range(int(item[1:]) - 1)
                )
                continue
            name, _, rest = item.partition(":")
            memory, _, capability = rest.partition(":")
            major, _, minor = (capability or "8.0").partition(".")
            gpus.append(
                FakeGpu(
                    name=name or "NVIDIA GPU",
                    memory_gib=float(memory or 80),
                    compute_capability=(int(major), int(minor or 0)),
                )
            )
        return cls(gpus=gpus)

    def _check(self, function: str) -> None:
        if function in self.failing:
            raise FakeNVMLError(f"{function}: Not Supported")

    def _gpu(self, handle: Any) -> FakeGpu:
        return self.gpus[int(handle)]

    # The pynvml functions ftwizard uses -------------------------------------

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml names
        if self.library_missing:
            raise NVMLError_LibraryNotFound()
        self._check("nvmlInit")

    def nvmlShutdown(self) -> None:  # noqa: N802
        pass

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        self._check("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:  # noqa: N802
        self._check("nvmlSystemGetCudaDriverVersion")
        return self.cuda_driver_version

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._check("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        self._check("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise FakeNVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetName(self, handle: Any) -> bytes:  # noqa: N802
        self._check("nvmlDeviceGetName")
        return self._gpu(handle).name.encode()  # old pynvml returns bytes

    def nvmlDeviceGetUUID(self, handle: Any) -> str:  # noqa: N802
        self._check("nvmlDeviceGetUUID")
        return self._gpu(handle).uuid

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> SimpleNamespace:  # noqa: N802
        self._check("nvmlDeviceGetMemoryInfo")
        gpu = self._gpu(handle)
        total = int(gpu.memory_gib * GIB)
        used = int(gpu.used_gib * GIB)
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> tuple[int, int]:  # noqa: N802
        self._check("nvmlDeviceGetCudaComputeCapability")
        return self._gpu(handle).compute_capability

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> SimpleNamespace:  # noqa: N802
        self._check("nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=self._gpu(handle).utilization, memory=0)


def fixed_report(*memory_gib: float, name: str = "NVIDIA GeForce RTX 4090") -> Any:
    """A hardware report with every figure fixed (GPUs, RAM, disk): stable pictures and
    tests. No GPUs gives the CPU-mode report of a machine without the NVIDIA driver."""
    from ftwizard.core.hardware.probe import HardwareReport, probe

    gpus = [
        FakeGpu(name=name, memory_gib=m, compute_capability=(8, 9), used_gib=1.25, utilization=7)
        for m in memory_gib
    ]
    nvml = FakeNvml(gpus=gpus) if gpus else FakeNvml(library_missing=True)
    report = probe(runs_root="/", nvml_module=nvml)
    return HardwareReport(
        gpus=report.gpus,
        gpu_reason=report.gpu_reason,
        driver_version=report.driver_version,
        cuda_driver_version=report.cuda_driver_version,
        cpu_cores_logical=16,
        cpu_cores_physical=8,
        ram_total_bytes=64 * GIB,
        ram_available_bytes=48 * GIB,
        disk_path="/data/runs",
        disk_free_bytes=512 * GIB,
    )
