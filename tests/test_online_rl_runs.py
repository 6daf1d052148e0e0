"""Reward models and online RL trained for real (the 2-layer test model: the wiring is
the point, not the model): a reward model on the repository's DPO pairs reports its
held-out pair accuracy and scores a GRPO run, beside a reward function from a file; the
GRPO run is stopped by SIGTERM and resumed, and keeps its step count and rewards."""

from __future__ import annotations

import json

import pytest

from ftwizard.core.runs.completions import read_completions
from ftwizard.core.runs.launch import launch, stop
from tests.conftest import ROOT, run_cli
from tests.test_faults import last_step, wait_for
from tests.test_training import events, make_run, train

pytestmark = pytest.mark.slow
PAIRS = ROOT / "data" / "demo" / "wizard-pairs.jsonl"
PROMPTS = ROOT / "ftwizard" / "presets" / "data" / "arithmetic-prompts.jsonl"
STEPS = 4
# A reward from the person's file. Its second of sleep makes every step last long
# enough for a stop to land before the last one, however fast the machine.
OWN_REWARD = """
import time

def steady(completions, **kwargs):
    time.sleep(1.0)
    return [0.5 for _ in completions]
"""


def test_a_reward_model_and_a_reward_file_drive_grpo_through_a_stop_and_resume(
    tmp_path, tiny_model, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reward_model = make_run(
        tmp_path,
        tiny_model,
        PAIRS,
        "method.objective=reward",
        "output.run_name=rm",
        "training.max_length=128",
        "training.per_device_train_batch_size=4",
        "evaluation.val_size=0.2",
        "training.max_steps=3",
        "evaluation.eval_steps=3",
    )
    assert train(reward_model) == 0
    [held_out] = events(reward_model, "eval")
    assert 0.0 <= held_out.metrics["accuracy"] <= 1.0  # chosen scored above rejected
    shown = run_cli("runs", "rm", "--root", str(reward_model.path.parent))
    assert "pair accuracy" in shown.stdout, shown.stdout
    assert f"{held_out.metrics['accuracy']:.1%} of held-out pairs" in shown.stdout
    merged = run_cli("merge", "rm", "--root", str(reward_model.path.parent))
    assert merged.returncode == 2 and "is a reward model" in merged.stderr + merged.stdout
    assert "Traceback" not in merged.stderr

    (tmp_path / "mine.py").write_text(OWN_REWARD)
    grpo = make_run(
        tmp_path,
        tiny_model,
        PROMPTS,
        "method.objective=grpo",
        "method.beta=0.04",
        "output.run_name=grpo",
        f"training.max_steps={STEPS}",
        "training.per_device_train_batch_size=4",
        "checkpointing.save_steps=100",  # the stop writes the only checkpoint
        "rl.num_generations=2",
        "rl.max_completion_length=8",
        f"rl.reward_funcs=[answer, {tmp_path / 'mine.py'}:steady]",
        "rl.trust_reward_code=true",
        f"rl.reward_model_run={reward_model.path}",
    )
    launch(grpo)
    wait_for(lambda: last_step(grpo) >= 1, what="the first GRPO step")
    assert stop(grpo, wait_s=300) == "stopped"
    stopped_at = grpo.read_status().step
    assert 1 <= stopped_at < STEPS
    resumed = run_cli("resume", "grpo", "--root", str(grpo.path.parent), "--detach")
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: grpo.read_status().state == "finished", what="the resumed GRPO run")

    logs = events(grpo, "log")
    assert [log.step for log in logs] == list(range(1, STEPS + 1))  # none lost or repeated
    assert grpo.read_status().step == STEPS
    for log in logs:
        assert log.metrics["rewards/steady/mean"] == 0.5
        assert log.metrics["rewards/steady/std"] == 0.0
        assert "rewards/reward_model/mean" in log.metrics and "kl" in log.metrics
        each = sum(log.metrics[f"rewards/{name}/mean"] for name in ("answer", "reward_model"))
        assert log.metrics["reward"] == pytest.approx(each + 0.5, abs=1e-4)
    latest = read_completions(grpo)
    assert latest is not None and latest.step == STEPS and len(latest.completions) == 2
    assert set(latest.completions[0].rewards) == {"answer", "steady", "reward_model"}
    card = (grpo.final_dir / "README.md").read_text()
    assert "| `rl.reward_funcs` |" in card and str(tmp_path) not in card
    assert json.loads((grpo.path / "completions.json").read_text())["prompt"]
