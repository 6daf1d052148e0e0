"""Build the trl trainer for a RunConfig: SFT, DPO, ORPO, KTO, continued pre-training,
a reward model, or online RL (GRPO, RLOO: ``online_rl.py``)."""

from __future__ import annotations

import copy
import os
import shutil
from typing import Any

import torch

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.planning.engine import (
    loss_implementation,
    online_rl_arguments,
    training_arguments,
)
from ftwizard.core.runs.checkpoints import CHECKPOINT
from ftwizard.core.runs.events import CheckpointSaved
from ftwizard.core.runs.folder import RunFolder
from ftwizard.trainer.components.data import PreparedData
from ftwizard.trainer.components.online_rl import (
    RecordsCompletions,
    frozen_reference,
    online_rl_inputs,
)
from ftwizard.trainer.components.step_clock import StepClock, TimesGeneration, TimesSteps


class AtomicCheckpoints:
    """Checkpoints are written under ``checkpoints/.staging`` and renamed when complete,
    so a kill at any moment leaves the last complete checkpoint intact."""

    ftwizard_run: RunFolder
    ftwizard_keep: int | None

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)  # type: ignore[misc]
        # Every rank writes into the staged folder (its RNG state, FSDP shards): wait for
        # all of them, then rank 0 alone renames it into place.
        self.accelerator.wait_for_everyone()  # type: ignore[attr-defined]
        if not self.is_world_process_zero():  # type: ignore[attr-defined]
            return
        state = self.state  # type: ignore[attr-defined]
        name = f"checkpoint-{state.global_step}"
        staged = self.ftwizard_run.staging_dir / name
        target = self.ftwizard_run.checkpoints_dir / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
        logged = [h["loss"] for h in state.log_history if "loss" in h]
        self.ftwizard_run.append_event(
            CheckpointSaved(
                step=state.global_step, path=str(target), loss=logged[-1] if logged else None
            )
        )
        self._rotate()

    def _rotate(self) -> None:
        if not self.ftwizard_keep:
            return
        steps = sorted(
            int(m.group(1))
            for p in self.ftwizard_run.checkpoints_dir.iterdir()
            if (m := CHECKPOINT.fullmatch(p.name))
        )
        for step in steps[: -self.ftwizard_keep]:
            shutil.rmtree(
                self.ftwizard_run.checkpoints_dir / f"checkpoint-{step}", ignore_errors=True
            )


class CountsTokensOnHost:
    """The tokens seen, counted from the batch's shape. The Trainer sums them as a tensor
    on the device and reads it back every micro-batch: on a GPU that waits for every
    queued kernel. One process counts its own; several still gather them."""

    def _track_num_input_tokens(self, inputs: Any) -> None:
        name = getattr(self.model, "main_input_name", "input_ids")  # type: ignore[attr-defined]
        if self.accelerator.num_processes > 1 or not (  # type: ignore[attr-defined]
            isinstance(inputs, dict) and name in inputs
        ):
            super()._track_num_input_tokens(inputs)  # type: ignore[misc]
            return
        self.state.num_input_tokens_seen += inputs[name].numel()  # type: ignore[attr-defined]


class ModelOwnLoss:
    """SFT with the model's own loss instead of trl's fused head: its full logits, or
    with Liger's kernels their fused linear cross-entropy, which never builds them.

    Used where ``engine.loss_implementation`` says so. trl's head computes the entropy
    and top-1 accuracy it logs and reads them on the host every micro-batch (on a GPU,
    a wait for every queued kernel), and on a CPU it folds its tiles in torch ops over
    every position. Nothing in ftwizard reads those metrics. The loss is the same sum
    over the labelled tokens divided by their count.
    """

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        from transformers import Trainer

        inputs["use_cache"] = False
        # Past trl's override: it would call the model with its fused head.
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)  # type: ignore[arg-type]


def build_trainer(
    config: RunConfig,
    run: RunFolder,
    model: Any,
    tokenizer: Any,
    peft_config: Any,
    data: PreparedData,
    callbacks: list[Any],
    clock: StepClock | None = None,
) -> Any:
    objective = config.method.objective
    cuda = torch.cuda.is_available()
    common = training_arguments(config, str(run.staging_dir), data.eval is not None, cuda)
    mixins: list[type] = [AtomicCheckpoints, TimesSteps, CountsTokensOnHost]
    extra: dict[str, Any] = {}
    if objective in ONLINE_RL:
        common.pop("max_length")  # a prompt is never cut; max_completion_length bounds the rest
        common.update(online_rl_arguments(config, data.eval is not None))
        mixins += [RecordsCompletions, TimesGeneration]
        extra.update(online_rl_inputs(config))
    if objective in ("sft", "cpt"):
        from trl import SFTConfig, SFTTrainer

        args: Any = SFTConfig(
            **common,
            packing=config.training.packing,
            assistant_only_loss=data.trl_masks,
        )
        base: Any = SFTTrainer
        device = "cuda" if cuda else "cpu"
        vocab = model.config.get_text_config().vocab_size
        if loss_implementation(config, vocab, device) in ("full", "liger"):
            mixins.append(ModelOwnLoss)
    elif objective == "dpo":
        from trl import DPOConfig, DPOTrainer

        args, base = DPOConfig(**common, beta=config.method.beta), DPOTrainer
    elif objective == "kto":
        from trl import KTOConfig, KTOTrainer

        args, base = KTOConfig(**common, beta=config.method.beta), KTOTrainer
    elif objective == "reward":
        from trl import RewardConfig, RewardTrainer

        model.config.pad_token_id = tokenizer.pad_token_id  # the score is read at the last token
        args, base = RewardConfig(**common), RewardTrainer
    elif objective == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        args, base = GRPOConfig(**common), GRPOTrainer
    elif objective == "rloo":
        from trl import RLOOConfig, RLOOTrainer

        args, base = RLOOConfig(**common), RLOOTrainer
    else:
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        args, base = ORPOConfig(**common, beta=config.method.beta), ORPOTrainer
    trainer_class = type(f"Ftwizard{base.__name__}", (*mixins, base), {})
    if objective in ("dpo", "kto") and peft_config is None:
        # A frozen copy of the model as loaded. Left to trl, the reference is loaded again
        # from the config's path: the bare base for a run from another run's result (and
        # nothing at all for a GGUF base). With an adapter, the reference is the same
        # model with the adapter switched off: no copy.
        extra["ref_model"] = copy.deepcopy(model).eval()
    reference = objective in ONLINE_RL and peft_config is None and config.method.beta > 0
    with frozen_reference(model, reference):
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
            **extra,
        )
    if config.method.adapter == "qlora" and not config.training.bf16:
        _adapters_in_float32(trainer.model)
    trainer.ftwizard_run = run
    trainer.ftwizard_clock = clock or StepClock()  # timed, even where no callback reads it
    trainer.ftwizard_keep = config.checkpointing.save_total_limit
    return trainer


def _adapters_in_float32(model: Any) -> None:
    """Undo trl's cast of a QLoRA adapter to bf16 when training does not run in bf16.

    trl casts it whatever the compute dtype. With fp32 compute (the CPU) every adapter
    product then runs in bf16, which most CPUs emulate: the demo's QLoRA steps took 2.3x
    as long as its LoRA steps. With fp16 mixed precision the gradient scaler needs fp32
    parameters. fp32 is what peft itself creates.
    """
    for param in model.parameters():
        if param.requires_grad and param.dtype == torch.bfloat16:
            param.data = param.data.to(torch.float32)
