"""Liger's kernels and the loss the trainer runs: the plan's decision, the launch's
refusal, and the estimator's memory for each loss."""

from __future__ import annotations

import dataclasses

import pytest

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import Target, find_gpu, target_from_spec
from ftwizard.core.models import catalog
from ftwizard.core.planning import kernels
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.estimator import default_loss_impl, estimate
from ftwizard.core.planning.logging_steps import decide_logging
from ftwizard.core.planning.recommend import recommend

LLAMA_8B = catalog.lookup("meta-llama/Llama-3.1-8B-Instruct")
H100 = target_from_spec(find_gpu("H100"))
CPU = Target("CPU", 0, 20.0, 20.0, False, 0.17, "detected")


def config(*settings: str):  # type: ignore[no-untyped-def]
    return load_config(None, ["model.model_name_or_path=x", "training.max_length=2048", *settings])


def test_the_loss_is_the_cheapest_that_fits() -> None:
    vocab = LLAMA_8B.vocab_size
    # One 1,024-token row: its fp32 logits (12 bytes x 128k entries a token, 1.6 GB) stay
    # under the limit, so the model's own loss, which reads nothing back on the host.
    one = config("training.per_device_train_batch_size=1", "training.max_length=1024")
    assert default_loss_impl(one, vocab) == "full"
    big = config("training.per_device_train_batch_size=4")
    assert default_loss_impl(big, vocab) == "chunked"
    liger = config("training.per_device_train_batch_size=4", "training.use_liger_kernel=true")
    assert default_loss_impl(liger, vocab) == "liger"
    assert default_loss_impl(liger, vocab, "cpu") != "liger"  # no Triton on a CPU
    dpo = config("method.objective=dpo", "training.use_liger_kernel=true")
    assert default_loss_impl(dpo, vocab) == "chunked"


def test_liger_holds_the_least_loss_memory() -> None:
    settings = ("training.per_device_train_batch_size=2",)
    facts = LLAMA_8B
    by_loss = {
        loss: estimate(facts, config(*settings), loss_impl=loss).breakdown_gib["logits"]
        for loss in ("full", "chunked", "liger")
    }
    assert by_loss["liger"] < by_loss["chunked"] < by_loss["full"]
    longer = estimate(facts, config("training.per_device_train_batch_size=4"), loss_impl="liger")
    assert longer.breakdown_gib["logits"] > by_loss["liger"]


def test_the_plan_turns_liger_on_where_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "liger_installed", lambda: True)
    plan = recommend(H100, LLAMA_8B, DatasetFacts(rows=5000), "domain")
    assert plan.config.training.use_liger_kernel
    decision = next(d for d in plan.decisions if d.topic == "Liger kernels")
    assert decision.choice == "on" and "never builds the logits" in decision.reason
    # The plan's memory is the Liger loss's.
    assert plan.estimate.breakdown_gib["logits"] == pytest.approx(
        estimate(LLAMA_8B, plan.config, loss_impl="liger").breakdown_gib["logits"]
    )
    # What the person set is kept; the CPU plan says nothing of GPU kernels.
    kept = recommend(
        H100,
        LLAMA_8B,
        DatasetFacts(rows=5000),
        "domain",
        base=plan.config.with_sections(training={"use_liger_kernel": False}),
    )
    assert not kept.config.training.use_liger_kernel
    smol = catalog.lookup("HuggingFaceTB/SmolLM2-135M-Instruct")
    cpu_plan = recommend(CPU, smol, DatasetFacts(rows=200), "domain")
    assert not cpu_plan.config.training.use_liger_kernel
    assert all(d.topic != "Liger kernels" for d in cpu_plan.decisions)


def test_the_plan_says_why_liger_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "liger_installed", lambda: False)
    detected = dataclasses.replace(H100, source="detected")  # this machine trains
    plan = recommend(detected, LLAMA_8B, DatasetFacts(rows=5000), "domain")
    decision = next(d for d in plan.decisions if d.topic == "Liger kernels")
    assert decision.choice == "off" and "pip install liger-kernel" in decision.reason
    assert not plan.config.training.use_liger_kernel
    # Planned for a card named with --gpu: it trains elsewhere, where make installs it.
    elsewhere = recommend(H100, LLAMA_8B, DatasetFacts(rows=5000), "domain")
    decision = next(d for d in elsewhere.decisions if d.topic == "Liger kernels")
    assert decision.choice == "on" and "the machine that trains needs" in decision.reason
    # DPO's loss is not the model's: off, whatever is installed.
    pairs = DatasetFacts(rows=5000, kind="preference")
    dpo = recommend(H100, LLAMA_8B, pairs, "alignment")
    decision = next(d for d in dpo.decisions if d.topic == "Liger kernels")
    assert decision.choice == "off" and "log-probabilities" in decision.reason
    # A full fine-tune: off, with its reason.
    full = recommend(H100, LLAMA_8B, DatasetFacts(rows=5000), "domain", method="full")
    decision = next(d for d in full.decisions if d.topic == "Liger kernels")
    assert decision.choice == "off" and "head's gradient" in decision.reason


def test_a_launch_refuses_liger_where_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    on = config("training.use_liger_kernel=true")
    with pytest.raises(UserError, match="NVIDIA GPUs only"):
        kernels.check_kernels(on, LLAMA_8B, CPU)
    monkeypatch.setattr(kernels, "liger_installed", lambda: False)
    with pytest.raises(UserError, match="not installed"):
        kernels.check_kernels(on, LLAMA_8B, H100)
    gpt2 = dataclasses.replace(LLAMA_8B, model_type="gpt2")
    monkeypatch.setattr(kernels, "liger_installed", lambda: True)
    with pytest.raises(UserError, match="no kernels for the gpt2 family"):
        kernels.check_kernels(on, gpt2, H100)
    kernels.check_kernels(on, LLAMA_8B, H100)  # a llama on a GPU with liger: it runs
    kernels.check_kernels(config(), LLAMA_8B, CPU)  # off: nothing to check


@pytest.mark.parametrize(("seconds", "every"), [(2.3, 1), (0.6, 2), (0.1, 10), (0.004, 50)])
def test_plans_log_about_once_a_second(seconds: float, every: int) -> None:
    base = config()
    chosen, decision = decide_logging(base, seconds, 10_000, base)
    assert chosen.training.logging_steps == every
    assert (decision is None) == (every == 1)
    person = config("training.logging_steps=3")
    assert decide_logging(person, seconds, 10_000, person)[0].training.logging_steps == 3
    # A short run logs often enough to draw its curve, and logs at all.
    assert decide_logging(base, seconds, 200, base)[0].training.logging_steps <= 10
    assert decide_logging(base, seconds, 8, base)[0].training.logging_steps == 1
