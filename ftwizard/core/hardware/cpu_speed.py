"""The CPU's matmul speed for ETAs: measured once per machine (``trainer/cpu_speed.py``,
about 5 s) and kept in the cache folder, keyed by the CPU and its core count; measured
again, keeping the best, while the machine was busy at every measurement."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from ftwizard.core.files import load_json
from ftwizard.core.paths import cache_dir

# Used when the measurement cannot run (no torch yet, say): SmolLM2-135M LoRA on the
# 2-core development VM trained at about this many FLOP/s per core.
FALLBACK_GFLOPS_PER_CORE = 85.0
ENV = "FTWIZARD_CPU_GFLOPS"  # set it to skip the measurement (tests, or a known figure)


@cache
def _machine_key() -> str:
    """The CPU model and the core count: the measurement holds for any machine alike."""
    name = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # Linux names the model here
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} x{os.cpu_count()}"


# A figure measured while the machine was busy (load average over half its cores) is
# provisional: measured again after RETRY_S, keeping the best. On the shared development
# VM a first figure taken beside a test run was 114 GFLOP/s; quiet, it measured 171-181,
# and the stale one had made every CPU ETA about 30 % long.
BUSY_LOAD_SHARE = 0.5
RETRY_S = 600.0


@dataclass(frozen=True)
class Measured:
    gflops: float
    measured_at: float
    busy: bool

    @classmethod
    def read(cls, value: Any) -> Measured | None:
        if isinstance(value, (int, float)):  # the first format: a figure, load unknown
            return cls(float(value), 0.0, busy=True)
        if isinstance(value, dict) and isinstance(value.get("gflops"), (int, float)):
            return cls(
                float(value["gflops"]),
                float(value.get("measured_at", 0.0)),
                bool(value.get("busy", False)),
            )
        return None

    @property
    def settled(self) -> bool:
        return not self.busy or time.time() - self.measured_at < RETRY_S


def machine_busy() -> bool:
    """Whether other work holds over half the cores (1-minute load average) right now."""
    try:
        return os.getloadavg()[0] > BUSY_LOAD_SHARE * (os.cpu_count() or 1)
    except OSError:
        return False


def cpu_gflops(cores: int) -> float:
    """fp32 matmul GFLOP/s of this machine, all threads; measured on first use, and again
    while every measurement so far was taken on a busy machine."""
    if os.environ.get(ENV):
        return float(os.environ[ENV])
    path = cache_dir() / "cpu_speed.json"
    try:
        known = load_json(path.read_text())
    except (OSError, ValueError):
        known = {}
    key = _machine_key()
    kept = Measured.read(known.get(key))
    if kept is not None and kept.settled:
        return kept.gflops
    from ftwizard.core.trainer_calls import measure_cpu

    busy = machine_busy()
    try:
        measured = measure_cpu().fp32_gflops
    except Exception:  # noqa: BLE001 - an ETA is not worth failing a plan for
        return kept.gflops if kept else cores * FALLBACK_GFLOPS_PER_CORE
    best = max(measured, kept.gflops) if kept else measured  # load only ever slows it
    known[key] = {"gflops": best, "measured_at": round(time.time(), 1), "busy": busy}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1))
    except OSError:
        pass
    return best
