"""The wizard's start screen and its parts, driven with Textual's pilot."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import DataTable

from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.core.runs.folder import RunFolder
from ftwizard.tui.app import FtwizardApp
from ftwizard.tui.screens.dashboard import DashboardScreen
from ftwizard.tui.screens.done import DoneScreen
from ftwizard.tui.screens.model import ModelScreen
from ftwizard.tui.screens.resume import ResumeScreen
from ftwizard.tui.screens.start import StartScreen
from ftwizard.tui.widgets.hardware_panel import HardwarePanel
from ftwizard.views.bars import share_bar
from tests.conftest import ROOT
from tests.recorded_runs import record_run
from tests.tui_helpers import make_app, settle


def _panel_text(app: FtwizardApp) -> str:
    panel = app.screen.query_one(HardwarePanel)
    return "\n".join(line.text for line in panel.render_lines(panel.region.reset_offset))


async def test_start_screen_shows_each_gpu(tmp_path: Path) -> None:
    app = make_app(str(tmp_path), gpus=(24, 80))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        text = _panel_text(app)
        assert "GPU 0" in text and "GPU 1" in text
        assert "1.2 GiB used of 80.0 GiB" in text
        assert "bf16 yes" in text


async def test_start_screen_says_cpu_mode_in_words(tmp_path: Path) -> None:
    app = make_app(str(tmp_path), gpus=())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = _panel_text(app)
        assert "No NVIDIA GPU found: CPU mode" in text
        assert "NVML library not found" in text


async def test_refresh_probes_again_off_the_event_loop(fixed_report, tmp_path: Path) -> None:
    calls: list[int] = []

    def counting_probe() -> HardwareReport:
        calls.append(1)
        report: HardwareReport = fixed_report(8 * len(calls))
        return report

    app = FtwizardApp(hardware_probe=counting_probe, runs_root=str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert len(calls) == 2
        assert "16.0 GiB" in _panel_text(app)


async def test_quit_key_exits(tmp_path: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test() as pilot:
        await pilot.press("q")
    assert app.return_code == 0


def test_share_bar_shows_the_share_without_colour() -> None:
    assert share_bar(5, 10, width=10).plain == "[#####.....]"
    assert share_bar(None, 10, width=4).plain == "[????]"
    assert share_bar(12, 10, width=4).plain == "[####]"


async def test_runs_list_says_what_enter_does_and_does_it(tmp_path: Path) -> None:
    record_run(tmp_path, "a-running", "running", 10)
    record_run(tmp_path, "b-stopped", "stopped", 20, checkpoints=(20,))
    record_run(tmp_path, "c-finished", "finished", 120)
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs", DataTable)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
        loss = RunFolder(tmp_path / "a-running").read_status().last_loss
        # The clock stands 400 s after the recorded runs were created.
        assert rows["a-running"][1:] == ["running", "attach", "10/120", f"{loss:.4f}", "6m40s ago"]
        assert rows["b-stopped"][2] == "resume"
        assert rows["c-finished"][2] == "results"
        expected = {"a-running": DashboardScreen, "b-stopped": ResumeScreen}
        expected["c-finished"] = DoneScreen
        for name, screen_type in expected.items():
            table.focus()
            table.move_cursor(row=table.get_row_index(str(tmp_path / name)))
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, screen_type), name
            assert app.screen.run.name == name  # type: ignore[attr-defined]
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, StartScreen)


async def test_a_damaged_run_is_one_row_that_says_what_and_where(tmp_path: Path) -> None:
    record_run(tmp_path, "a-finished", "finished", 120)
    damaged = tmp_path / "b-damaged"
    shutil.copytree(ROOT / "tests" / "bad_inputs" / "damaged_runs" / "status_list", damaged)
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs", DataTable)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
        assert rows["a-finished"][1:3] == ["finished", "results"]
        assert rows["b-damaged"][1:3] == ["damaged", "why"]
        table.focus()
        table.move_cursor(row=table.get_row_index(str(damaged)))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)  # nothing to open: it says why
        said = [n.message for n in app._notifications]
        assert any("b-damaged/status.json: holds list, not an object" in m for m in said), said


async def test_new_run_waits_for_the_hardware_then_opens_the_model_step(tmp_path: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ModelScreen)
