"""Faults injected at exact points of a real training (tests/faults/sitecustomize.py):
a kill while a checkpoint is written or during evaluation, and a full disk."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from ftwizard.core.runs.checkpoints import latest_resumable, list_checkpoints
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.launch import launch
from ftwizard.core.runs.resume import plan_resume, start_resume
from tests.conftest import ROOT
from tests.test_faults import pid_gone, wait_for
from tests.test_training import DEMO_DATA, events, make_run

pytestmark = pytest.mark.slow
STEPS = 12


def start_with_fault(
    tmp_path: Path, model: Path, fault: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunFolder, Path]:
    marker = tmp_path / "fault-reached"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests" / "faults"), str(ROOT)]))
    monkeypatch.setenv("FTWIZARD_TEST_FAULT", fault)
    monkeypatch.setenv("FTWIZARD_TEST_MARKER", str(marker))
    run = make_run(
        tmp_path,
        model,
        DEMO_DATA,
        f"training.max_steps={STEPS}",
        "checkpointing.save_steps=4",
        "checkpointing.save_total_limit=10",
        "evaluation.val_size=0.1",
        "evaluation.eval_steps=6",
        "training.max_length=128",
    )
    launch(run)
    for name in ("FTWIZARD_TEST_FAULT", "FTWIZARD_TEST_MARKER"):
        monkeypatch.delenv(name)  # the resumed trainer runs clean
    return run, marker


def kill_at_marker(run: RunFolder, marker: Path) -> None:
    wait_for(marker.exists, what="the injected fault")
    pid = run.read_status().pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), timeout=30, what="the killed trainer")


def resume_to_the_end(run: RunFolder, checkpoint_step: int) -> None:
    before = len(events(run, "log"))
    start_resume(plan_resume(run))
    wait_for(lambda: run.read_status().state in ("finished", "failed"), what="the end")
    assert run.read_status().state == "finished", run.log_path.read_text()[-2000:]
    # Nothing after the checkpoint is lost, nothing before it done twice.
    resumed = [e.step for e in events(run, "log")[before:]]
    assert resumed == list(range(checkpoint_step + 1, STEPS + 1))
    assert run.read_status().step == STEPS


def test_kill_while_a_checkpoint_is_written(tmp_path, small_model, monkeypatch) -> None:
    run, marker = start_with_fault(tmp_path, small_model, "kill-in-save:8", monkeypatch)
    kill_at_marker(run, marker)
    # The half-written checkpoint-8 never reached checkpoints/; checkpoint-4 is whole.
    assert [c.step for c in list_checkpoints(run)] == [4]
    assert latest_resumable(run).step == 4
    resume_to_the_end(run, 4)


def test_kill_during_evaluation(tmp_path, small_model, monkeypatch) -> None:
    run, marker = start_with_fault(tmp_path, small_model, "kill-in-eval:6", monkeypatch)
    kill_at_marker(run, marker)
    assert latest_resumable(run).step == 4
    resume_to_the_end(run, 4)


def test_a_full_disk_fails_in_words_and_keeps_earlier_checkpoints(
    tmp_path, small_model, monkeypatch
) -> None:
    run, marker = start_with_fault(tmp_path, small_model, "enospc:8", monkeypatch)
    wait_for(lambda: run.read_status().state in ("finished", "failed"), what="the end")
    status = run.read_status()
    assert status.state == "failed"
    assert "the disk is full" in status.error and "checkpoint-4 is intact" in status.error
    assert f"ftwizard resume {run.name}" in status.error
    assert events(run, "error")[-1].kind == "disk_full"
    assert [c.step for c in list_checkpoints(run)] == [4] and latest_resumable(run).resumable


def test_a_full_disk_under_safetensors_fails_in_words(tmp_path, small_model, monkeypatch) -> None:
    run, marker = start_with_fault(tmp_path, small_model, "safetensors-full:8", monkeypatch)
    wait_for(lambda: run.read_status().state in ("finished", "failed"), what="the end")
    status = run.read_status()
    assert "the disk is full" in status.error and "checkpoint-4 is intact" in status.error
    assert events(run, "error")[-1].kind == "disk_full"
    assert not run.staging_dir.exists()  # the half-written checkpoint-8 is gone, not kept
    assert [c.step for c in list_checkpoints(run)] == [4] and latest_resumable(run).resumable


def test_a_disk_too_full_for_the_status_too_is_still_said_and_resumed(
    tmp_path, small_model, monkeypatch
) -> None:
    # From checkpoint-8 on nothing can be written: not the checkpoint, not an event,
    # not the status. The trainer's last word goes to its log, where viewers look.
    run, marker = start_with_fault(tmp_path, small_model, "disk-full:8", monkeypatch)
    wait_for(marker.exists, what="the full disk")
    pid = run.read_status().pid
    wait_for(lambda: pid_gone(pid), timeout=300, what="the trainer to end")
    assert json.loads(run.status_path.read_text())["state"] == "running"  # it could not say
    status = run.read_status()
    assert status.state == "failed"
    assert "the disk is full" in status.error and "checkpoint-4 is intact" in status.error
    assert not list(run.path.glob(".status.json.*.tmp"))
    resume_to_the_end(run, 4)


def test_bad_input_found_by_the_trainer_is_recorded_in_words(tmp_path, tiny_model) -> None:
    # A model folder that only the trainer opens: weights as a pickle file.
    import shutil

    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    weights = next(folder.glob("*.safetensors"))
    torch.save(load_file(weights), folder / "pytorch_model.bin")
    weights.unlink()
    run = make_run(tmp_path, folder, DEMO_DATA)
    launch(run)
    wait_for(lambda: run.read_status().state == "failed", what="the refusal")
    assert "safetensors only" in run.read_status().error
    error = events(run, "error")[-1]
    assert error.kind == "input" and "pytorch_model.bin" in error.message


def test_hangup_of_the_wizard_watching_a_run_does_not_stop_training(tmp_path, small_model) -> None:
    from ftwizard.core.lifetime import EXIT_HANGUP
    from tests.terminal import Terminal

    run = make_run(
        tmp_path,
        small_model,
        DEMO_DATA,
        "training.max_steps=12",
        "training.max_length=128",
        "checkpointing.save_steps=6",
    )
    launch(run)
    wait_for(lambda: any(e.step >= 2 for e in events(run, "log")), what="step 2")
    # cwd: its runs root, runs/, holds the training run. SIGHUP inherited as ignored,
    # as under nohup: the wizard must go all the same.
    wizard = Terminal(
        [sys.executable, "-m", "ftwizard.cli.main"],
        tmp_path,
        rows=24,
        columns=80,
        hangup_ignored=True,
    )
    try:
        wizard.wait_for("Welcome to ftwizard", timeout=300)
        wizard.press(b"\r")  # Enter on the running run: its dashboard
        wizard.wait_for("Save now", timeout=300)  # the footer: the dashboard of a running run
        wizard.process.send_signal(signal.SIGHUP)  # the SSH connection drops
        assert wizard.wait_exit(120) == EXIT_HANGUP
    finally:
        wizard.close()
    wait_for(lambda: run.read_status().state == "finished", what="training to go on")
    assert run.read_status().step == 12
