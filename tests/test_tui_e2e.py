"""The wizard with the real trainer: from the start screen to a launched run on the
demo model and a shared dataset, and attach / checkpoint / stop / resume by keys."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from ftwizard.core.runs.checkpoints import list_checkpoints
from ftwizard.core.runs.folder import RunFolder, list_runs
from ftwizard.core.runs.launch import launch, stop
from ftwizard.tui.screens.dashboard import DashboardScreen
from ftwizard.tui.screens.done import DoneScreen
from ftwizard.tui.screens.params import ParamsScreen
from ftwizard.tui.screens.prompt import Choose
from ftwizard.tui.screens.resume import ResumeScreen
from ftwizard.tui.screens.review import ReviewScreen
from tests.conftest import TEST_DATA
from tests.test_faults import pid_gone, wait_for
from tests.test_training import DEMO_DATA, events, make_run
from tests.tui_helpers import make_app, settle, static_text, to_data_step
from tests.tui_helpers import wait_for as wait_in_app

pytestmark = pytest.mark.slow
ALPACA = TEST_DATA / "alpaca_en_demo.json"


def _first_log_keys(run: RunFolder) -> set[str]:
    lines = run.events_path.read_text().splitlines()
    return set(next(e for e in map(json.loads, lines) if e["type"] == "log"))


async def test_wizard_from_start_screen_to_a_running_trainer_and_detach(
    tmp_path: Path, demo_model_folder: Path
) -> None:
    app = make_app(str(tmp_path / "runs"), gpus=(), clock=time.time)  # CPU mode, as here
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data_step(pilot, str(ALPACA))
        assert app.state.data_stats is not None  # tokenised with the demo model's tokenizer
        await pilot.press("ctrl+n")  # purpose: the plan for CPU
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ParamsScreen)
        # A short run: typed into the form the way a person would.
        for key, value in {
            "training-max_steps": "3",
            "training-per_device_train_batch_size": "2",
            "training-gradient_accumulation_steps": "1",
            "training-max_length": "128",
            "evaluation-eval_steps": "2",
            "checkpointing-save_steps": "2",
        }.items():
            app.screen.query_one(f"#f-{key}", Input).value = value
        await settle(pilot)
        assert app.state.config.training.max_steps == 3
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("ctrl+n")  # launch
        await wait_in_app(pilot, lambda: isinstance(app.screen, DashboardScreen), 120, "launch")
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        run = screen.run
        await wait_in_app(
            pilot, lambda: len(screen.tail.train_loss) >= 1, 300, "the first logged loss"
        )
        stats = static_text(screen.query_one("#run-stats", Static))
        assert re.search(rf"loss\s+{screen.tail.train_loss.latest[1]:.4f} \(step 1\)", stats)
        assert "elapsed" in stats and "step 1/3" in stats
        await pilot.press("d")  # detach: the app quits, the trainer does not
        await settle(pilot)
    assert app.return_code == 0
    wait_for(lambda: run.read_status().state == "finished", 300, "the run to finish")
    logged = [e.step for e in events(run, "log")]
    assert logged == [1, 2, 3]
    assert run.read_config().data.path == str(ALPACA)
    # The plan held out a validation split (150 rows: about 9), so the run has an eval curve.
    val_size = run.read_config().evaluation.val_size
    assert 0 < val_size <= 0.06
    assert [e.step for e in events(run, "eval")][:1] == [2]
    [data] = events(run, "data")
    assert abs(data.rows_eval - 150 * val_size) <= 3 and data.loss == "assistant"
    assert (run.final_dir / "adapter_model.safetensors").exists()
    # The model card carries the plan the wizard showed, with its reasons.
    card = (run.final_dir / "README.md").read_text()
    assert "## What the plan decided" in card and "| validation |" in card

    # Back in the wizard: the finished run opens its results; sample and merge by keys.
    app = make_app(str(tmp_path / "runs"), gpus=(), clock=time.time)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs", DataTable)
        assert table.get_row_at(0)[2] == "results"
        table.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        await pilot.press("s")
        await wait_in_app(pilot, lambda: not app.screen.query_one("#done-output").loading, 300)
        output = static_text(app.screen.query_one("#done-output", Static))
        assert "base model" in output and "fine-tuned" in output and "Who are you?" in output
        await pilot.press("m")
        await wait_in_app(pilot, lambda: not app.screen.query_one("#done-output").loading, 300)
        output = static_text(app.screen.query_one("#done-output", Static))
        assert output.startswith("merged model written to")
        merged = Path(output.split("written to ")[1].split()[0])
        assert (merged / "config.json").exists()


async def test_attach_checkpoint_stop_and_resume_by_keys(tmp_path: Path, small_model: Path) -> None:
    run = make_run(
        tmp_path,
        small_model,
        DEMO_DATA,
        "training.max_steps=400",
        "checkpointing.save_steps=1000",
        "training.max_length=128",
        "training.per_device_train_batch_size=4",
    )
    launch(run)
    app = make_app(str(tmp_path / "runs"), gpus=(), clock=time.time)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#runs", DataTable)
            assert table.get_row_at(0)[2] == "attach"
            table.focus()
            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await wait_in_app(pilot, lambda: len(screen.tail.train_loss) >= 2, 300, "steps")

            await pilot.press("c")  # a checkpoint now, training goes on
            await wait_in_app(pilot, lambda: bool(list_checkpoints(run)), 120, "checkpoint")
            assert run.read_status().state == "running"

            await pilot.press("s")
            await settle(pilot)
            assert isinstance(app.screen, Choose)
            await pilot.click("#choice-stop")
            await wait_in_app(
                pilot, lambda: screen.status.state == "stopped", 120, "the stop shown"
            )
            assert "press u to resume" in static_text(screen.query_one("#run-problem", Static))
            stopped_at = run.read_status().step
            newest = list_checkpoints(run)[-1]
            assert newest.resumable and newest.step == stopped_at

            await pilot.press("u")
            await settle(pilot)
            assert isinstance(app.screen, ResumeScreen)
            await pilot.press("enter")
            await settle(pilot)
            dashboard = app.screen
            assert isinstance(dashboard, DashboardScreen)
            await wait_in_app(
                pilot,
                lambda: any(e.step == stopped_at + 1 for e in events(run, "log")),
                300,
                "a step after the resume",
            )
            assert [r.name for r in list_runs(tmp_path / "runs")] == [run.name]
            await pilot.press("d")
    finally:
        status = run.read_status()
        if status.state in ("starting", "running"):
            stop(run, wait_s=120)
        if isinstance(status.pid, int):
            wait_for(lambda: pid_gone(status.pid), 60, "the trainer to exit")
    resumed = [e for e in events(run, "launch") if e.resume_from]
    assert resumed and resumed[-1].resume_from.endswith(f"checkpoint-{stopped_at}")


def test_recorded_run_folders_are_what_the_trainer_writes(tmp_path: Path, tiny_model: Path) -> None:
    """The recorded folders the dashboard tests use match a real run's files."""
    from tests.recorded_runs import record_run
    from tests.test_training import train

    real = make_run(tmp_path, tiny_model, DEMO_DATA)
    assert train(real) == 0
    recorded = RunFolder(record_run(tmp_path / "recorded", "r", "finished", 2, checkpoints=(2,)))
    for run in (real, recorded):
        assert {"train_begin", "log", "checkpoint"} <= {e.type for e in run.read_events()[0]}
    # The files' own keys, as each writes them.
    real_log, recorded_log = (_first_log_keys(run) for run in (real, recorded))
    assert recorded_log <= real_log | {"tokens_per_s"}
    real_status, recorded_status = (
        set(json.loads(run.status_path.read_text())) for run in (real, recorded)
    )
    assert recorded_status - {"estimate_gb", "oom", "advice", "error"} <= real_status
    assert [c.kind for c in list_checkpoints(recorded)] == [c.kind for c in list_checkpoints(real)]
