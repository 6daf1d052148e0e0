"""The recommendation engine: objective, method and hyperparameters, each with a reason.

Pure and table-driven. Four tables (``tables.py``: hardware, purpose, data, defaults)
propose; the VRAM estimator decides: a method is offered only if its estimate fits in
90 % of free memory. When nothing fits, the plan says what to change and by how much,
in the estimator's own numbers.

``recommend`` calls one small function per decision, in the order each needs the one
before (the precision and the batch come once the method and the GPUs are known), and
each decision is made once. Whether the run is too slow here is the caller's question
(``time_advice.with_time_advice``), since answering it makes other plans.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftwizard.core.config.choices import Adapter, Objective
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.hardware.gpus import Target, verdict
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.distributed import GpuPlan, plan_gpus, with_processes
from ftwizard.core.planning.estimator import estimate
from ftwizard.core.planning.fit import (
    EFFECTIVE_BATCH,
    MethodOption,
    changes_to_fit,
    default_optim,
    device_for,
    fastest_fitting,
    method_options,
)
from ftwizard.core.planning.kernels import decide_kernels
from ftwizard.core.planning.logging_steps import decide_logging
from ftwizard.core.planning.plan import Decision, Plan
from ftwizard.core.planning.precision import cpu_base_dtype
from ftwizard.core.planning.tables import (
    CPU_DROPOUT_REASON,
    METHODS,
    Purpose,
    SizeDefaults,
    hardware_methods,
    learning_rate,
    objective_for,
    purpose_methods,
    size_defaults,
)
from ftwizard.core.planning.throughput import machines_note, training_time
from ftwizard.core.planning.validation_split import plan_validation

__all__ = ["Decision", "Plan", "recommend"]


@dataclass(frozen=True)
class Context:
    """What every decision may look at: the machine, the model, the data, the purpose,
    and the method the person picked, if any."""

    target: Target
    model: ModelFacts
    data: DatasetFacts
    purpose: Purpose
    method: Adapter | None = None


@dataclass(frozen=True)
class MethodChoice:
    chosen: MethodOption
    """The setting (method, micro-batch, checkpointing) the plan trains with."""
    options: list[MethodOption]
    """Every setting of the chosen method: the checkpointing decision compares them."""
    methods: list[MethodOption]
    """Each method's fastest fitting setting, for the plan's table."""
    decision: Decision
    changes: list[str]
    """What would make it fit, when it does not."""


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


# --- one function per decision -----------------------------------------------------


def decide_objective(ctx: Context) -> tuple[Objective, Decision, list[str]]:
    objective, why = objective_for(ctx.purpose, ctx.data, ctx.model)
    notes = []
    if ctx.purpose == "chat" and objective == "sft":
        notes.append(
            "chat assistant: after this SFT run, a DPO run on preference pairs polishes it"
        )
    if ctx.data.rows > 10_000 and ctx.data.kind == "preference" and objective == "dpo":
        notes.append("over 10K pairs: an SFT run on the chosen answers first usually helps DPO")
    return objective, Decision("objective", objective, why), notes


def decide_method_order(ctx: Context) -> tuple[list[Adapter], list[Decision]]:
    """The methods in the order the hardware, then the purpose, prefer them."""
    if ctx.target.cpu:
        order: list[Adapter] = ["lora", "qlora", "full"]
        why = "no GPU: LoRA on the CPU, for small models only"
    else:
        order, why = hardware_methods(ctx.target.memory_gib, ctx.model.params_billions)
    decisions = [Decision("hardware", " > ".join(order), why)]
    order, why_purpose = purpose_methods(ctx.purpose, order)
    if why_purpose:
        decisions.append(Decision("purpose", " > ".join(order), why_purpose))
    return order, decisions


def decide_data_size(ctx: Context) -> tuple[SizeDefaults, Decision, list[str]]:
    sizes = size_defaults(ctx.data.rows)
    notes = []
    if sizes.label == "under 1K":
        notes.append("with under 1K examples, try few-shot prompting first: it may be enough")
    return sizes, Decision("data size", sizes.label, sizes.reason), notes


def starting_settings(
    config: RunConfig, ctx: Context, objective: Objective, sizes: SizeDefaults
) -> RunConfig:
    """What the tables set before any method is weighed: the objective, the data size's
    rank, epochs and warm-up, the length the data needs, mixed precision on GPUs."""
    max_length = config.training.max_length
    if ctx.data.tokens_p95:
        max_length = max(128, -(-ctx.data.tokens_p95 // 128) * 128)
    if ctx.model.max_context:
        max_length = min(max_length, ctx.model.max_context)
    gpu = not ctx.target.cpu
    return config.with_sections(
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
            "bf16": gpu and ctx.target.bf16,
            "fp16": gpu and not ctx.target.bf16,
        },
    )


def choose_method(ctx: Context, config: RunConfig, order: list[Adapter]) -> MethodChoice:
    """The first method in ``order`` whose fastest setting fits; the person's pick; or,
    when none fits, the one that comes closest and what would make it fit."""
    target = ctx.target
    options = {a: method_options(ctx.model, config, a, target, ctx.data) for a in METHODS}
    methods = [fastest_fitting(options[adapter]) for adapter in METHODS]
    by_adapter = {m.adapter: m for m in methods}
    fitting = next((by_adapter[a] for a in order if by_adapter[a].verdict == "fits"), None)
    if ctx.method is not None:
        chosen = by_adapter[ctx.method]
        why = (
            f"your choice; estimate {chosen.estimate.device_total_gib:.1f} GB "
            f"({chosen.verdict} in {target.free_gib:.1f} GB free)"
        )
        changes = (
            [] if chosen.verdict == "fits" else changes_to_fit(ctx.model, chosen, config, target)
        )
    elif fitting is None:
        chosen = min(methods, key=lambda m: m.estimate.device_total_gib)
        why = (
            f"nothing fits in 90% of {target.free_gib:.1f} GB free; {chosen.adapter} comes closest"
        )
        changes = changes_to_fit(ctx.model, chosen, config, target)
    else:
        chosen, changes = fitting, []
        why = (
            f"estimate {chosen.estimate.device_total_gib:.1f} GB fits in 90% of "
            f"{target.free_gib:.1f} GB free"
        )
        skipped = order[: order.index(chosen.adapter)]
        if skipped:
            why += f" ({', '.join(skipped)} would not)"
    decision = Decision("method", chosen.adapter, why)
    return MethodChoice(chosen, options[chosen.adapter], methods, decision, changes)


def decide_precision(
    config: RunConfig, ctx: Context, adapter: Adapter
) -> tuple[RunConfig, Decision]:
    if not ctx.target.cpu:
        bf16 = config.training.bf16
        why = "bf16 where the GPU supports it (compute capability 8.0+), else fp16"
        return config, Decision("precision", "bf16" if bf16 else "fp16", why)
    cpu = cpu_base_dtype(adapter, ctx.target, config.model.dtype)
    if cpu.dtype == "bfloat16" and config.model.dtype == "auto":  # else auto loads fp32
        config = config.with_sections(model={"dtype": cpu.dtype})
    return config, Decision("precision", cpu.choice, cpu.reason)


def decide_adapter_dropout(
    config: RunConfig, ctx: Context, adapter: Adapter
) -> tuple[RunConfig, Decision | None]:
    """On the CPU the adapter trains without dropout (CPU_DROPOUT_REASON says why)."""
    if not ctx.target.cpu or adapter == "full":
        return config, None
    config = config.with_sections(lora={"lora_dropout": 0.0})
    return config, Decision("adapter dropout", "off", CPU_DROPOUT_REASON)


def decide_learning_rate(
    config: RunConfig, ctx: Context, chosen: MethodOption, sizes: SizeDefaults
) -> tuple[RunConfig, Decision]:
    objective = config.method.objective
    lr = learning_rate(objective, chosen.adapter, sizes.lr_scale)
    config = config.with_sections(
        method={"adapter": chosen.adapter},
        training={"learning_rate": lr, "optim": default_optim(chosen.adapter, ctx.target)},
    )
    if objective in ("dpo", "kto", "orpo"):
        why = "DPO/KTO/ORPO move gently (about 5e-6)"
    elif chosen.adapter != "full":
        why = "LoRA/QLoRA learn at 1e-4..5e-4"
    else:
        why = "full fine-tunes learn at 1e-5..5e-5"
    return config, Decision("learning rate", f"{lr:g}", why)


@dataclass(frozen=True)
class GpuChoice:
    config: RunConfig
    decision: Decision | None
    setting: MethodOption
    """The setting each GPU trains with: sharded, a bigger micro-batch may fit."""
    options: list[MethodOption]
    """Every setting weighed for it (the checkpointing decision compares them)."""
    changes: list[str]
    """What is left to change for it to fit."""
    sharded: bool = False
    """Spread over several GPUs and fitting: the effective batch is shared among them."""


def decide_gpus(config: RunConfig, ctx: Context, choice: MethodChoice) -> GpuChoice:
    """How many GPUs and machines, and the setting each GPU then trains with."""
    target, chosen = ctx.target, choice.chosen
    if target.count <= 1 and target.machines <= 1:
        return GpuChoice(config, None, chosen, choice.options, choice.changes)
    gpus = plan_gpus(ctx.model, config, target)
    config = with_processes(config, gpus.num_processes, gpus.strategy, gpus.num_machines)
    decision = Decision("GPUs", gpu_choice(gpus, target), gpus.reason)
    if gpus.verdict != "fits":
        changes = list(choice.changes)
        if gpus.machines_needed is not None:
            changes.append(
                f"run on {gpus.machines_needed} machines of {target.count} x {target.label} "
                f"(plan again with --nodes {gpus.machines_needed})"
            )
        return GpuChoice(config, decision, chosen, choice.options, changes)
    # Sharding made it fit (the one-GPU changes are not needed), and on each GPU a
    # bigger micro-batch may fit now.
    if config.distributed.world_size == 1:
        return GpuChoice(config, decision, chosen, choice.options, [])
    options = method_options(ctx.model, config, chosen.adapter, target, ctx.data)
    return GpuChoice(config, decision, fastest_fitting(options), options, [], sharded=True)


def with_setting(config: RunConfig, setting: MethodOption, world: int = 1) -> RunConfig:
    """``config`` training as ``setting`` says: its micro-batch and checkpointing, the
    rest of the effective batch as gradient accumulation, spread over ``world``
    processes (the GPUs of a sharded run that fits)."""
    micro = min(setting.micro_batch, max(1, EFFECTIVE_BATCH // world))
    return config.with_sections(
        training={
            "per_device_train_batch_size": micro,
            "gradient_accumulation_steps": max(1, EFFECTIVE_BATCH // (micro * world)),
            "gradient_checkpointing": setting.gradient_checkpointing,
        },
    )


def decide_batch(gpus: GpuChoice) -> tuple[RunConfig, Decision]:
    """The micro-batch the chosen setting runs, the rest as gradient accumulation."""
    world = gpus.config.distributed.world_size if gpus.sharded else 1
    config = with_setting(gpus.config, gpus.setting, world)
    micro = config.training.per_device_train_batch_size
    steps = config.training.gradient_accumulation_steps
    if world > 1:
        return config, Decision(
            "batch",
            f"{micro} x {steps} x {world} GPUs",
            f"effective batch {config.effective_batch_size}: the fastest micro-batch that "
            "fits, on each GPU, the rest as gradient accumulation",
        )
    return config, Decision(
        "batch",
        f"{micro} x {steps}",
        f"effective batch {EFFECTIVE_BATCH}: of the micro-batches that fit, the fastest by the "
        f"time model ({gpus.setting.seconds_per_step:.2f} s a step), the rest as gradient "
        "accumulation",
    )


def decide_validation(
    config: RunConfig, ctx: Context, base: RunConfig
) -> tuple[RunConfig, Decision]:
    split = plan_validation(
        ctx.data.rows,
        config.effective_batch_size,
        config.training.num_train_epochs,
        base.evaluation,
    )
    current = config.evaluation
    if (split.val_size, split.eval_steps) != (current.val_size, current.eval_steps):
        config = config.with_sections(
            evaluation={"val_size": split.val_size, "eval_steps": split.eval_steps}
        )
    return config, Decision("validation", split.choice, split.reason)


# --- the plan ------------------------------------------------------------------------


def recommend(
    target: Target,
    model: ModelFacts,
    data: DatasetFacts,
    purpose: Purpose,
    base: RunConfig | None = None,
    method: Adapter | None = None,
) -> Plan:
    """Choose objective, method and hyperparameters for this hardware, model and data.

    ``method`` overrides the choice of adapter (the person picked it); the rest of the
    plan (batch, checkpointing, learning rate) then follows for that method.
    """
    ctx = Context(target, model, data, purpose, method)
    base = base or RunConfig()
    objective, objective_decision, notes = decide_objective(ctx)
    order, order_decisions = decide_method_order(ctx)
    sizes, size_decision, size_notes = decide_data_size(ctx)
    config = starting_settings(base, ctx, objective, sizes)
    choice = choose_method(ctx, config, order)
    config, precision = decide_precision(config, ctx, choice.chosen.adapter)
    # After the method (its micro-batch was fitted without them: Liger only saves memory
    # for an adapter) and before the GPUs, whose estimate counts them.
    config, kernels = decide_kernels(config, model, target, base, choice.chosen.adapter)
    config, dropout = decide_adapter_dropout(config, ctx, choice.chosen.adapter)
    config, rate = decide_learning_rate(config, ctx, choice.chosen, sizes)
    # The GPUs are weighed with the setting one GPU would train with.
    gpus = decide_gpus(with_setting(config, choice.chosen), ctx, choice)
    config, batch = decide_batch(gpus)
    checkpointing = Decision(
        "gradient checkpointing",
        "on" if gpus.setting.gradient_checkpointing else "off",
        checkpointing_reason(gpus.setting, gpus.options),
    )
    config, validation = decide_validation(config, ctx, base)
    time = training_time(model, config, data, target)
    config, logging = decide_logging(config, time.seconds_per_step, time.steps, base)
    decisions = [
        objective_decision,
        *order_decisions,
        size_decision,
        precision,
        choice.decision,
        *([kernels] if kernels else []),
        *([dropout] if dropout else []),
        rate,
        batch,
        checkpointing,
        *([gpus.decision] if gpus.decision else []),
        validation,
        *([logging] if logging else []),
    ]
    final = estimate(model, config, device=device_for(target))
    network = machines_note(model, config, data, target)
    return Plan(
        config=config,
        decisions=decisions,
        methods=choice.methods,
        estimate=final,
        fits=verdict(final.device_total_gib, target) == "fits",
        time=time,
        changes_needed=gpus.changes,
        notes=[*notes, *size_notes, *([network] if network else [])],
    )
