"""The recommendation engine: objective, method and hyperparameters, each with a reason.

Pure and table-driven. Four tables (``tables.py``: hardware, purpose, data,
defaults) propose; the VRAM estimator decides: a method is offered only if its
estimate fits in 90 % of free memory. When nothing fits, the plan says what to
change and by how much, in the estimator's own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.config.schema import Adapter, RunConfig
from ftwizard.core.hardware.gpus import Target, verdict
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.distributed import GpuPlan, plan_gpus, with_processes
from ftwizard.core.planning.estimator import Estimate, estimate
from ftwizard.core.planning.fit import (
    EFFECTIVE_BATCH,
    MethodOption,
    changes_to_fit,
    default_optim,
    device_for,
    fastest_fitting,
    fit_method,
    method_options,
    with_sections,
)
from ftwizard.core.planning.precision import cpu_base_dtype
from ftwizard.core.planning.tables import (
    CPU_DROPOUT_REASON,
    METHODS,
    Purpose,
    hardware_methods,
    learning_rate,
    objective_for,
    purpose_methods,
    size_defaults,
)
from ftwizard.core.planning.throughput import TrainingTime, machines_note, training_time
from ftwizard.core.planning.time_advice import TimeWarning, time_warning
from ftwizard.core.planning.validation_split import plan_validation


@dataclass(frozen=True)
class Decision:
    topic: str
    choice: str
    reason: str


TIME_KEYS = ("eta_seconds", "seconds_per_step", "tokens_per_second", "steps")


@dataclass
class Plan:
    config: RunConfig
    decisions: list[Decision]
    methods: list[MethodOption]
    estimate: Estimate | None
    fits: bool
    time: TrainingTime | None
    changes_needed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    time_warning: TimeWarning | None = None

    @property
    def eta_seconds(self) -> float | None:
        return None if self.time is None else self.time.eta_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "fits": self.fits,
            "decisions": [vars(d) for d in self.decisions],
            "methods": [
                {
                    "method": m.adapter,
                    "verdict": m.verdict,
                    "micro_batch": m.micro_batch,
                    "gradient_checkpointing": m.gradient_checkpointing,
                    "peak_allocated_gb": m.estimate.peak_allocated_gib,
                    "device_total_gb": m.estimate.device_total_gib,
                }
                for m in self.methods
            ],
            "estimate": None if self.estimate is None else self.estimate.to_dict(),
            "eta_seconds": None if self.time is None else round(self.time.eta_seconds, 1),
            "seconds_per_step": None if self.time is None else round(self.time.seconds_per_step, 3),
            "tokens_per_second": None
            if self.time is None
            else round(self.time.tokens_per_second, 1),
            "steps": None if self.time is None else self.time.steps,
            "eta_is_estimate": True,
            "time_warning": None if self.time_warning is None else self.time_warning.to_dict(),
            "changes_needed": self.changes_needed,
            "notes": self.notes,
            "config": self.config.to_dict(),
        }


# --- The plan ---------------------------------------------------------------------


def gpu_choice(gpus: GpuPlan, target: Target) -> str:
    """How many of the GPUs train, and how: "1 of 2", "2 of 4 (FSDP)", "2 x 8 (FSDP)"."""
    if gpus.num_machines > 1:
        return f"{gpus.num_machines} machines x {gpus.num_processes} ({gpus.strategy.upper()})"
    used = f"{gpus.num_processes} of {target.count}"
    return used if gpus.num_processes == 1 else f"{used} ({gpus.strategy.upper()})"


def checkpointing_reason(chosen: MethodOption, options: list[MethodOption]) -> str:
    """Why gradient checkpointing is on or off for the chosen setting."""
    if not chosen.gradient_checkpointing:
        return "not needed: about 30% faster off"
    without = [o for o in options if o.verdict == "fits" and not o.gradient_checkpointing]
    if not without:
        return "needed to fit"
    best = min(without, key=lambda o: o.seconds_per_step)
    return (
        f"it lets micro-batch {chosen.micro_batch} fit: {chosen.seconds_per_step:.2f} s a step "
        f"against {best.seconds_per_step:.2f} s with micro-batch {best.micro_batch} without"
    )


def recommend(
    target: Target,
    model: ModelFacts,
    data: DatasetFacts,
    purpose: Purpose,
    base: RunConfig | None = None,
    method: Adapter | None = None,
    advise: bool = True,
) -> Plan:
    """Choose objective, method and hyperparameters for this hardware, model and data.

    ``method`` overrides the choice of adapter (the person picked it); the rest of
    the plan (batch, checkpointing, learning rate) then follows for that method.
    ``advise``: when the run is too slow here, say what other cards and smaller models
    would take (``core/planning/time_advice.py``; its own plans do not advise again).
    """
    config = base or RunConfig()
    base_eval = config.evaluation
    decisions: list[Decision] = []
    notes: list[str] = []

    objective, why = objective_for(purpose, data, model)
    decisions.append(Decision("objective", objective, why))
    if purpose == "chat" and objective == "sft":
        notes.append(
            "chat assistant: after this SFT run, a DPO run on preference pairs polishes it"
        )
    if data.rows > 10_000 and data.kind == "preference" and objective == "dpo":
        notes.append("over 10K pairs: an SFT run on the chosen answers first usually helps DPO")

    order, why = hardware_methods(target.memory_gib if not target.cpu else 8, model.params_billions)
    if target.cpu:
        order, why = ["lora", "qlora", "full"], "no GPU: LoRA on the CPU, for small models only"
    decisions.append(Decision("hardware", " > ".join(order), why))
    order, why_purpose = purpose_methods(purpose, order)
    if why_purpose:
        decisions.append(Decision("purpose", " > ".join(order), why_purpose))

    sizes = size_defaults(data.rows)
    decisions.append(Decision("data size", sizes.label, sizes.reason))
    if sizes.label == "under 1K":
        notes.append("with under 1K examples, try few-shot prompting first: it may be enough")

    precision = {"bf16": target.bf16 and not target.cpu, "fp16": not target.bf16 and not target.cpu}
    max_length = config.training.max_length
    if data.tokens_p95:
        max_length = max(128, -(-data.tokens_p95 // 128) * 128)
    if model.max_context:
        max_length = min(max_length, model.max_context)
    config = with_sections(
        config,
        method={"objective": objective},
        lora={
            "r": sizes.lora_r,
            "lora_alpha": 2 * sizes.lora_r,
            "lora_dropout": sizes.lora_dropout,
        },
        training={
            "num_train_epochs": sizes.epochs,
            "warmup_ratio": sizes.warmup_ratio,
            "lr_scheduler_type": "cosine",
            "max_length": max_length,
            **precision,
        },
    )
    decisions.append(
        Decision(
            "precision",
            "bf16" if precision["bf16"] else "fp16" if precision["fp16"] else "fp32",
            "bf16 where the GPU supports it (compute capability 8.0+), else fp16"
            if not target.cpu
            else "decided with the method",  # replaced below, once the method is known
        )
    )

    options = {adapter: method_options(model, config, adapter, target, data) for adapter in METHODS}
    methods = [fastest_fitting(options[adapter]) for adapter in METHODS]
    by_adapter = {m.adapter: m for m in methods}
    chosen = next((by_adapter[a] for a in order if by_adapter[a].verdict == "fits"), None)
    changes: list[str] = []
    if method is not None:
        chosen = by_adapter[method]
        decisions.append(
            Decision(
                "method",
                method,
                f"your choice; estimate {chosen.estimate.device_total_gib:.1f} GB "
                f"({chosen.verdict} in {target.free_gib:.1f} GB free)",
            )
        )
        if chosen.verdict != "fits":
            changes = changes_to_fit(model, chosen, config, target)
    elif chosen is None:
        smallest = min(methods, key=lambda m: m.estimate.device_total_gib)
        changes = changes_to_fit(model, smallest, config, target)
        chosen = smallest
        decisions.append(
            Decision(
                "method",
                chosen.adapter,
                f"nothing fits in 90% of {target.free_gib:.1f} GB free; "
                f"{chosen.adapter} comes closest",
            )
        )
    else:
        skipped = [a for a in order[: order.index(chosen.adapter)]]
        why = (
            f"estimate {chosen.estimate.device_total_gib:.1f} GB fits in 90% of "
            f"{target.free_gib:.1f} GB free"
        )
        if skipped:
            why += f" ({', '.join(skipped)} would not)"
        decisions.append(Decision("method", chosen.adapter, why))

    if target.cpu:
        cpu = cpu_base_dtype(chosen.adapter, target, config.model.dtype)
        if cpu.dtype == "bfloat16" and config.model.dtype == "auto":  # else auto loads fp32
            config = with_sections(config, model={"dtype": cpu.dtype})
        decisions = [
            Decision("precision", cpu.choice, cpu.reason) if d.topic == "precision" else d
            for d in decisions
        ]
        if chosen.adapter != "full":
            config = with_sections(config, lora={"lora_dropout": 0.0})
            decisions.append(Decision("adapter dropout", "off", CPU_DROPOUT_REASON))

    lr = learning_rate(objective, chosen.adapter, sizes.lr_scale)
    config = with_sections(
        config,
        method={"adapter": chosen.adapter},
        training={
            "learning_rate": lr,
            "per_device_train_batch_size": chosen.micro_batch,
            "gradient_accumulation_steps": max(1, EFFECTIVE_BATCH // chosen.micro_batch),
            "gradient_checkpointing": chosen.gradient_checkpointing,
            "optim": default_optim(chosen.adapter, target),
        },
    )
    decisions.append(
        Decision(
            "learning rate",
            f"{lr:g}",
            "DPO/KTO/ORPO move gently (about 5e-6)"
            if objective in ("dpo", "kto", "orpo")
            else (
                "LoRA/QLoRA learn at 1e-4..5e-4"
                if chosen.adapter != "full"
                else "full fine-tunes learn at 1e-5..5e-5"
            ),
        )
    )
    decisions.append(
        Decision(
            "batch",
            f"{chosen.micro_batch} x {max(1, EFFECTIVE_BATCH // chosen.micro_batch)}",
            f"effective batch {EFFECTIVE_BATCH}: of the micro-batches that fit, the fastest "
            f"by the time model ({chosen.seconds_per_step:.2f} s a step), the rest as "
            "gradient accumulation",
        )
    )
    decisions.append(
        Decision(
            "gradient checkpointing",
            "on" if chosen.gradient_checkpointing else "off",
            checkpointing_reason(chosen, options[chosen.adapter]),
        )
    )

    if target.count > 1 or target.machines > 1:
        gpus = plan_gpus(model, config, target)
        config = with_processes(config, gpus.num_processes, gpus.strategy, gpus.num_machines)
        decisions.append(Decision("GPUs", gpu_choice(gpus, target), gpus.reason))
        if gpus.verdict == "fits":
            changes = []  # sharding made it fit; the one-GPU changes are not needed
        elif gpus.machines_needed is not None:
            changes.append(
                f"run on {gpus.machines_needed} machines of {target.count} x {target.label} "
                f"(plan again with --nodes {gpus.machines_needed})"
            )
        world = config.distributed.world_size
        if world > 1 and gpus.verdict == "fits":
            # Sharded, a bigger micro-batch may fit; the effective batch stays the plan's,
            # with fewer accumulation steps per process.
            sharded = fit_method(model, config, chosen.adapter, target, data)
            micro = min(sharded.micro_batch, max(1, EFFECTIVE_BATCH // world))
            steps = max(1, EFFECTIVE_BATCH // (micro * world))
            config = with_sections(
                config,
                training={
                    "per_device_train_batch_size": micro,
                    "gradient_accumulation_steps": steps,
                    "gradient_checkpointing": sharded.gradient_checkpointing,
                },
            )
            decisions = [
                Decision(
                    "batch",
                    f"{micro} x {steps} x {world} GPUs",
                    f"effective batch {config.effective_batch_size}: the fastest micro-batch "
                    "that fits, on each GPU, the rest as gradient accumulation",
                )
                if d.topic == "batch"
                else d
                for d in decisions
            ]

    validation = plan_validation(
        data.rows, config.effective_batch_size, config.training.num_train_epochs, base_eval
    )
    evaluation = config.evaluation
    if (validation.val_size, validation.eval_steps) != (evaluation.val_size, evaluation.eval_steps):
        config = with_sections(
            config,
            evaluation={"val_size": validation.val_size, "eval_steps": validation.eval_steps},
        )
    decisions.append(Decision("validation", validation.choice, validation.reason))

    final = estimate(model, config, device=device_for(target))
    time = training_time(model, config, data, target)
    network = machines_note(model, config, data, target)
    if network:
        notes.append(network)
    fits = verdict(final.device_total_gib, target) == "fits"
    warning = (
        time_warning(target, model, data, purpose, base, time.eta_seconds)
        if advise and fits
        else None
    )
    return Plan(
        config=config,
        decisions=decisions,
        methods=methods,
        estimate=final,
        fits=fits,
        time=time,
        changes_needed=changes,
        notes=notes,
        time_warning=warning,
    )
