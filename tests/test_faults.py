"""Faults a training meets in real life: kills, stops, hang-ups, two writers, broken files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ftwizard.core.lifetime import EXIT_HANGUP
from ftwizard.core.runs.checkpoints import latest_resumable, list_checkpoints
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.launch import launch, stop
from ftwizard.core.runs.resume import plan_resume
from tests.conftest import ROOT, TEST_CACHE, run_cli
from tests.test_training import DEMO_DATA, events, make_run, train

pytestmark = pytest.mark.slow
# Short runs: each of these tests trains the small model to the end at least once, and
# on two busy cores a step can take seconds. Killed at step 12, the newest complete
# checkpoint is 10, with three steps' margin before 15 is written.
MAX_STEPS = 20
SAVE_STEPS = 5


def start(tmp_path: Path, model: Path) -> RunFolder:
    run = make_run(
        tmp_path,
        model,
        DEMO_DATA,
        f"training.max_steps={MAX_STEPS}",
        f"checkpointing.save_steps={SAVE_STEPS}",
        "checkpointing.save_total_limit=10",
        "training.max_length=128",
        "training.per_device_train_batch_size=4",
    )
    launch(run)
    return run


def wait_for(condition, timeout: float = 300, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def last_step(run: RunFolder) -> int:
    logs = events(run, "log")
    return logs[-1].step if logs else 0


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie child of this process counts as gone
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def test_sigkill_then_resume_continues_at_the_checkpoint(tmp_path, small_model) -> None:
    run = start(tmp_path, small_model)
    wait_for(lambda: last_step(run) >= 12, what="step 12")
    pid = run.read_status().pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), what="the trainer to die")
    assert run.read_status().state == "failed"  # a dead pid is not "running"
    checkpoint = latest_resumable(run)
    assert checkpoint.step == 2 * SAVE_STEPS
    launch(run, resume=checkpoint.path)
    wait_for(lambda: run.read_status().state == "finished", what="the resumed run to finish")
    launches = [i for i, e in enumerate(run.read_events()[0]) if e.type == "launch"]
    after = [e.step for e in run.read_events()[0][launches[-1] :] if e.type == "log"]
    assert after == list(range(checkpoint.step + 1, MAX_STEPS + 1))  # no lost or repeated step
    assert run.read_status().step == MAX_STEPS


def test_sigterm_saves_a_resumable_checkpoint_and_stops(tmp_path, small_model) -> None:
    run = start(tmp_path, small_model)
    wait_for(lambda: last_step(run) >= 5, what="step 5")
    assert stop(run, wait_s=300) == "stopped"
    status = run.read_status()
    newest = list_checkpoints(run)[-1]
    assert newest.step == status.step and newest.resumable
    assert not run.lock_path.exists()
    resumed = run_cli("resume", run.name, "--root", str(run.path.parent), "--detach")
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: run.read_status().state == "finished", what="the resumed run")


def test_hangup_of_the_launching_terminal_does_not_stop_training(tmp_path, small_model) -> None:
    preset = tmp_path / "p.yaml"
    preset.write_text(
        yaml.safe_dump(
            {
                "model": {"model_name_or_path": str(small_model), "dtype": "float32"},
                "data": {"path": str(DEMO_DATA)},
                "training": {
                    "max_steps": 12,
                    "per_device_train_batch_size": 4,
                    "max_length": 128,
                    "gradient_checkpointing": False,
                },
                "checkpointing": {"save_steps": 6},
                "output": {"runs_root": str(tmp_path / "runs"), "run_name": "hup"},
            }
        )
    )
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ftwizard.cli.main", "--preset", str(preset)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,
        # Started with the hang-up ignored, as under nohup: the view must still go.
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    run = RunFolder(tmp_path / "runs" / "hup")
    wait_for(lambda: run.events_path.exists() and last_step(run) >= 3, what="step 3")
    launcher.send_signal(signal.SIGHUP)
    # The view leaves at once; the bound is for a loaded machine.
    assert launcher.wait(timeout=120) == EXIT_HANGUP  # the viewer is gone...
    wait_for(lambda: run.read_status().state == "finished", what="training to go on")
    assert run.read_status().step == 12  # ...and training went on


def test_a_second_trainer_on_the_same_run_is_refused(tmp_path, small_model) -> None:
    run = start(tmp_path, small_model)
    wait_for(lambda: run.lock_path.exists(), what="the lock")
    assert train(run) == 2
    stop(run, wait_s=300)


def test_a_stale_lock_and_staging_are_cleared_with_a_note(tmp_path, tiny_model) -> None:
    run = make_run(tmp_path, tiny_model, DEMO_DATA)
    run.lock_path.write_text("999999")  # no such process
    stale = run.staging_dir / "checkpoint-9"  # half a checkpoint, from a trainer killed
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"x" * 1000)
    assert train(run) == 0
    notes = [(e.note or "") for e in events(run, "status")]
    assert any("stale lock left by pid 999999" in note for note in notes)
    assert not stale.exists()


# Damage done to one file of checkpoint-4: (file, what happens to it, the kind the
# checkpoint becomes, words of the problem shown). "cut" keeps the first half, as a
# failed copy would.
DAMAGE = {
    "empty adapter": ("adapter_model.safetensors", "empty", "incomplete", "empty"),
    "cut adapter": ("adapter_model.safetensors", "cut", "incomplete", "is truncated"),
    "no adapter config": ("adapter_config.json", "delete", "incomplete", "is missing"),
    "no optimizer": ("optimizer.pt", "delete", "weights only", "optimizer.pt is missing"),
    "cut optimizer": ("optimizer.pt", "cut", "weights only", "optimizer.pt is truncated"),
    "cut rng state": ("rng_state*", "cut", "weights only", "is truncated"),
}


def harm(checkpoint: Path, pattern: str, how: str) -> None:
    path = next(checkpoint.glob(pattern))
    if how == "delete":
        path.unlink()
    else:
        path.write_bytes(b"" if how == "empty" else path.read_bytes()[: path.stat().st_size // 2])


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> RunFolder:
    tmp = tmp_path_factory.mktemp("two-checkpoints")
    run = make_run(tmp, tiny_model, DEMO_DATA, "training.max_steps=4", "checkpointing.save_steps=2")
    assert train(run) == 0
    return run


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_passed_over_for_the_one_before(
    tmp_path: Path, two_checkpoints: RunFolder, damage: str
) -> None:
    run = RunFolder(tmp_path / two_checkpoints.name)
    shutil.copytree(two_checkpoints.path, run.path)
    pattern, how, kind, words = DAMAGE[damage]
    harm(run.checkpoints_dir / "checkpoint-4", pattern, how)
    checkpoints = {c.step: c for c in list_checkpoints(run)}
    assert checkpoints[2].kind == "resumable" and checkpoints[2].problem is None
    assert checkpoints[4].kind == kind and words in (checkpoints[4].problem or "")
    assert latest_resumable(run).step == 2
    plan = plan_resume(run, ["training.max_steps=6"])
    assert [c.step for c in plan.skipped] == [4]
    assert plan.warnings == [
        f"checkpoint-4 skipped ({checkpoints[4].problem}); resuming from checkpoint-2"
    ]
    shown = run_cli("runs", run.name, "--root", str(run.path.parent))
    assert kind in shown.stdout and words in " ".join(shown.stdout.split())


def test_a_resume_past_a_damaged_checkpoint_warns_and_trains_on(
    tmp_path: Path, two_checkpoints: RunFolder
) -> None:
    run = RunFolder(tmp_path / two_checkpoints.name)
    shutil.copytree(two_checkpoints.path, run.path)
    (run.checkpoints_dir / "checkpoint-4" / "optimizer.pt").unlink()
    result = run_cli(
        "resume",
        run.name,
        "--root",
        str(run.path.parent),
        "--set",
        "training.max_steps=6",
        "--allow-changes",
        env={"FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: checkpoint-4 skipped (optimizer.pt is missing)" in result.stderr
    [warning] = [e.message for e in events(run, "warning")]
    assert warning == "checkpoint-4 skipped (optimizer.pt is missing); resuming from checkpoint-2"
    assert run.read_status().state == "finished"
    steps = [e.step for e in events(run, "log")]
    assert steps == [1, 2, 3, 4, 3, 4, 5, 6]  # the resume trained on from step 2


BAD_PRESETS = {
    "missing-model": (["model.model_name_or_path=nobody/not-a-model"], "not found"),
    "invalid-data": (
        [f"data.path={ROOT / 'tests' / 'data_bad' / 'number_output.jsonl'}"],
        "1 invalid rows",
    ),
    "bad-targets": (["lora.target_modules=c_attn,q_proj"], "Its decoder layers have: q_proj"),
    "objective-mismatch": (["method.objective=dpo"], "trains on preference pairs"),
    "no-data": (["data.path="], "data.path is empty"),
}


@pytest.mark.parametrize("case", BAD_PRESETS)
def test_bad_presets_stop_before_any_weight_loads(tmp_path, case) -> None:
    """Found before the built-in model is even converted: no FTWIZARD_CACHE is needed."""
    overrides, expected = BAD_PRESETS[case]
    args = ["--preset", "demo-cpu", "--set", f"output.runs_root={tmp_path / 'runs'}"]
    for override in overrides:
        args += ["--set", override]
    result = run_cli(*args, env={"FTWIZARD_CACHE": str(tmp_path / "empty-cache")})
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unwritable_runs_root_and_unknown_run(tmp_path, demo_model_folder) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli(
        "--preset",
        "demo-cpu",
        "--set",
        f"output.runs_root={blocker / 'runs'}",
        env={"FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    assert result.returncode == 2 and "runs root is not writable" in result.stderr
    missing = run_cli("resume", "no-such-run", "--root", str(tmp_path))
    assert missing.returncode == 2 and "No run `no-such-run`" in missing.stderr
