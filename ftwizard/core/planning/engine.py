"""What the trainer is told, decided here from the run configuration: the arguments of
transformers' Trainer (and trl's configs built on it), the DDP / FSDP settings, the
accelerate file of a run on several GPUs, and which loss implementation runs.

``trainer/components/build.py`` hands these to the libraries as they are; the estimator and the
throughput model read the same rules, so what is planned is what runs.
"""

from __future__ import annotations

from typing import Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.planning.estimator import LossImpl, default_loss_impl

__all__ = [
    "LossImpl",
    "accelerate_config",
    "fsdp_settings",
    "loss_implementation",
    "trainer_arguments",
    "training_arguments",
]

# The loss the trainer runs: the estimator's rule, since it is a memory decision
# (the fused head never holds the logits; on a CPU the model's own loss is faster).
loss_implementation = default_loss_impl


def training_arguments(
    config: RunConfig, output_dir: str, has_eval: bool, cuda: bool
) -> dict[str, Any]:
    """The keyword arguments of ``TrainingArguments`` (and trl's SFT/DPO/KTO/ORPO
    configs) for this run, writing its checkpoints to ``output_dir``."""
    t, e, c = config.training, config.evaluation, config.checkpointing
    # Under FSDP, its own activation checkpointing (fsdp_config) replaces the Trainer's,
    # which would gather every layer's weights once more in the backward.
    fsdp = config.distributed.world_size > 1 and config.distributed.strategy == "fsdp"
    return {
        "output_dir": output_dir,
        "learning_rate": t.learning_rate,
        "num_train_epochs": t.num_train_epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": t.per_device_train_batch_size,
        "per_device_eval_batch_size": e.per_device_eval_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "warmup_steps": t.warmup_ratio,  # a float below 1 is a share of the steps
        "lr_scheduler_type": t.lr_scheduler_type,
        "optim": t.optim,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "gradient_checkpointing": t.gradient_checkpointing and not fsdp,
        "bf16": t.bf16,
        "fp16": t.fp16,
        "seed": t.seed,
        "logging_steps": t.logging_steps,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": e.eval_steps,
        "save_strategy": "steps",
        "save_steps": c.save_steps,
        "save_total_limit": None,  # rotation happens after the atomic rename
        "report_to": [] if config.output.report_to == "none" else [config.output.report_to],
        "use_cpu": not cuda,
        "disable_tqdm": True,
        # Both read a tensor on the host every micro-batch, which on a GPU waits for every
        # queued kernel: the token count is taken from shapes instead
        # (``build.CountsTokensOnHost``), and a NaN loss is logged as NaN, not replaced.
        "logging_nan_inf_filter": False,
        "include_num_input_tokens_seen": True,
        "dataloader_num_workers": 0,
        "max_length": t.max_length,
        "torch_compile": t.torch_compile,
        **trainer_arguments(config),
    }


def online_rl_arguments(config: RunConfig, has_eval: bool) -> dict[str, Any]:
    """trl's GRPO / RLOO settings: the group, the sampling and the KL weight. They have
    no ``max_length`` (a prompt is never cut; ``max_completion_length`` bounds the rest)."""
    rl = config.rl
    return {
        "num_generations": rl.num_generations,
        "max_completion_length": rl.max_completion_length,
        "temperature": rl.temperature,
        "beta": config.method.beta,
        "reward_weights": rl.reward_weights,
        # The run folder records the latest completions; trl's own table is for trackers.
        "log_completions": False,
        # Evaluation samples as many completions per prompt as training does.
        "num_generations_eval": rl.num_generations if has_eval else None,
    }


def trainer_arguments(config: RunConfig) -> dict[str, Any]:
    """The Trainer's ``fsdp`` / ``fsdp_config`` / DDP arguments for this configuration."""
    dist = config.distributed
    if dist.world_size < 2:
        return {}
    if dist.strategy == "ddp":
        # LoRA freezes most parameters; DDP must not wait for gradients they never get.
        return {"ddp_find_unused_parameters": False}
    return {"fsdp": True, "fsdp_config": fsdp_settings(config)}


def fsdp_settings(config: RunConfig) -> dict[str, Any]:
    """FSDP settings shared by the Trainer arguments and the accelerate file.

    The decoder layer class to wrap comes from the model's own ``_no_split_modules``
    (accelerate's default), so no architecture is named here.
    """
    return {
        "version": 2,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "reshard_after_forward": config.distributed.fsdp_sharding_strategy == "FULL_SHARD",
        # Full weights gathered on save: a checkpoint loads anywhere, with any world size.
        "state_dict_type": "FULL_STATE_DICT",
        "cpu_ram_efficient_loading": True,
        "activation_checkpointing": config.training.gradient_checkpointing,
    }


def accelerate_config(config: RunConfig) -> dict[str, Any]:
    """The ``accelerate launch --config_file`` equivalent of this run.

    For several machines each one sets its ``machine_rank`` (0 on the first) and the
    first machine's ``main_process_ip`` / ``main_process_port``; ``num_processes`` is
    the total over all machines, as accelerate counts it.
    """
    dist, training = config.distributed, config.training
    data: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "FSDP" if dist.strategy == "fsdp" else "MULTI_GPU",
        "num_machines": dist.num_machines,
        "machine_rank": 0,
        "num_processes": dist.world_size,
        "main_process_ip": None,
        "main_process_port": None,
        "rdzv_backend": "static",
        "same_network": True,
        "mixed_precision": "bf16" if training.bf16 else "fp16" if training.fp16 else "no",
        "use_cpu": False,
        "gpu_ids": "all",
        "main_training_function": "main",
        "downcast_bf16": "no",
        "tpu_env": [],
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
    }
    if dist.strategy == "fsdp":
        settings = fsdp_settings(config)
        data["fsdp_config"] = {
            "fsdp_version": settings["version"],
            "fsdp_auto_wrap_policy": settings["auto_wrap_policy"],
            "fsdp_reshard_after_forward": settings["reshard_after_forward"],
            "fsdp_state_dict_type": settings["state_dict_type"],
            "fsdp_cpu_ram_efficient_loading": settings["cpu_ram_efficient_loading"],
            "fsdp_activation_checkpointing": settings["activation_checkpointing"],
            "fsdp_offload_params": False,
        }
    return data
