"""The one run configuration.

Presets, ``--set`` overrides, the TUI forms and the trainer all read this model.
Key names follow the transformers / peft / trl argument names, so what people
already know carries over (``learning_rate``, ``per_device_train_batch_size``,
``lora_alpha``, ``target_modules``...). Each field carries a one-line
``description`` (the form help and ``ftwizard presets show``) and its allowed
range, which pydantic enforces and :mod:`ftwizard.core.config.yaml_io` turns into
messages for people.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ftwizard.core.config.choices import (
    COLUMNS,
    ONLINE_RL,
    PREFERENCE_BETA,
    Adapter,
    AttnImplementation,
    DataFormat,
    ModelDtype,
    Objective,
    Optimizer,
    ReportTo,
    Scheduler,
    TrainOn,
)
from ftwizard.core.config.parts import MixSource, Section, StageSection
from ftwizard.core.config.rl import RlSection

# A run name becomes a folder name: keep it portable and shell-safe.
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ModelSection(Section):
    """Which model to start from and how to load it."""

    model_name_or_path: str = Field(
        "smollm2-135m-instruct",
        min_length=1,
        description="Hub id, local folder, .gguf file or a built-in short name to fine-tune.",
    )
    revision: str | None = Field(
        None, description="Branch, tag or commit of a Hub model (default: the main branch)."
    )
    from_run: str | None = Field(
        None,
        description="A finished run (name or folder) to start from: its result is the "
        "starting model, and the reference of DPO/KTO.",
    )
    dtype: ModelDtype = Field(
        "auto", description="Precision the base weights are loaded in; auto follows bf16/fp16."
    )
    trust_remote_code: bool = Field(
        False,
        description="Run Python code shipped with the model. Off unless you trust its author.",
    )

    def remote_code_warning(self) -> str | None:
        """What every command that loads this model says first, when it runs the model's
        own code."""
        if not self.trust_remote_code:
            return None
        return (
            f"trust_remote_code is on: the Python code shipped with "
            f"{self.model_name_or_path} will run."
        )


class DataSection(Section):
    """Where the training examples come from."""

    path: str = Field(
        "", description="Dataset file, folder or Hub id (json, jsonl, csv, parquet, txt)."
    )
    name: str | None = Field(None, description="Configuration name of a Hub dataset, if any.")
    split: str = Field("train", min_length=1, description="Split to train on.")
    format: DataFormat = Field(
        "auto", description="Dataset layout; auto detects it from the columns."
    )
    column_map: dict[str, str] = Field(
        default_factory=dict,
        description="Rename your columns to the expected ones, e.g. {instruction: question}.",
    )
    skip_invalid: bool = Field(
        False, description="Train past invalid rows (their count is recorded) instead of stopping."
    )
    train_on: TrainOn = Field(
        "assistant",
        description="Chat data: which tokens carry the loss. assistant: every assistant turn; "
        "last_assistant: only the final answer; all: every token, prompts included.",
    )
    mix: list[MixSource] = Field(
        default_factory=list,
        description="Other datasets mixed in, each with its share of the training rows, e.g. "
        "[{path: general.jsonl, weight: 0.2}]; data.path has the rest.",
    )

    @field_validator("mix")
    @classmethod
    def _shares_leave_room(cls, value: list[MixSource]) -> list[MixSource]:
        if sum(source.weight for source in value) >= 1:
            raise ValueError("the weights add up to 1 or more: data.path must keep a share")
        return value

    @field_validator("column_map")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        # A name no layout reads would be ignored without a word.
        unknown = sorted(set(value) - set(COLUMNS))
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a column ftwizard reads; the keys are the expected "
                f"names ({', '.join(COLUMNS)}), the values your columns"
            )
        return value


class MethodSection(Section):
    """What to optimise (objective) and which weights to train (adapter)."""

    objective: Objective = Field(
        "sft",
        description="sft: imitate answers; dpo/orpo: prefer chosen over rejected; "
        "kto: good/bad labels; cpt: continue pre-training on raw text; reward: a reward "
        "model from preference pairs; grpo/rloo: online RL on prompts, scored by rewards.",
    )
    adapter: Adapter = Field(
        "lora",
        description="full: train every weight; lora: small adapters; qlora: adapters on a "
        "quantised base.",
    )
    bits: Literal[4, 8] = Field(
        4, description="Quantisation of the frozen base weights when the adapter is qlora."
    )
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = Field(
        "nf4", description="4-bit data type; nf4 suits normally distributed weights best."
    )
    bnb_4bit_use_double_quant: bool = Field(
        True, description="Quantise the quantisation constants too (saves ~0.4 bit/parameter)."
    )
    beta: float = Field(
        0.1,
        ge=0,
        le=10,
        description="Preference strength for dpo/orpo/kto, the KL weight for grpo/rloo: "
        "higher stays closer to the starting model (grpo/rloo: 0 needs no reference model).",
    )

    @model_validator(mode="after")
    def _beta_means_something(self) -> MethodSection:
        if self.objective in PREFERENCE_BETA and self.beta == 0:
            raise ValueError(f"beta must be above 0 for {self.objective}")
        return self


class LoraSection(Section):
    """Low-rank adapter settings (peft ``LoraConfig``); ignored for full fine-tunes."""

    r: int = Field(16, ge=1, le=1024, description="Adapter rank: capacity of the adapter.")
    lora_alpha: int = Field(
        32, ge=1, le=4096, description="Adapter scaling numerator; 2 x r is a good start."
    )
    lora_dropout: float = Field(
        0.05, ge=0, lt=1, description="Dropout on the adapter input during training."
    )
    target_modules: str | list[str] = Field(
        "all-linear",
        description="Layers that get adapters: all-linear, or names such as q_proj,v_proj.",
    )
    use_dora: bool = Field(
        False, description="Weight-decomposed LoRA (DoRA): a little better, slower."
    )
    use_rslora: bool = Field(
        False, description="Rank-stabilised scaling alpha/sqrt(r); helps at large ranks."
    )

    @field_validator("target_modules")
    @classmethod
    def _split_module_names(cls, value: str | list[str]) -> str | list[str]:
        # "q_proj,v_proj" on the command line means the list [q_proj, v_proj].
        if isinstance(value, str):
            if value == "all-linear":
                return value
            value = [part.strip() for part in value.split(",")]
        names = [name for name in value if name]
        if not names:
            raise ValueError("name at least one module, or use all-linear")
        return names


class TrainingSection(Section):
    """Optimisation settings (transformers ``TrainingArguments`` names)."""

    learning_rate: float = Field(
        2e-4, gt=0, le=1, description="Peak learning rate (LoRA ~1e-4..5e-4, full ~1e-5..5e-5)."
    )
    num_train_epochs: float = Field(
        1.0, gt=0, le=1000, description="Passes over the dataset (ignored when max_steps > 0)."
    )
    max_steps: int = Field(
        -1, ge=-1, description="Stop after this many optimiser steps; -1 uses num_train_epochs."
    )
    per_device_train_batch_size: int = Field(
        4, ge=1, le=4096, description="Examples per GPU per forward pass (micro-batch)."
    )
    gradient_accumulation_steps: int = Field(
        4, ge=1, le=4096, description="Micro-batches summed before each optimiser step."
    )
    max_length: int = Field(
        1024,
        ge=16,
        le=1_048_576,
        description="Tokens per example; longer ones are truncated. grpo/rloo: the prompts' "
        "length the plan assumes (they are not cut; rl.max_completion_length adds the rest).",
    )
    warmup_ratio: float = Field(
        0.03, ge=0, le=1, description="Share of steps spent ramping the learning rate up."
    )
    lr_scheduler_type: Scheduler = Field(
        "cosine", description="How the learning rate falls after warm-up."
    )
    optim: Optimizer = Field(
        "adamw_torch_fused",
        description="Optimiser; fused AdamW steps every weight at once, 8-bit and paged "
        "variants save memory.",
    )
    weight_decay: float = Field(0.0, ge=0, le=1, description="Decoupled weight decay.")
    max_grad_norm: float = Field(
        1.0, ge=0, description="Clip the gradient norm to this value (0 turns clipping off)."
    )
    gradient_checkpointing: bool = Field(
        True,
        description="Recompute activations in the backward pass: far less memory, ~30% slower.",
    )
    bf16: bool = Field(False, description="Train in bfloat16 (GPUs of compute capability 8.0+).")
    fp16: bool = Field(False, description="Train in float16 with loss scaling (older GPUs).")
    attn_implementation: AttnImplementation = Field(
        "sdpa", description="Attention kernel: sdpa (default), flash_attention_2 or eager."
    )
    packing: bool = Field(
        False, description="Pack several short examples into one sequence (faster on short data)."
    )
    torch_compile: bool = Field(
        False,
        description="Compile the model with torch.compile: fewer, fused kernels after a "
        "compile of minutes (and again for each new batch shape).",
    )
    use_liger_kernel: bool = Field(
        False,
        description="sft/cpt on NVIDIA GPUs: Liger's Triton kernels (RMSNorm, SwiGLU, RoPE, a "
        "loss that never builds the logits): less memory, fewer launches. Needs liger-kernel.",
    )
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed for data order and init.")
    logging_steps: int = Field(
        1,
        ge=1,
        description="Log loss, metrics and step times every N steps (a log waits for the "
        "GPU to finish the step; plans log about once a second).",
    )

    @model_validator(mode="after")
    def _one_half_precision(self) -> TrainingSection:
        if self.bf16 and self.fp16:
            raise ValueError("bf16 and fp16 are both on; choose one")
        return self


class EvaluationSection(Section):
    """Held-out evaluation during training."""

    val_size: float = Field(
        0.0, ge=0, lt=1, description="Share of the data held out for validation (0 = none)."
    )
    val_path: str | None = Field(
        None, description="A separate validation file instead of a held-out share."
    )
    eval_steps: int = Field(50, ge=1, description="Evaluate every N optimiser steps.")
    per_device_eval_batch_size: int = Field(
        4, ge=1, le=4096, description="Examples per GPU per evaluation batch."
    )


class CheckpointingSection(Section):
    """When to save resumable checkpoints."""

    save_steps: int = Field(100, ge=1, description="Save a resumable checkpoint every N steps.")
    save_total_limit: int | None = Field(
        3, ge=1, description="Keep at most this many checkpoints (none: keep all)."
    )


class OutputSection(Section):
    """Where the run folder goes and what is reported."""

    run_name: str | None = Field(
        None, description="Folder name of this run (default: model, method and time)."
    )
    runs_root: str = Field("runs", min_length=1, description="Folder that holds the run folders.")
    report_to: ReportTo = Field(
        "none", description="Also log to an experiment tracker (none keeps everything local)."
    )

    @field_validator("run_name")
    @classmethod
    def _portable_run_name(cls, value: str | None) -> str | None:
        if value is not None and not _RUN_NAME.fullmatch(value):
            raise ValueError(
                "use letters, digits, '.', '_' and '-' only, starting with a letter or digit"
            )
        return value


class DistributedSection(Section):
    """More than one GPU: processes, machines, launcher and how the model is spread."""

    num_processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Training processes on each machine, one per GPU (1: one GPU, or the "
        "CPU). The effective batch is batch x accumulation x processes x machines.",
    )
    num_machines: int = Field(
        1,
        ge=1,
        le=64,
        description="Machines the run spans (accelerate's name), each running "
        "num_processes. Start every machine with --nodes K --node-rank R --master HOST; "
        "the run folder must be on storage all of them see, and needs output.run_name.",
    )
    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="ddp: a full copy per GPU, fastest when one GPU holds the run; "
        "fsdp: weights, gradients and optimizer states sharded across the GPUs.",
    )
    fsdp_sharding_strategy: Literal["FULL_SHARD", "SHARD_GRAD_OP"] = Field(
        "FULL_SHARD",
        description="FULL_SHARD frees each layer's gathered weights after use (least "
        "memory); SHARD_GRAD_OP keeps them from forward to backward (less traffic).",
    )
    launcher: Literal["torchrun", "accelerate"] = Field(
        "torchrun",
        description="What starts the processes: torchrun, or accelerate launch with "
        "the run's generated accelerate.yaml. Mixed precision follows training.bf16/fp16.",
    )

    @property
    def world_size(self) -> int:
        """Training processes over every machine."""
        return self.num_processes * self.num_machines


class RunConfig(Section):
    """Everything one fine-tuning run needs; a preset is this, written as YAML."""

    description: str = Field("", description="One line saying what this configuration is for.")
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    method: MethodSection = Field(default_factory=MethodSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    checkpointing: CheckpointingSection = Field(default_factory=CheckpointingSection)
    output: OutputSection = Field(default_factory=OutputSection)
    distributed: DistributedSection = Field(default_factory=DistributedSection)
    rl: RlSection = Field(default_factory=RlSection)
    stages: list[StageSection] = Field(
        [],
        description="Train in stages, one after another in one run (e.g. SFT, then DPO "
        "on preference pairs); empty: one stage, this configuration.",
    )

    @model_validator(mode="after")
    def _groups_fill_the_batch(self) -> RunConfig:
        # trl's own check, said before any model loads: a batch holds whole groups.
        group = self.rl.num_generations
        if self.method.objective in ONLINE_RL and self.effective_batch_size % group:
            raise ValueError(
                f"the batch ({self.effective_batch_size} completions: batch x accumulation x "
                f"processes) must be a multiple of rl.num_generations ({group})"
            )
        return self

    @property
    def effective_batch_size(self) -> int:
        """Examples per optimiser step, over every process."""
        t = self.training
        return (
            t.per_device_train_batch_size
            * t.gradient_accumulation_steps
            * self.distributed.world_size
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-ready), every field included."""
        return self.model_dump(mode="json")

    def with_sections(self, **sections: dict[str, Any]) -> RunConfig:
        """A copy with these keys of these sections changed, validated again:
        ``config.with_sections(training={"learning_rate": 1e-4})``.

        Only what was set is carried over, so the copy still tells which fields the
        person (or a step of the plan) chose and which are defaults (``model_fields_set``).
        Each section reports its own set fields: an assignment to a field of a default
        section is tracked there, not in the parent.
        """
        data: dict[str, Any] = {}
        for name in RunConfig.model_fields:
            value = getattr(self, name)
            if isinstance(value, Section):
                data[name] = value.model_dump(mode="json", exclude_unset=True)
            elif name in self.model_fields_set:
                data[name] = value
        for section, values in sections.items():
            data[section].update(values)
        return RunConfig.model_validate(data)


SECTIONS: dict[str, type[Section]] = {
    name: info.annotation
    for name, info in RunConfig.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
}
"""Section name -> its model, in the order they appear in a preset."""
