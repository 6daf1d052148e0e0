"""A run in stages: SFT, then DPO from its result, in one detached trainer and one folder."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from ftwizard.core.config.yaml_io import load_config, save_config
from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder, create_run
from ftwizard.core.runs.resume import plan_resume
from ftwizard.core.runs.stages import (
    check_stages,
    evaluated,
    result_of,
    stage_configs,
    stage_folder,
    started_stages,
)
from ftwizard.core.runs.status import process_started
from tests.conftest import ROOT, TEST_CACHE, run_cli
from tests.test_faults import wait_for
from tests.test_training import events

IDENTITY = ROOT / "data" / "demo" / "wizard-identity.jsonl"
PAIRS = ROOT / "data" / "demo" / "wizard-pairs.jsonl"
STAGES = json.dumps(
    [
        {"objective": "sft", "training": {"learning_rate": 0.005}},
        {
            "objective": "dpo",
            "data": str(PAIRS),
            "training": {"max_steps": 4, "learning_rate": 0.0005},
            "checkpointing": {"save_steps": 2},
        },
    ]
)


def _staged(root: Path, model: str | Path = "org/base", *more: str) -> list[str]:
    return [
        f"model.model_name_or_path={model}",
        f"data.path={IDENTITY}",
        "model.dtype=float32",
        f"output.runs_root={root}",
        "output.run_name=two",
        "training.max_steps=3",
        "training.per_device_train_batch_size=2",
        "training.max_length=128",
        "training.gradient_checkpointing=false",
        "evaluation.val_size=0",
        "lora.lora_dropout=0",
        f"stages={STAGES}",
        *more,
    ]


def test_each_stage_is_the_run_with_what_it_sets(tmp_path: Path) -> None:
    mix = f"data.mix=[{{path: {IDENTITY}, weight: 0.2}}]"
    config = load_config(None, _staged(tmp_path, "org/base", mix))
    sft, dpo = stage_configs(config)
    assert len(sft.data.mix) == 1 and dpo.data.mix == []  # the pairs stage has its own data
    assert (sft.method.objective, sft.data.path) == ("sft", str(IDENTITY))
    assert sft.training.learning_rate == 0.005 and sft.training.max_steps == 3
    assert (dpo.method.objective, dpo.data.path) == ("dpo", str(PAIRS))
    assert dpo.training.max_steps == 4 and dpo.checkpointing.save_steps == 2
    assert dpo.training.per_device_train_batch_size == 2  # the run's, not the stage's
    assert not sft.stages and not dpo.stages
    with pytest.raises(UserError, match="one machine"):
        check_stages(config.with_sections(distributed={"num_machines": 2}))


def test_a_stage_speaks_for_the_run_but_only_the_last_one_finishes_it(tmp_path: Path) -> None:
    run = create_run(load_config(None, _staged(tmp_path)))
    first = stage_folder(run, 1)
    me = os.getpid()  # the trainer, as far as the status can tell
    first.write_status(
        state="running", phase="training", step=2, pid=me, pid_started=process_started(me)
    )
    status = run.read_status()
    assert (status.state, status.phase, status.step) == (
        "running",
        "stage 1 of 2: sft, training",
        2,
    )
    assert status.stage == "stage 1 of 2: sft"
    first.write_status(state="finished", phase=None)
    assert first.read_status().state == "finished"
    assert run.read_status().state == "running"  # stage 2 comes next
    second = stage_folder(run, 2)
    assert second.read_config().model.from_run == str(first.path.resolve())
    second.write_status(state="finished")
    assert run.read_status().state == "finished"
    with pytest.raises(UserError, match="no finished stage yet"):
        result_of(run)  # no final/ in either
    (second.path / "final").mkdir()
    assert result_of(run).path == second.path
    # eval and judge: the result, or one stage's model to see what each stage did
    assert evaluated(run, None).path == second.path
    assert evaluated(run, 1).path == first.path
    with pytest.raises(UserError, match="--stage 3: .* no such stage started .started: 1, 2"):
        evaluated(run, 3)


def test_a_run_in_stages_resumes_as_it_is(tmp_path: Path) -> None:
    run = create_run(load_config(None, _staged(tmp_path)))
    stage_folder(run, 1).write_status(state="stopped")
    run.write_status(state="stopped")
    with pytest.raises(UserError, match="resumes as it is"):
        plan_resume(run, ["training.learning_rate=0.1"])
    plan = plan_resume(run)
    assert plan.checkpoint is None and plan.where == "stage 1 of 2: sft, its start"


@pytest.mark.slow
def test_two_stages_from_one_preset_stop_in_stage_2_and_resume_it(
    tmp_path: Path, small_model: Path
) -> None:
    root = tmp_path / "runs"
    preset = tmp_path / "two.yaml"
    # The 4-layer model: a DPO step with its checkpoint takes about 2 s here, so stage 2
    # trains 8 of them for the stop (sent once it has logged a step) to land in it.
    stages = json.loads(STAGES)
    stages[1]["training"]["max_steps"] = 8
    more = f"stages={json.dumps(stages)}"
    save_config(load_config(None, _staged(root, small_model, more)), preset)
    env = {"FTWIZARD_CACHE": str(TEST_CACHE)}
    started = run_cli("--preset", str(preset), "--detach", env=env)
    assert started.returncode == 0, started.stderr
    assert "plan: sft then dpo + lora" in started.stderr
    assert "stage 2 of 2: dpo on" in started.stderr
    run = RunFolder(root / "two")

    # Stop during stage 2, once it has logged a step: a checkpoint, the run stopped.
    def in_stage_2() -> bool:
        stages = started_stages(run)
        return len(stages) == 2 and bool(events(stages[1], "log"))

    wait_for(in_stage_2, timeout=600, what="stage 2's first step")
    assert run_cli("stop", "two", "--root", str(root)).returncode == 0
    wait_for(lambda: run.read_status().state == "stopped", 300, "the run to stop")
    sft, dpo = started_stages(run)
    assert (
        sft.read_status().state == "finished" and (sft.final_dir / "adapter_config.json").exists()
    )
    assert dpo.read_status().state == "stopped"
    status = run_cli("runs", "--root", str(root), "--json")
    [row] = json.loads(status.stdout)
    assert (row["state"], row["stage"]) == ("stopped", "stage 2 of 2: dpo")
    shown = json.loads(run_cli("runs", "two", "--root", str(root), "--json").stdout)
    assert shown["checkpoints"] and all("2-dpo" in c["path"] for c in shown["checkpoints"])

    resumed = run_cli("resume", "two", "--root", str(root), "--detach", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "from stage 2 of 2: dpo, step" in resumed.stderr
    wait_for(lambda: run.read_status().state in ("finished", "failed"), 600, "the run to end")
    assert run.read_status().state == "finished", (run.path / "trainer.log").read_text()[-2000:]
    # Stage 1 trained once; stage 2 twice, the second time from its checkpoint.
    assert [b.step for b in events(sft, "train_begin")] == [0]
    begins = [b.step for b in events(dpo, "train_begin")]
    assert begins[0] == 0 and len(begins) == 2 and begins[1] > 0
    # DPO's reference is the SFT model: its first loss is ln 2.
    first = events(dpo, "log")[0]
    assert abs(first.loss - math.log(2)) <= 0.01, first.loss
    assert dpo.read_config().model.from_run == str(sft.path.resolve())
    # The run's own files tell the whole story, as every viewer reads them.
    kinds = [(e.stage, e.state) for e in events(run, "stage")]
    assert kinds[:3] == [(1, "starting"), (1, "finished"), (2, "starting")]
    assert kinds[-1] == (2, "finished")
    assert run.read_status().output == str(dpo.final_dir)
    assert result_of(run).path == dpo.path


@pytest.mark.slow
async def test_the_wizard_trains_both_stages_and_the_done_screen_shows_both(
    tmp_path: Path, tiny_model: Path
) -> None:
    import time

    from textual.widgets import Input, Static

    from ftwizard.tui.screens.dashboard import DashboardScreen
    from ftwizard.tui.screens.done import DoneScreen
    from ftwizard.tui.screens.params import ParamsScreen
    from ftwizard.tui.screens.purpose import PurposeScreen
    from ftwizard.tui.screens.review import ReviewScreen
    from tests.tui_helpers import make_app, settle, static_text, to_data_step, type_into
    from tests.tui_helpers import wait_for as wait_in_app

    root = tmp_path / "runs"
    app = make_app(str(root), gpus=(), clock=time.time)  # CPU mode, as here
    async with app.run_test(size=(80, 24)) as pilot:
        app.state.purpose = "chat"  # SFT, then DPO on preference pairs
        await to_data_step(pilot, str(IDENTITY), model=str(tiny_model))  # 2 layers: quick
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, PurposeScreen)
        await type_into(pilot, "#pairs-path", str(PAIRS))

        def two_planned() -> bool:
            stages = app.state.stages
            return len(stages) == 2 and stages[1].plan is not None

        await wait_in_app(pilot, two_planned, 120, "the DPO stage's plan")
        text = " ".join(static_text(app.screen.query_one("#plan-decisions", Static)).split())
        assert "stage 2: dpo from stage 1's result on 30 pairs" in text
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ParamsScreen)
        for key, value in {
            "training-max_steps": "2",
            "training-per_device_train_batch_size": "2",
            "training-max_length": "128",
            "evaluation-val_size": "0",
            "checkpointing-save_steps": "2",
        }.items():
            app.screen.query_one(f"#f-{key}", Input).value = value
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        config = app.screen.config
        assert [s.objective for s in config.stages] == ["sft", "dpo"]
        assert config.stages[1].data == str(PAIRS)
        await pilot.press("ctrl+n")  # launch
        await wait_in_app(pilot, lambda: isinstance(app.screen, DashboardScreen), 120, "launch")
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        run = screen.run
        await pilot.press("d")  # detach: the trainer goes on with both stages
        await settle(pilot)
    wait_for(lambda: run.read_status().state in ("finished", "failed"), 900, "both stages")
    assert run.read_status().state == "finished", (run.path / "trainer.log").read_text()[-2000:]
    sft, dpo = started_stages(run)
    assert abs(events(dpo, "log")[0].loss - math.log(2)) <= 0.01

    app = make_app(str(root), gpus=(), clock=time.time)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(DoneScreen(run))
        await settle(pilot)
        summary = static_text(app.screen.query_one("#done-summary", Static))
        assert "stage 1" in summary and "sft: finished" in summary
        assert "stage 2" in summary and "dpo: finished" in summary
        assert (
            str(dpo.final_dir) in summary.replace("\n", "").replace(" ", "") or "2-dpo" in summary
        )


def test_the_shipped_two_stage_preset_reads_its_files_from_beside_it() -> None:
    from ftwizard.core.config.presets import find_preset

    config = load_config(find_preset("demo-stages-cpu"), [])
    sft, dpo = check_stages(config)
    assert Path(sft.data.path).is_file() and Path(dpo.data.path).is_file()
    assert (dpo.method.objective, Path(dpo.data.path).name) == ("dpo", "wizard-pairs.jsonl")
