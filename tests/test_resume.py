"""Resuming: what may change, what may not, and the out-of-memory advice."""

from __future__ import annotations

import pytest

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.models import catalog
from ftwizard.core.planning.oom import oom_advice
from tests.conftest import run_cli
from tests.test_faults import wait_for
from tests.test_training import DEMO_DATA, make_run, train


def test_oom_advice_is_ranked_by_what_it_saves() -> None:
    facts = catalog.lookup("meta-llama/Llama-3.1-8B")
    config = load_config(
        None,
        [
            "training.bf16=true",
            "training.gradient_checkpointing=false",
            "training.per_device_train_batch_size=8",
        ],
    )
    advice = oom_advice(facts, config, p95_tokens=300)
    assert [a.saves_gib for a in advice] == sorted((a.saves_gib for a in advice), reverse=True)
    texts = " | ".join(a.text for a in advice)
    assert "gradient checkpointing" in texts and "micro-batch to 4" in texts
    assert "max_length to 384 (the data's p95)" in texts
    halve = next(a for a in advice if "micro-batch" in a.text)
    assert halve.overrides == [
        "training.per_device_train_batch_size=4",
        "training.gradient_accumulation_steps=8",
    ]  # effective batch kept
    assert all(a.saves_gib > 0 for a in advice)


@pytest.mark.slow
def test_resume_shows_changes_refuses_unsafe_ones_and_applies_oom_advice(tmp_path, tiny_model):
    run = make_run(
        tmp_path,
        tiny_model,
        DEMO_DATA,
        "training.max_steps=4",
        "checkpointing.save_steps=2",
        "training.per_device_train_batch_size=2",
    )
    assert train(run) == 0
    root = str(tmp_path / "runs")

    finished = run_cli("resume", run.name, "--root", root)
    assert finished.returncode == 2 and "has finished" in finished.stderr

    unsafe = run_cli(
        "resume",
        run.name,
        "--root",
        root,
        "--set",
        "training.learning_rate=1e-3",
        "--set",
        "training.max_steps=6",
        "--allow-changes",
    )
    assert (
        unsafe.returncode == 2
        and "cannot change on resume: training.learning_rate" in unsafe.stderr
    )

    unasked = run_cli("resume", run.name, "--root", root, "--set", "training.max_steps=6")
    assert unasked.returncode == 2 and "--allow-changes" in unasked.stderr
    assert "training.max_steps: 4 -> 6" in unasked.stdout

    longer = run_cli(
        "resume",
        run.name,
        "--root",
        root,
        "--set",
        "training.max_steps=6",
        "--allow-changes",
        "--detach",
    )
    assert longer.returncode == 0, longer.stderr
    wait_for(lambda: run.read_status().state == "finished", what="the longer run")
    assert run.read_status().step == 6 and run.read_config().training.max_steps == 6

    # As if it had run out of memory: the trainer records the advice in the status.
    advice = [
        {
            "text": "halve the micro-batch",
            "saves_gib": 1.0,
            "overrides": [
                "training.per_device_train_batch_size=1",
                "training.gradient_accumulation_steps=2",
            ],
        }
    ]
    run.write_status(state="failed", oom=True, advice=advice, error="out of memory at step 6")
    applied = run_cli(
        "resume",
        run.name,
        "--root",
        root,
        "--apply-oom-advice",
        "--set",
        "training.max_steps=8",
        "--detach",
    )
    assert applied.returncode == 0, applied.stderr
    assert "applying: halve the micro-batch" in applied.stdout
    wait_for(lambda: run.read_status().state == "finished", what="the resumed run")
    config = run.read_config()
    assert config.training.per_device_train_batch_size == 1
    assert config.training.gradient_accumulation_steps == 2
    changes = [e for e in run.read_events()[0] if e.type == "config_changed"]
    assert len(changes) == 2


def test_the_live_eta_after_a_resume_counts_only_the_steps_since(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resumed at step 50 of 100 after 50 steps that took an hour: two steps 3 s apart
    say 1.5 s a step, 72 s for the 48 left, not an hour's worth spread over 52 steps."""
    from types import SimpleNamespace

    from ftwizard.core.runs.folder import RunFolder
    from ftwizard.core.runs.watch import eta_words
    from ftwizard.trainer.components import callbacks

    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_status(state="starting", step=50, eta_s=3600.0, eta_steps=50, estimate_eta_s=200.0)
    clock = [1000.0]
    monkeypatch.setattr(callbacks.time, "time", lambda: clock[0])
    events = callbacks.EventsCallback(run)
    state = SimpleNamespace(global_step=50, max_steps=100, num_input_tokens_seen=0, epoch=1.0)
    args = SimpleNamespace(num_train_epochs=2)
    events.on_train_begin(args, state, None)
    status = run.read_status()
    assert status.eta_s is None and status.eta_steps == 0  # nothing of the last start
    assert eta_words(status) == "1m40s (plan)"  # half the plan's 200 s is left
    clock[0] += 3.0
    state.global_step = 52
    events.on_log(args, state, None, logs={"loss": 1.0, "learning_rate": 1e-4})
    status = run.read_status()
    assert status.eta_s == pytest.approx(1.5 * 48) and status.eta_steps == 2
    assert eta_words(status) == "1m12s (after 2 steps; plan 1m36s)"
