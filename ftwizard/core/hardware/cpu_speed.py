"""The CPU's matmul speed for ETAs: measured once per machine (``trainer/cpu_speed.py``,
about 5 s) and kept in the cache folder, keyed by the CPU and its core count."""

from __future__ import annotations

import json
import os
import platform
from functools import cache

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


def cpu_gflops(cores: int) -> float:
    """fp32 matmul GFLOP/s of this machine, all threads; measured on first use."""
    if os.environ.get(ENV):
        return float(os.environ[ENV])
    path = cache_dir() / "cpu_speed.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    key = _machine_key()
    if isinstance(known.get(key), (int, float)):
        return float(known[key])
    from ftwizard.core.trainer_calls import call_trainer_module

    try:
        measured = float(call_trainer_module("cpu_speed", [], "Measuring the CPU")["fp32_gflops"])
    except Exception:  # noqa: BLE001 - an ETA is not worth failing a plan for
        return cores * FALLBACK_GFLOPS_PER_CORE
    known[key] = measured
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1))
    except OSError:
        pass
    return measured
