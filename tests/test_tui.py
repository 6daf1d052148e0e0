"""The wizard's first screen, driven with Textual's pilot and pinned by SVG snapshots."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from ftwizard.core.hardware import HardwareReport
from ftwizard.tui.app import FtwizardApp
from ftwizard.tui.screens.start import StartScreen
from ftwizard.tui.widgets.hardware_panel import HardwarePanel, memory_bar


async def _probed(pilot: Pilot[int]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _panel_text(app: FtwizardApp) -> str:
    panel = app.screen.query_one(HardwarePanel)
    return "\n".join(line.text for line in panel.render_lines(panel.region.reset_offset))


async def test_start_screen_shows_each_gpu(fixed_report) -> None:
    app = FtwizardApp(hardware_probe=lambda: fixed_report(24, 80))
    async with app.run_test(size=(80, 24)) as pilot:
        await _probed(pilot)
        assert isinstance(app.screen, StartScreen)
        text = _panel_text(app)
        assert "GPU 0" in text and "GPU 1" in text
        assert "1.2 GiB used of 80.0 GiB" in text
        assert "bf16 yes" in text


async def test_start_screen_says_cpu_mode_in_words(fixed_report) -> None:
    app = FtwizardApp(hardware_probe=lambda: fixed_report())
    async with app.run_test(size=(80, 24)) as pilot:
        await _probed(pilot)
        text = _panel_text(app)
        assert "No NVIDIA GPU found: CPU mode" in text
        assert "NVML library not found" in text


async def test_refresh_probes_again_off_the_event_loop(fixed_report) -> None:
    calls: list[int] = []

    def counting_probe() -> HardwareReport:
        calls.append(1)
        return fixed_report(8 * len(calls))

    app = FtwizardApp(hardware_probe=counting_probe)
    async with app.run_test(size=(80, 24)) as pilot:
        await _probed(pilot)
        await pilot.press("r")
        await _probed(pilot)
        assert len(calls) == 2
        assert "16.0 GiB" in _panel_text(app)


async def test_quit_key_exits(fixed_report) -> None:
    app = FtwizardApp(hardware_probe=lambda: fixed_report())
    async with app.run_test() as pilot:
        await pilot.press("q")
    assert app.return_code == 0


def test_memory_bar_shows_the_share_without_colour() -> None:
    assert memory_bar(5, 10, width=10).plain == "[#####.....]"
    assert memory_bar(None, 10, width=4).plain == "[????]"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("gpus", [(), (24, 24)], ids=["cpu", "two-gpus"])
def test_start_screen_snapshot(snap_compare, fixed_report, size, gpus) -> None:
    app = FtwizardApp(hardware_probe=lambda: fixed_report(*gpus))
    assert snap_compare(app, terminal_size=size, run_before=_probed)
