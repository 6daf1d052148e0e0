"""One launch for every way in (core/runs/preflight.prepare_launch): the wizard and the
headless command, given the same configuration and data, record the same plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftwizard.cli.commands import headless
from ftwizard.core.hardware.fake_nvml import fixed_report
from ftwizard.core.runs import preflight
from ftwizard.core.runs.folder import RunFolder
from ftwizard.tui.screens.dashboard import DashboardScreen
from ftwizard.tui.screens.review import ReviewScreen
from tests.tui_helpers import make_app, open_step, settle, wait_for


async def test_the_wizard_and_the_headless_command_record_the_same_plan(
    tmp_path: Path, demo_model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The examples' real token counts, as a person's launch has them (the suite counts
    # characters / 4 elsewhere, to keep launches quick).
    monkeypatch.delenv("FTWIZARD_ETA_TOKENS", raising=False)
    started: list[RunFolder] = []
    monkeypatch.setattr(preflight, "launch", lambda run, machines=None: started.append(run))
    # Both on the same machine: the wizard's fixed CPU report.
    monkeypatch.setattr(headless, "probe", lambda runs_root: fixed_report())

    app = make_app(str(tmp_path / "wizard"), gpus=())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "review")
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("ctrl+n")  # launch
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), 300, "the launch")
        await settle(pilot)
    [wizard] = started

    code = headless.run_preset(
        str(wizard.config_path),
        [f"output.runs_root={tmp_path / 'cli'}", "output.run_name=again"],
        dry_run=False,
        as_json=False,
        detach=True,
    )
    assert code == 0
    cli = started[-1]
    assert cli.path == tmp_path / "cli" / "again"
    one, other = wizard.read_status(), cli.read_status()
    assert one.estimate_s_per_step is not None and one.estimate_eta_s is not None
    assert (one.estimate_gb, one.estimate_eta_s, one.estimate_s_per_step) == (
        other.estimate_gb,
        other.estimate_eta_s,
        other.estimate_s_per_step,
    )
