"""The VRAM estimator: exact parameter bookkeeping, components that grow the right way,
and its error on published measurements."""

from __future__ import annotations

import dataclasses

import pytest

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.errors import UserError
from ftwizard.core.models import catalog
from ftwizard.core.planning.estimator import estimate, targeted_modules
from tests.conftest import TEST_DATA

LLAMA = catalog.lookup("meta-llama/Llama-3.1-8B")
GEMMA = catalog.lookup("google/gemma-2-2b-it")
BASE = ["training.bf16=true", "training.max_length=1024", "training.per_device_train_batch_size=2"]


def run(*overrides: str, facts=LLAMA, **kwargs):
    return estimate(facts, load_config(None, [*BASE, *overrides]), **kwargs)


def component(result, name: str) -> float:
    return result.breakdown_gib[name]


@pytest.mark.parametrize("targets", ["all-linear", "q_proj,v_proj", "q_proj,k_proj,v_proj,o_proj"])
@pytest.mark.parametrize("dora", [False, True])
def test_trainable_parameters_match_peft(targets: str, dora: bool) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    config = dict(catalog.row_config(catalog.ROWS[8]))  # Qwen2.5-0.5B: biases, GQA, tied
    model_type = config.pop("model_type")
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model(model_type, **config)
        )
    lora = peft.LoraConfig(
        r=8,
        target_modules=targets if targets == "all-linear" else targets.split(","),
        use_dora=dora,
    )
    wrapped = peft.get_peft_model(model, lora)
    expected = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    result = estimate(
        catalog.lookup(catalog.ROWS[8].model_id),
        load_config(None, ["lora.r=8", f"lora.target_modules={targets}", f"lora.use_dora={dora}"]),
    )
    assert result.trainable_params == expected


def test_unknown_target_modules_name_the_real_ones() -> None:
    with pytest.raises(UserError, match="c_attn is not a linear layer") as caught:
        targeted_modules(LLAMA, ["q_proj", "c_attn"])
    assert "q_proj, k_proj, v_proj" in str(caught.value)


@pytest.mark.parametrize(
    ("small", "large", "grows"),
    [
        (
            ["training.per_device_train_batch_size=1"],
            ["training.per_device_train_batch_size=4"],
            ("activations", "logits"),
        ),
        (["training.max_length=512"], ["training.max_length=4096"], ("activations", "logits")),
        (["lora.r=8"], ["lora.r=64"], ("adapter", "gradients", "optimizer")),
        (
            ["training.gradient_checkpointing=true"],
            ["training.gradient_checkpointing=false"],
            ("activations",),
        ),
        (["training.optim=adamw_8bit"], ["training.optim=adamw_torch"], ("optimizer",)),
        (["training.optim=sgd"], ["training.optim=adamw_8bit"], ("optimizer",)),
        (["lora.lora_dropout=0"], ["lora.lora_dropout=0.1"], ("activations",)),
        (
            ["training.attn_implementation=sdpa"],
            ["training.attn_implementation=eager"],
            ("activations",),
        ),
        (["method.adapter=qlora"], ["method.adapter=lora"], ("weights",)),
        (["method.adapter=lora"], ["method.adapter=full"], ("gradients", "optimizer")),
        (
            ["method.adapter=qlora", "method.bnb_4bit_use_double_quant=true"],
            ["method.adapter=qlora", "method.bnb_4bit_use_double_quant=false"],
            ("weights",),
        ),
        (
            ["method.adapter=qlora", "method.bits=4"],
            ["method.adapter=qlora", "method.bits=8"],
            ("weights",),
        ),
        (["training.bf16=true"], ["training.bf16=false"], ("weights", "activations")),
    ],
    ids=[
        "batch",
        "max_length",
        "rank",
        "checkpointing",
        "8bit-vs-adamw",
        "sgd-vs-8bit",
        "dropout",
        "eager",
        "qlora-vs-lora",
        "lora-vs-full",
        "double-quant",
        "bits",
        "fp32",
    ],
)
def test_each_component_grows_the_right_way(small, large, grows) -> None:
    # One loss for both: the default one changes with the batch (the next test).
    low, high = run(*small, loss_impl="chunked"), run(*large, loss_impl="chunked")
    for name in grows:
        assert component(high, name) > component(low, name), name
    # The peak never falls; it can stay put when another phase (the loss backward) is higher.
    assert high.peak_allocated_gib >= low.peak_allocated_gib


def test_logits_dominate_for_large_vocabularies_unless_chunked() -> None:
    full = run("training.max_length=4096", facts=GEMMA, loss_impl="full")  # 256k vocabulary
    assert component(full, "logits") > component(full, "activations")
    chunked = run("training.max_length=4096", facts=GEMMA, loss_impl="chunked")
    assert component(chunked, "logits") < component(full, "logits") / 10


@pytest.mark.parametrize(
    ("objective", "expected"),
    [("sft", "chunked"), ("cpt", "chunked"), ("dpo", "chunked"), ("kto", "chunked"),
     ("orpo", "full")],
)  # fmt: skip
def test_default_loss_is_the_one_trl_runs_for_the_objective(objective, expected) -> None:
    # trl 1.x patches SFT/DPO/KTO models with its fused LM head; ORPO keeps the logits.
    default = run("training.max_length=4096", f"method.objective={objective}", facts=GEMMA)
    chosen = run(
        "training.max_length=4096", f"method.objective={objective}", facts=GEMMA,
        loss_impl=expected,
    )  # fmt: skip
    assert default.breakdown_gib == chosen.breakdown_gib


def test_full_fine_tune_accumulating_keeps_gradients_through_the_next_micro_batch() -> None:
    small = catalog.lookup(catalog.ROWS[8].model_id)  # 0.5B: the micro-batch outweighs the step
    full = (
        "method.adapter=full",
        "training.max_length=4096",
        "training.per_device_train_batch_size=4",
    )
    one = run(*full, "training.gradient_accumulation_steps=1", facts=small)
    four = run(*full, "training.gradient_accumulation_steps=4", facts=small)
    # Same components; the peak adds the gradients to the forward/backward of a later micro-batch.
    same = ("weights", "gradients", "optimizer", "activations", "logits")
    assert [component(one, k) for k in same] == [component(four, k) for k in same]
    gradients = component(four, "gradients")
    assert four.peak_allocated_gib > one.peak_allocated_gib
    assert four.peak_allocated_gib - one.peak_allocated_gib == pytest.approx(gradients, abs=0.01)


def test_paged_optimizer_counts_only_on_the_card() -> None:
    paged, plain = run("training.optim=paged_adamw_32bit"), run("training.optim=adamw_torch")
    assert paged.peak_allocated_gib < plain.peak_allocated_gib
    assert paged.device_total_gib == pytest.approx(plain.device_total_gib, rel=0.02)


def test_device_total_adds_context_and_slack() -> None:
    result = run()
    assert result.device_total_gib > result.peak_allocated_gib + 0.4
    cpu = run(device="cpu")
    assert cpu.device_total_gib == cpu.peak_allocated_gib


def test_dpo_runs_chosen_and_rejected_together() -> None:
    sft, dpo = run(), run("method.objective=dpo")
    assert dpo.tokens_per_micro_batch == 2 * sft.tokens_per_micro_batch
    full_dpo = run("method.objective=dpo", "method.adapter=full")
    assert any("reference model" in n for n in full_dpo.notes)


def test_quantised_weights_are_about_a_quarter() -> None:
    lora, qlora = run("method.adapter=lora"), run("method.adapter=qlora")
    # 4-bit linear layers; embeddings and head stay (fp32 after kbit preparation).
    assert 0.3 < component(qlora, "weights") / component(lora, "weights") < 0.55


def test_calibration_report_on_published_measurements(capsys) -> None:
    path = TEST_DATA / "calibration_points.csv"
    from bench.calibration import points

    used, skipped = points(path)
    errors = sorted(abs(p.error) for p in used)
    median = errors[len(errors) // 2]
    within = sum(e <= 0.15 for e in errors) / len(errors)
    with capsys.disabled():
        print(
            f"\ncalibration: {len(used)} rows, {len(skipped)} skipped, median |error| "
            f"{median:.1%}, within 15%: {within:.0%}"
        )
    assert len(used) >= 40
    assert median <= 0.10
    assert within >= 0.70


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lora q,v dropout 0", "qlora nf4", "full adamw"])
def test_estimate_matches_measured_training_steps(case: str) -> None:
    """Real transformers + peft (+ bitsandbytes) steps, live tensor bytes counted on the CPU.

    At most 512 tokens a micro-batch (the bench's grid, ``bench/measure_memory.py``, has
    up to 2,048): a CPU without bf16 instructions emulates the bf16 autocast, about 60 s
    per 1,000 tokens here."""
    pytest.importorskip("torch")
    from bench.measure_memory import CASES, measure

    chosen = next(c for c in CASES if c.name == case)
    config = load_config(None, chosen.overrides)
    if config.training.per_device_train_batch_size * config.training.max_length > 512:
        smaller = ["training.per_device_train_batch_size=2", "training.max_length=256"]
        chosen = dataclasses.replace(chosen, overrides=[*chosen.overrides, *smaller])
    row = measure(chosen)
    assert abs(row["error"]) < 0.15, row
