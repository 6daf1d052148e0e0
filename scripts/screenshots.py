"""Regenerate ``screenshots/*.svg`` from the real app (``make screenshots``).

Hardware is simulated through the fake NVML so the pictures show a GPU server
whatever machine runs this; RAM and disk figures are this machine's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from ftwizard.core.fake_nvml import FakeNvml
from ftwizard.core.hardware import HardwareReport, probe
from ftwizard.tui.app import FtwizardApp

OUT = Path(__file__).resolve().parents[1] / "screenshots"
SIZE = (100, 30)


async def shoot(name: str, hardware: Callable[[], HardwareReport]) -> Path:
    app = FtwizardApp(hardware_probe=hardware)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        path = OUT / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(OUT))
    return path


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    gpus = "NVIDIA GeForce RTX 4090:24:8.9,x2"
    shots = {
        "01-start-gpu": lambda: probe(nvml_module=FakeNvml.from_spec(gpus)),
        "01-start-cpu": lambda: probe(nvml_module=FakeNvml(library_missing=True)),
    }
    for name, hardware in shots.items():
        print(await shoot(name, hardware))


if __name__ == "__main__":
    asyncio.run(main())
