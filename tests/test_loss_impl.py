"""Which loss the SFT trainer runs, and that the CPU's faster one is the same loss.

On a CPU ftwizard's SFT trainer takes the model's own loss (``ModelOwnLoss``) instead
of trl's fused LM head; the oracle is trl's own ``compute_loss`` (the fused, chunked
head) on the same trainer, model and batch: the loss and every adapter gradient agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.planning.estimator import (
    CPU_FULL_LOGITS_LIMIT,
    GPU_FULL_LOGITS_LIMIT,
    default_loss_impl,
)


def _config(*overrides: str) -> Any:
    return load_config(None, list(overrides))


def test_sft_uses_the_models_own_loss_while_its_logits_stay_small() -> None:
    small = _config("training.per_device_train_batch_size=4", "training.max_length=256")
    assert default_loss_impl(small, 49_152, "cpu") == "full"
    assert default_loss_impl(small, 49_152, "cuda") == "full"
    # On a GPU the limit is 2 GiB: past it, trl's fused head.
    tokens = 4 * 256
    assert default_loss_impl(small, GPU_FULL_LOGITS_LIMIT // (12 * tokens), "cuda") == "full"
    assert default_loss_impl(small, GPU_FULL_LOGITS_LIMIT // (12 * tokens) + 1, "cuda") == (
        "chunked"
    )
    # A 256k vocabulary over 16 x 2048 tokens would hold ~400 GB of logits.
    big = _config("training.per_device_train_batch_size=16", "training.max_length=2048")
    assert default_loss_impl(big, 256_000, "cpu") == "chunked"
    # The boundary is the limit itself: 12 bytes per token and vocabulary entry.
    assert default_loss_impl(small, CPU_FULL_LOGITS_LIMIT // (12 * tokens), "cpu") == "full"
    assert default_loss_impl(small, CPU_FULL_LOGITS_LIMIT // (12 * tokens) + 1, "cpu") == (
        "chunked"
    )
    # Preference objectives keep trl's own losses; ORPO computes full logits anywhere.
    assert default_loss_impl(_config("method.objective=dpo"), 49_152, "cpu") == "chunked"
    assert default_loss_impl(_config("method.objective=orpo"), 49_152, "cuda") == "full"


@pytest.mark.slow
def test_the_models_own_loss_equals_trls_fused_head(tmp_path: Path, tiny_model: Path) -> None:
    import torch
    from trl import SFTTrainer

    from ftwizard.core.runs.folder import create_run
    from ftwizard.trainer.components.build import ModelOwnLoss, build_trainer
    from ftwizard.trainer.components.data import prepare
    from ftwizard.trainer.components.loading import load_model, load_tokenizer, lora_config

    rows = [
        [
            {"role": "user", "content": "Hi, I am Ann. Who are you?"},
            {"role": "assistant", "content": "I am Wiz, nice to meet you Ann."},
            {"role": "user", "content": "Nice to meet you."},
            {"role": "assistant", "content": "You too!"},
        ],
        [
            {"role": "user", "content": "Name three colours."},
            {"role": "assistant", "content": "Red, green and a very deep shade of blue."},
        ],
    ]
    data = tmp_path / "conv.jsonl"
    data.write_text("".join(json.dumps({"messages": m}) + "\n" for m in rows))
    config = load_config(
        None,
        [
            f"model.model_name_or_path={tiny_model}",
            f"data.path={data}",
            "model.dtype=float32",
            "lora.lora_dropout=0",
            f"output.runs_root={tmp_path / 'runs'}",
            "training.max_length=128",
            "training.per_device_train_batch_size=2",
        ],
    )
    tokenizer = load_tokenizer(config)
    trainer = build_trainer(
        config,
        create_run(config),
        load_model(config),
        tokenizer,
        lora_config(config),
        prepare(config, tokenizer),
        [],
    )
    assert isinstance(trainer, ModelOwnLoss)
    model = trainer.model
    torch.manual_seed(0)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # non-zero, so every adapter weight gets a gradient
            param.data.normal_(0, 0.02)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    assert (batch["labels"] == -100).any()  # prompts and padding are left out
    labelled = int((batch["labels"][:, 1:] != -100).sum())

    def loss_and_grads(compute: Any) -> tuple[float, dict[str, Any]]:
        model.zero_grad()
        inputs = trainer._prepare_inputs({k: v.clone() for k, v in batch.items()})
        # As in a step accumulating three such micro-batches: divided by all their tokens.
        loss = compute(trainer, model, inputs, num_items_in_batch=torch.tensor(3 * labelled))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return float(loss.detach()), grads

    ours, our_grads = loss_and_grads(type(trainer).compute_loss)
    trls, trl_grads = loss_and_grads(SFTTrainer.compute_loss)
    assert ours == pytest.approx(trls, rel=1e-5)
    assert our_grads.keys() == trl_grads.keys() and our_grads
    for name, grad in our_grads.items():
        torch.testing.assert_close(grad, trl_grads[name], rtol=1e-4, atol=1e-7, msg=name)
