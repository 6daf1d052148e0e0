"""The CPU plan's RAM: the whole trainer process at its peak (the figures against real runs
are bench/cpu_memory.py's: the demo and a multi-turn chat run, within 15 %)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.models.source import resolve_model_facts
from ftwizard.core.planning.cpu_memory import PROCESS_GIB, cpu_peak, longest_sequence
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.estimator import estimate
from ftwizard.core.runs.preflight import summarise
from tests.tui_helpers import fixed_report

SHORT = DatasetFacts(rows=111, tokens_mean=64.3, tokens_p95=107, tokens_max=113)


@pytest.fixture(scope="module")
def config() -> RunConfig:
    return RunConfig().with_sections(
        model={"model_name_or_path": "smollm2-135m-instruct"},
        training={"max_length": 1024, "per_device_train_batch_size": 4},
        evaluation={"val_size": 0.1},
    )


def test_a_batch_is_as_long_as_the_datas_longest_example(config: RunConfig) -> None:
    assert longest_sequence(config, SHORT) == 113
    assert longest_sequence(config, replace(SHORT, tokens_max=5000)) == 1024  # truncated
    assert longest_sequence(config, replace(SHORT, tokens_max=None)) == 1024  # not counted
    packed = config.with_sections(training={"packing": True})
    assert longest_sequence(packed, SHORT) == 1024  # packing fills every row


def test_the_peak_counts_the_process_and_the_step_at_the_longest_batch(
    config: RunConfig,
) -> None:
    facts = resolve_model_facts("smollm2-135m-instruct")
    short, long = (
        cpu_peak(facts, config, SHORT),
        cpu_peak(facts, config, replace(SHORT, tokens_max=None)),
    )
    assert short.moment == long.moment == "training"
    assert short.breakdown_gib["process"] == PROCESS_GIB
    at_113 = estimate(facts, config.with_sections(training={"max_length": 113}), device="cpu")
    assert short.tensors_gib["training"] == pytest.approx(at_113.peak_allocated_gib, abs=1e-3)
    assert short.total_gib > at_113.peak_allocated_gib + PROCESS_GIB  # the allocator's slack
    assert long.total_gib > 2 * short.total_gib - PROCESS_GIB  # 1024 tokens, not 113


def test_a_wide_evaluation_batch_can_set_the_peak(config: RunConfig) -> None:
    facts = resolve_model_facts("smollm2-135m-instruct")
    wide = config.with_sections(evaluation={"per_device_eval_batch_size": 64})
    peak = cpu_peak(facts, wide, SHORT)
    assert peak.moment == "evaluation"  # 64 x 113 x 49,152 fp32 logits and log-softmax
    no_eval = wide.with_sections(evaluation={"val_size": 0.0})
    assert cpu_peak(facts, no_eval, SHORT).moment == "training"


def test_a_cpu_launch_plans_the_whole_process(config: RunConfig) -> None:
    from ftwizard.core.hardware.gpus import target_from_report

    facts = resolve_model_facts("smollm2-135m-instruct")
    summary = summarise(config, facts, SHORT, target_from_report(fixed_report()))
    assert summary.memory_label == "RAM"
    assert summary.estimate_gib == cpu_peak(facts, config, SHORT).total_gib
