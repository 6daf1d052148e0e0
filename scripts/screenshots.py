"""Regenerate ``screenshots/*.svg`` from the real app (``make screenshots``).

One picture per wizard step, driven through the app with Textual's pilot the way
a person would (keys, typed text), plus the dashboard mid-run, the resume picker
and the done screen from recorded run folders. Hardware is simulated through the
fake NVML (two RTX 4090s) so the pictures show a GPU server whatever machine runs
this; times are fixed so the pictures only change when the app does.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from textual.pilot import Pilot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.hardware.fake_nvml import fixed_report  # noqa: E402
from ftwizard.tui.app import FtwizardApp  # noqa: E402
from tests.recorded_runs import T0, record_run  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (100, 32)
DATA = "data/demo/wizard-identity.jsonl"


async def settle(pilot: Pilot[int]) -> None:
    """Let workers (probe, catalog, validation, token statistics) finish and the screen redraw."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.2)


def save(app: FtwizardApp, name: str) -> None:
    app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
    print(OUT / f"{name}.svg")


def recorded_runs(root: Path) -> dict[str, Path]:
    return {
        "running": record_run(root, "smollm2-sft-lora-demo", "running", 86, checkpoints=(50,)),
        "oom": record_run(
            root,
            "qwen2.5-7b-sft-lora",
            "failed",
            41,
            checkpoints=(20, 40),
            incomplete=(40,),
            oom=True,
            gpus=1,
            card_gb=24.0,
        ),
        "two-gpus": record_run(
            root, "qwen2.5-7b-qlora-2gpu", "running", 86, checkpoints=(50,), gpus=2, card_gb=24.0
        ),
        "finished": record_run(root, "smollm2-identity", "finished", 120, checkpoints=(100, 120)),
    }


async def wizard_steps(root: Path) -> None:
    app = FtwizardApp(
        hardware_probe=lambda: fixed_report(24, 24), runs_root=str(root), clock=lambda: T0 + 400
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        save(app, "01-start")
        await pilot.press("n")
        await settle(pilot)
        await pilot.press(*"smollm2", "enter")
        await settle(pilot)
        save(app, "02-model")
        await pilot.press("ctrl+n")
        await pilot.press(*DATA, "enter")
        await settle(pilot)
        save(app, "03-data")
        await pilot.press("ctrl+n")
        await settle(pilot)
        save(app, "04-purpose")
        await pilot.press("ctrl+n")
        await settle(pilot)
        save(app, "05-settings")
        await pilot.press("ctrl+n")
        await settle(pilot)
        save(app, "06-review")


async def run_screens(root: Path, runs: dict[str, Path]) -> None:
    from ftwizard.core.runs.folder import RunFolder
    from ftwizard.tui.screens.done import DoneScreen
    from ftwizard.tui.screens.resume import ResumeScreen

    app = FtwizardApp(
        hardware_probe=lambda: fixed_report(24, 24), runs_root=str(root), clock=lambda: T0 + 400
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_dashboard(RunFolder(runs["running"]))
        await settle(pilot)
        save(app, "07-dashboard")
        app.open_dashboard(RunFolder(runs["oom"]))
        await settle(pilot)
        save(app, "08-dashboard-oom")
        app.push_screen(ResumeScreen(RunFolder(runs["oom"])))
        await settle(pilot)
        save(app, "09-resume")
        app.pop_screen()
        app.push_screen(DoneScreen(RunFolder(runs["finished"])))
        await settle(pilot)
        save(app, "10-done")
        app.pop_screen()
        app.open_dashboard(RunFolder(runs["two-gpus"]))
        await settle(pilot)
        save(app, "11-dashboard-gpus")


def plot_picture(runs: dict[str, Path]) -> None:
    """What `ftwizard plot RUN --out FILE` writes, for the README."""
    from ftwizard.core.runs.folder import RunFolder
    from ftwizard.views.figure_file import run_charts, write_figure

    run = RunFolder(runs["two-gpus"])
    print(write_figure(run_charts(run), OUT / "12-plot.png", run.name))


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        runs = recorded_runs(root)
        await wizard_steps(root)
        await run_screens(root, runs)
        plot_picture(runs)


if __name__ == "__main__":
    asyncio.run(main())
