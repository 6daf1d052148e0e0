"""The recommendation tables, row by row, and the estimator's final word."""

from __future__ import annotations

import re

import pytest

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import (
    Target,
    find_gpu,
    target_from_size,
    target_from_spec,
    verdict,
)
from ftwizard.core.models import catalog
from ftwizard.core.models.facts import facts_from_config
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.fit import EFFECTIVE_BATCH, fastest_fitting, method_options
from ftwizard.core.planning.recommend import recommend
from ftwizard.core.planning.tables import (
    hardware_methods,
    learning_rate,
    objective_for,
    purpose_methods,
    size_defaults,
)
from ftwizard.core.planning.throughput import training_time

LLAMA_8B = catalog.lookup("meta-llama/Llama-3.1-8B-Instruct")
QWEN_7B_BASE = catalog.lookup("Qwen/Qwen2.5-7B")
SMOL = catalog.lookup("HuggingFaceTB/SmolLM2-135M-Instruct")
LLAMA_70B = catalog.lookup("meta-llama/Llama-3.3-70B-Instruct")
CHAT = DatasetFacts(rows=5000)


@pytest.mark.parametrize(
    ("memory", "params_b", "first", "reason"),
    [
        (8, 7, "qlora", "QLoRA trains models up to 7B"),
        (12, 13, "qlora", "rarely fit"),
        (24, 8, "lora", "16-24 GB cards train 7B-13B models with LoRA"),
        (24, 14, "lora", "24 GB+ cards train 13B+ models"),
        (80, 70, "full", "80 GB+ cards can fine-tune every weight"),
        (79.6, 8, "full", "80 GB+"),  # an H100 reports 79.6 GiB
    ],
)
def test_hardware_table(memory, params_b, first, reason) -> None:
    order, why = hardware_methods(memory, params_b)
    assert order[0] == first and reason in why


@pytest.mark.parametrize(
    ("kind", "model", "purpose", "objective", "reason"),
    [
        ("text", LLAMA_8B, "domain", "cpt", "continued pre-training"),
        ("kto", LLAMA_8B, "alignment", "kto", "KTO"),
        ("preference", LLAMA_8B, "production", "dpo", "DPO"),
        ("preference", QWEN_7B_BASE, "alignment", "orpo", "ORPO"),
        ("chat", LLAMA_8B, "domain", "sft", "supervised fine-tuning"),
        ("chat", LLAMA_8B, "alignment", "sft", "needs preference pairs"),
    ],
)
def test_objective_table(kind, model, purpose, objective, reason) -> None:
    chosen, why = objective_for(purpose, DatasetFacts(rows=100, kind=kind), model)
    assert chosen == objective and reason in why


def test_purpose_table() -> None:
    assert purpose_methods("prototype", ["lora", "qlora"])[0] == ["qlora", "lora"]
    assert purpose_methods("domain", ["full", "lora", "qlora"])[0][0] == "lora"
    assert purpose_methods("alignment", ["full", "lora"])[0][0] == "full"


@pytest.mark.parametrize(
    ("rows", "r", "epochs", "lr_scale", "words"),
    [
        (500, 8, 3, 1.5, "few-shot"),
        (5000, 16, 2, 1.0, "1K-10K"),
        (50_000, 32, 1, 0.5, "over 10K"),
        (500_000, 64, 1, 0.5, "over 100K"),
    ],
)
def test_data_size_table(rows, r, epochs, lr_scale, words) -> None:
    sizes = size_defaults(rows)
    assert (sizes.lora_r, sizes.epochs, sizes.lr_scale) == (r, epochs, lr_scale)
    assert words in sizes.reason


def test_learning_rates() -> None:
    assert learning_rate("sft", "lora", 1.0) == 2e-4
    assert learning_rate("sft", "full", 1.0) == 2e-5
    assert learning_rate("dpo", "lora", 1.0) == 5e-6
    assert 1e-4 <= learning_rate("sft", "qlora", 1.5) <= 5e-4


def test_a_24gb_card_gets_lora_with_reasons_and_a_fitting_batch() -> None:
    plan = recommend(target_from_spec(find_gpu("RTX 4090")), LLAMA_8B, CHAT, "domain")
    config = plan.config
    assert plan.fits and config.method.adapter == "lora" and config.method.objective == "sft"
    assert (
        config.training.per_device_train_batch_size * config.training.gradient_accumulation_steps
        == EFFECTIVE_BATCH
    )
    assert config.lora.lora_alpha == 2 * config.lora.r
    assert config.training.bf16 and not config.training.fp16
    assert config.training.lr_scheduler_type == "cosine"
    assert {d.topic for d in plan.decisions} >= {
        "objective",
        "hardware",
        "data size",
        "method",
        "learning rate",
        "batch",
        "precision",
    }
    assert all(d.reason for d in plan.decisions)
    assert plan.estimate is not None and plan.estimate.device_total_gib <= 24.0 * 0.9


def test_the_estimator_vetoes_the_table() -> None:
    # 16 GB T4, 8B model: the table says LoRA; bf16 weights alone are 15 GB, so QLoRA it is.
    plan = recommend(target_from_spec(find_gpu("T4")), LLAMA_8B, CHAT, "domain")
    assert plan.config.method.adapter == "qlora"
    assert plan.config.training.fp16 and not plan.config.training.bf16  # no bf16 on a T4
    lora = next(m for m in plan.methods if m.adapter == "lora")
    assert lora.verdict == "does not fit"


def test_nothing_fits_says_what_to_change_and_by_how_much() -> None:
    plan = recommend(target_from_size(12), LLAMA_70B, CHAT, "domain")
    assert not plan.fits
    assert any("QLoRA" in c or "max_length" in c for c in plan.changes_needed)
    assert any("GB" in c and "->" in c for c in plan.changes_needed)
    assert "smaller model" in plan.changes_needed[-1]


def test_gradient_checkpointing_only_when_needed() -> None:
    roomy = recommend(target_from_spec(find_gpu("H200")), SMOL, CHAT, "domain")
    assert roomy.config.training.gradient_checkpointing is False
    tight = recommend(target_from_spec(find_gpu("RTX 4090")), LLAMA_8B, CHAT, "domain")
    assert tight.config.training.gradient_checkpointing is True


def test_the_plan_picks_the_fastest_fitting_setting_not_the_biggest_micro_batch() -> None:
    # On a 64 GB CPU every micro-batch of SmolLM2 fits. Examples all of one length: the biggest
    # micro-batch saves host time and pads nothing. A long tail (p95 8x the mean): a
    # micro-batch of 16 pads every example to about its longest, so smaller ones win.
    cpu = Target("CPU", 0, 64.0, 64.0, False, 0.13, "detected")
    even = DatasetFacts(rows=1000, tokens_mean=200, tokens_p95=200)
    skewed = DatasetFacts(rows=1000, tokens_mean=200, tokens_p95=1600)
    options = method_options(SMOL, RunConfig(), "lora", cpu, skewed)
    assert all(o.verdict == "fits" for o in options)
    fast = recommend(cpu, SMOL, even, "domain", method="lora")
    padded = recommend(cpu, SMOL, skewed, "domain", method="lora")
    assert fast.config.training.per_device_train_batch_size == 16
    chosen = padded.config.training.per_device_train_batch_size
    assert chosen < 16
    by_setting = {(o.micro_batch, o.gradient_checkpointing): o.seconds_per_step for o in options}
    assert by_setting[(chosen, False)] == min(by_setting.values())
    assert by_setting[(16, False)] > 1.3 * by_setting[(chosen, False)]
    batch = next(d for d in padded.decisions if d.topic == "batch")
    assert "fastest" in batch.reason and f"{by_setting[(chosen, False)]:.2f} s" in batch.reason


def test_checkpointing_is_chosen_when_the_time_model_says_it_pays() -> None:
    # 6 GB, SmolLM2 LoRA: without checkpointing only small micro-batches fit (many
    # launch-bound micro-batches a step); with it micro-batch 16 fits, and a step is
    # shorter even though the forward is computed twice.
    options = method_options(SMOL, RunConfig(), "lora", target_from_size(6), CHAT)
    plain = [o for o in options if o.verdict == "fits" and not o.gradient_checkpointing]
    assert max(o.micro_batch for o in plain) < 16
    chosen = fastest_fitting(options)
    assert chosen.gradient_checkpointing and chosen.micro_batch == 16
    assert chosen.seconds_per_step < min(o.seconds_per_step for o in plain) / 2
    plan = recommend(target_from_size(6), SMOL, CHAT, "domain", method="lora")
    training = plan.config.training
    assert training.gradient_checkpointing and training.per_device_train_batch_size == 16
    reason = next(d for d in plan.decisions if d.topic == "gradient checkpointing").reason
    found = re.fullmatch(
        r"it lets micro-batch 16 fit: ([\d.]+) s a step against ([\d.]+) s with "
        r"micro-batch (\d+) without",
        reason,
    )
    assert found and float(found[1]) < float(found[2]) and int(found[3]) < 16


def test_small_data_gets_more_epochs_and_a_note() -> None:
    plan = recommend(
        target_from_spec(find_gpu("A100 80GB")), SMOL, DatasetFacts(rows=300), "domain"
    )
    assert plan.config.training.num_train_epochs == 3
    assert any("few-shot" in n for n in plan.notes)


def test_max_length_follows_the_data_p95_and_the_context() -> None:
    data = DatasetFacts(rows=5000, tokens_p95=700)
    plan = recommend(target_from_spec(find_gpu("H100")), SMOL, data, "domain")
    assert plan.config.training.max_length == 768
    long = recommend(
        target_from_spec(find_gpu("H100")), SMOL, DatasetFacts(5000, tokens_p95=20000), "domain"
    )
    assert long.config.training.max_length == SMOL.max_context


def test_eta_scales_with_data_and_hardware() -> None:
    plan = recommend(target_from_spec(find_gpu("A100 80GB")), LLAMA_8B, CHAT, "domain")

    def eta(data: DatasetFacts, card: str) -> float:
        return training_time(
            LLAMA_8B, plan.config, data, target_from_spec(find_gpu(card))
        ).eta_seconds

    a100, h100 = eta(CHAT, "A100 80GB"), eta(CHAT, "H100")
    double = eta(DatasetFacts(CHAT.rows * 2), "A100 80GB")
    assert 0 < h100 < a100 and double == pytest.approx(2 * a100, rel=0.01)


def test_cpu_plan_for_the_demo_model() -> None:

    cpu = Target("CPU", 0, 20.0, 20.0, False, 0.17, "detected")
    plan = recommend(cpu, SMOL, DatasetFacts(rows=200), "domain")
    assert plan.fits and plan.config.method.adapter == "lora"
    assert not plan.config.training.bf16 and plan.config.training.optim == "adamw_torch_fused"


def test_cpu_plans_train_adapters_without_dropout() -> None:
    """On a CPU dropout's masks cost a quarter of a LoRA step: the plan turns it off and
    says why; GPU plans and full fine-tunes (no adapter) keep the size table's value."""

    cpu = Target("CPU", 0, 20.0, 20.0, True, 0.17, "detected")
    rows = DatasetFacts(rows=200)
    plan = recommend(cpu, SMOL, rows, "domain")
    assert plan.config.lora.lora_dropout == 0
    [dropout] = [d for d in plan.decisions if d.topic == "adapter dropout"]
    assert dropout.choice == "off" and "quarter of each step" in dropout.reason
    gpu = recommend(target_from_spec(find_gpu("RTX 4090")), SMOL, rows, "domain")
    assert gpu.config.lora.lora_dropout == size_defaults(200).lora_dropout > 0
    assert not [d for d in gpu.decisions if d.topic == "adapter dropout"]
    full = recommend(cpu, SMOL, rows, "domain", method="full")
    assert not [d for d in full.decisions if d.topic == "adapter dropout"]


def test_gpu_table_and_verdicts() -> None:
    assert find_gpu("rtx4090").name == "RTX 4090"
    assert find_gpu("h100").memory_gib == pytest.approx(79.6)
    with pytest.raises(UserError, match="Known cards"):
        find_gpu("GTX 1080")
    card = target_from_size(24)
    assert verdict(21.0, card) == "fits" and verdict(23.0, card) == "tight"
    assert verdict(25.0, card) == "does not fit"


def test_unknown_family_still_plans() -> None:
    facts = facts_from_config(
        {**catalog.row_config(catalog.ROWS[4]), "model_type": "newarch"}, "x/y", "test"
    )
    plan = recommend(target_from_spec(find_gpu("A100 80GB")), facts, CHAT, "domain")
    assert plan.estimate is not None


@pytest.mark.parametrize(
    ("rows", "held"),
    [(100, 5), (5000, 250), (100_000, 500)],
)
def test_the_plan_holds_out_a_validation_split(rows: int, held: int) -> None:
    """5% held out, at most 500 rows, evaluated about ten times in the run."""
    from ftwizard.core.data.split import split_counts

    plan = recommend(
        target_from_spec(find_gpu("RTX 4090")), SMOL, DatasetFacts(rows=rows), "domain"
    )
    evaluation, training = plan.config.evaluation, plan.config.training
    assert evaluation.val_size == pytest.approx(held / rows, abs=1e-4)
    _, counted = split_counts(rows, training.seed, evaluation.val_size)
    assert abs(counted - held) <= max(3, held * 0.3)  # the split is per row, by hash
    steps = (rows - held) / plan.config.effective_batch_size * training.num_train_epochs
    assert 8 <= steps / evaluation.eval_steps <= 12
    [decision] = [d for d in plan.decisions if d.topic == "validation"]
    assert "evaluation.val_size=0 turns it off" in decision.reason


def test_no_validation_split_for_tiny_data_or_when_turned_off() -> None:
    from ftwizard.core.config.yaml_io import load_config

    gpu = target_from_spec(find_gpu("RTX 4090"))
    tiny = recommend(gpu, SMOL, DatasetFacts(rows=60), "domain")
    assert tiny.config.evaluation.val_size == 0
    assert any(d.topic == "validation" and "under 100" in d.reason for d in tiny.decisions)

    off = load_config(None, ["evaluation.val_size=0"])
    plan = recommend(gpu, SMOL, CHAT, "domain", base=off)
    assert plan.config.evaluation.val_size == 0
    assert any(d.choice == "off" and "your choice" in d.reason for d in plan.decisions)
    # Planned again from its own result (the wizard's way back), the split stays.
    first = recommend(gpu, SMOL, CHAT, "domain")
    again = recommend(gpu, SMOL, CHAT, "domain", base=first.config)
    assert again.config.evaluation == first.config.evaluation
    assert [d for d in again.decisions if d.topic == "validation"] == [
        d for d in first.decisions if d.topic == "validation"
    ]
    tiny_again = recommend(gpu, SMOL, DatasetFacts(rows=60), "domain", base=tiny.config)
    assert any("under 100" in d.reason for d in tiny_again.decisions)

    mine = load_config(None, ["evaluation.val_size=0.2", "evaluation.eval_steps=7"])
    plan = recommend(gpu, SMOL, CHAT, "domain", base=mine)
    assert (plan.config.evaluation.val_size, plan.config.evaluation.eval_steps) == (0.2, 7)


def test_cpu_precision_follows_the_cpus_bf16_instructions() -> None:
    """LoRA on a CPU with bf16 instructions loads the frozen base in bf16; without them,
    for full fine-tunes and when the configuration names a dtype, fp32 / as configured."""
    from ftwizard.core.config.yaml_io import load_config

    with_bf16 = Target("CPU", 0, 20.0, 20.0, True, 0.17, "detected")
    without = Target("CPU", 0, 20.0, 20.0, False, 0.17, "detected")
    rows = DatasetFacts(rows=200)

    def precision(plan):  # type: ignore[no-untyped-def]
        [decision] = [d for d in plan.decisions if d.topic == "precision"]
        return plan.config.model.dtype, decision.choice

    fast = recommend(with_bf16, SMOL, rows, "domain")
    assert fast.config.method.adapter == "lora"
    assert precision(fast) == ("bfloat16", "bf16 base, fp32 adapter")
    assert not fast.config.training.bf16  # no autocast: the adapter computes in fp32
    assert precision(recommend(without, SMOL, rows, "domain")) == ("auto", "fp32")
    full = recommend(with_bf16, SMOL, rows, "domain", method="full")
    assert precision(full) == ("auto", "fp32")
    again = recommend(with_bf16, SMOL, rows, "domain", base=fast.config)
    assert precision(again) == precision(fast)
    mine = recommend(
        with_bf16, SMOL, rows, "domain", base=load_config(None, ["model.dtype=float32"])
    )
    assert precision(mine) == ("float32", "float32")
    # The bf16 base is what the estimate counts: half the base weights' memory.
    assert fast.estimate is not None and mine.estimate is not None
    assert fast.estimate.device_total_gib < mine.estimate.device_total_gib


def test_a_presets_auto_dtype_becomes_the_machines_choice_at_launch() -> None:
    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.core.runs.preflight import with_machine_precision

    with_bf16 = Target("CPU", 0, 20.0, 20.0, True, 0.17, "detected")
    config = load_config(None, [])
    resolved, note = with_machine_precision(config, with_bf16)
    assert resolved.model.dtype == "bfloat16" and note and "bf16 base" in note
    unchanged, none = with_machine_precision(load_config(None, ["model.dtype=float32"]), with_bf16)
    assert unchanged.model.dtype == "float32" and none is None
    gpu = target_from_spec(find_gpu("RTX 4090"))
    assert with_machine_precision(config, gpu) == (config, None)


def test_a_copy_with_new_sections_keeps_every_value_and_what_was_set() -> None:
    """`with_sections` carries over each value, and which fields were set (a field
    assigned on a default section included), so plans can tell choices from defaults."""
    from ftwizard.core.config.schema import RunConfig
    from ftwizard.core.config.yaml_io import load_config

    config = load_config(None, ["evaluation.val_size=0", "description=mine"])
    config.training.max_steps = 5  # assigned on a section nothing set before
    copy = config.with_sections(lora={"r": 4})
    assert copy.training.max_steps == 5 and copy.lora.r == 4 and copy.description == "mine"
    assert "val_size" in copy.evaluation.model_fields_set
    assert "eval_steps" not in copy.evaluation.model_fields_set
    expected = config.to_dict()
    expected["lora"]["r"] = 4
    assert copy.to_dict() == expected
    assert RunConfig().with_sections().to_dict() == RunConfig().to_dict()
