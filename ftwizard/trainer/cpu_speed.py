"""This machine's CPU matmul speed, for the plan's ETA on the CPU.

python -m ftwizard.trainer.cpu_speed  ->  {"fp32_gflops": ..., "threads": ...}

A few seconds of torch matmuls of training's sizes (1024 wide, fp32, torch's own thread
count), measured rather than assumed per core: CPUs of one core count differ several-fold.
``core/hardware/cpu_speed.py`` keeps the answer per machine.
"""

from __future__ import annotations

import sys
import time

import torch

from ftwizard.core.trainer_calls import CpuSpeed
from ftwizard.trainer.components.reply import reply


def measure(size: int = 1024, windows: int = 4, seconds: float = 0.6) -> CpuSpeed:
    """The best of a few short windows: another job on a shared machine slows some of
    them, and the figure should describe the machine, not the moment."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(windows):
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            a @ b
            runs += 1
        rates.append(2 * size**3 * runs / (time.perf_counter() - started) / 1e9)
    return CpuSpeed(
        fp32_gflops=round(max(rates), 1), threads=torch.get_num_threads(), torch=torch.__version__
    )


if __name__ == "__main__":
    sys.exit(reply(lambda: measure().model_dump()))
