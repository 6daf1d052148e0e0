"""More than one GPU: the checks, the plan, and what the engines are given.

ftwizard does not distribute anything itself. Several processes are started by
``torchrun`` (or ``accelerate launch``), one per GPU, and transformers' Trainer
runs them as PyTorch DDP (a full replica per GPU, gradients averaged) or FSDP
(parameters, gradients and optimizer states sharded across the GPUs). This
module holds what both launchers need and what the plan shows: the checks that
turn bad input into one message, the Trainer's ``fsdp`` arguments, the accelerate
configuration file, and the smallest number of GPUs a run fits on.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import Target, Verdict, verdict
from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.estimator import Estimate, estimate
from ftwizard.core.planning.throughput import throughput_factor


def check_hardware(config: RunConfig, report: HardwareReport) -> None:
    """Refuse, before anything starts, what the GPUs here cannot run."""
    problem = report.visible_device_problem
    if problem:
        raise UserError(
            problem,
            hint="List the GPUs with `ftwizard detect` (or nvidia-smi -L) and name those, "
            "e.g. CUDA_VISIBLE_DEVICES=0,1.",
        )
    wanted = config.distributed.num_processes
    if report.gpus and wanted > len(report.gpus):
        names = "GPU" if len(report.gpus) == 1 else f"{len(report.gpus)} GPUs"
        raise UserError(
            f"distributed.num_processes is {wanted}, but {names} "
            f"{'is' if len(report.gpus) == 1 else 'are'} visible here: one process per GPU.",
            hint=f"Set --set distributed.num_processes={len(report.gpus)} or fewer"
            + (
                " (CUDA_VISIBLE_DEVICES limits which GPUs are visible)."
                if report.gpu_reason is None
                else f" ({report.gpu_reason})."
            ),
        )
    if not report.gpus and wanted > 1 and config.distributed.strategy == "fsdp":
        raise UserError(
            "distributed.strategy is fsdp, but there is no GPU here: accelerate shards with "
            "FSDP on accelerators only, and on the CPU it would quietly run DDP instead.",
            hint="Use distributed.strategy=ddp to try several processes on the CPU, or run "
            "on a machine with GPUs.",
        )
    if not report.gpus and wanted > max(1, report.cpu_cores_physical or 1):
        raise UserError(
            f"distributed.num_processes is {wanted}, but there is no GPU here and only "
            f"{report.cpu_cores_physical} CPU cores.",
            hint="Without a GPU, processes share the cores: use 1 (or 2 to try DDP on the CPU).",
        )
    check_strategy(config)


def check_strategy(config: RunConfig) -> None:
    """What the chosen strategy cannot do with this method, on the installed versions."""
    dist = config.distributed
    if dist.num_machines > 1 and dist.launcher != "torchrun":
        raise UserError(
            f"distributed.num_machines is {dist.num_machines} with distributed.launcher="
            f"{dist.launcher}: ftwizard starts several machines through torchrun's rendezvous.",
            hint="Use distributed.launcher=torchrun (the FSDP settings are the same).",
        )
    if dist.strategy != "fsdp":
        return
    if dist.world_size < 2:
        raise UserError(
            "distributed.strategy is fsdp, which shards the model across processes, but "
            "distributed.num_processes is 1.",
            hint="Set distributed.num_processes to the number of GPUs, or use strategy ddp.",
        )
    if config.method.adapter == "qlora":
        reason = qlora_fsdp_problem(config)
        if reason:
            raise UserError(
                f"FSDP cannot shard this quantised base: {reason}.",
                hint="Use distributed.strategy=ddp (each GPU holds the 4-bit base), or "
                "method.adapter=lora with FSDP.",
            )


# The first versions that shard a 4-bit base with FSDP (bitsandbytes' quant_storage,
# peft's and transformers' support for it, as the peft FSDP-QLoRA guide lists them).
QLORA_FSDP_MINIMUM = {"bitsandbytes": (0, 43), "peft": (0, 10), "transformers": (4, 39)}


def _version(package: str) -> tuple[int, ...] | None:
    try:
        text = metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def qlora_fsdp_problem(config: RunConfig) -> str | None:
    """Why FSDP cannot shard this QLoRA base here; None when it can."""
    if config.method.bits == 8:
        return (
            "8-bit (LLM.int8) weights keep their scales beside the weights, which FSDP "
            "cannot flatten; only 4-bit bases store as a shardable dtype"
        )
    for package, minimum in QLORA_FSDP_MINIMUM.items():
        found = _version(package)
        if found is None or found < minimum:
            have = "not installed" if found is None else ".".join(map(str, found))
            return (
                f"{package} {'.'.join(map(str, minimum))} or newer is needed to shard a "
                f"4-bit base ({have} here)"
            )
    return None


@dataclass(frozen=True)
class GpuPlan:
    """How many GPUs (and machines) a run uses, with which strategy, and why."""

    num_processes: int
    strategy: str
    per_gpu: Estimate
    verdict: Verdict
    reason: str
    num_machines: int = 1
    machines_needed: int | None = None
    """When it does not fit on the machines given: how many would hold it (None: no
    number of machines up to the largest the run configuration allows)."""

    def overrides(self) -> list[str]:
        return [
            f"distributed.num_processes={self.num_processes}",
            f"distributed.strategy={self.strategy}",
            f"distributed.num_machines={self.num_machines}",
        ]


MAX_MACHINES = 64  # as far as the plan looks (distributed.num_machines' range)


def with_processes(
    config: RunConfig, processes: int, strategy: str, machines: int = 1
) -> RunConfig:
    return config.with_sections(
        distributed={
            "num_processes": processes,
            "strategy": strategy,
            "num_machines": machines,
        },
    )


def plan_gpus(facts: ModelFacts, config: RunConfig, target: Target) -> GpuPlan:
    """The fewest GPUs, then machines, this run fits on with 10 % headroom, and why.

    One GPU first (DDP replicas need as much memory per GPU as one GPU alone, so
    adding GPUs only adds speed); then FSDP over 2, 3, ... GPUs up to the count here;
    then FSDP over every GPU of 2, 3, ... machines up to ``target.machines``.
    """
    single = estimate(facts, with_processes(config, 1, "ddp"))
    fits_one = verdict(single.device_total_gib, target)
    one_box = target.count <= 1 and target.machines <= 1
    if target.cpu or one_box or fits_one == "fits":
        reason = _one_gpu_reason(config, single, target, fits_one)
        return GpuPlan(1, "ddp", single, fits_one, reason)
    gpus = target.count
    one_machine = estimate(facts, with_processes(config, gpus, "fsdp")) if gpus > 1 else single
    # More GPUs of this machine first, then whole machines.
    spreads = [(p, 1) for p in range(2, gpus + 1)] + [
        (gpus, m) for m in range(2, target.machines + 1)
    ]
    for processes, machines in spreads:
        sharded = estimate(facts, with_processes(config, processes, "fsdp", machines))
        fitted = verdict(sharded.device_total_gib, target)
        if fitted != "fits":
            continue
        if machines == 1:
            reason = (
                f"one GPU would need {single.device_total_gib:.1f} GB, more than 90% of "
                f"{target.free_gib:.1f} GB free; FSDP shards the weights, gradients and "
                f"optimizer states over {processes} GPUs: "
                f"{sharded.device_total_gib:.1f} GB each"
            )
        else:
            reason = (
                f"one machine's {_gpus(gpus)} would need {one_machine.device_total_gib:.1f} "
                f"GB each, more than 90% of {target.free_gib:.1f} GB free; FSDP over "
                f"{machines} machines x {_gpus(gpus)} ({machines * gpus} in all): "
                f"{sharded.device_total_gib:.1f} GB each"
            )
        return GpuPlan(processes, "fsdp", sharded, fitted, reason, machines)
    machines = target.machines
    widest = estimate(
        facts, with_processes(config, gpus, "fsdp" if gpus * machines > 1 else "ddp", machines)
    )
    needed = machines_needed(facts, config, target)
    where = f"all {_gpus(gpus)}" if machines == 1 else f"{machines} machines x {_gpus(gpus)}"
    reason = (
        f"does not fit: {widest.device_total_gib:.1f} GB per GPU even sharded over "
        f"{where} with FSDP ({target.free_gib:.1f} GB free each)"
    )
    if needed is not None:
        reason += f"; it would fit on {needed} machines of {_gpus(gpus)}"
    else:
        reason += (
            f"; not on any number of machines up to {MAX_MACHINES}: what does not shard "
            "(activations, the gathered layers) is too big for one GPU"
        )
    return GpuPlan(
        gpus, "fsdp", widest, verdict(widest.device_total_gib, target), reason, machines, needed
    )


def machines_needed(facts: ModelFacts, config: RunConfig, target: Target) -> int | None:
    """The fewest machines of ``target.count`` GPUs each that hold the run sharded."""
    for machines in range(max(target.machines, 1) + 1, MAX_MACHINES + 1):
        if machines * target.count < 2:
            continue
        sharded = estimate(facts, with_processes(config, target.count, "fsdp", machines))
        if verdict(sharded.device_total_gib, target) == "fits":
            return machines
    return None


def _gpus(count: int) -> str:
    return "1 GPU" if count == 1 else f"{count} GPUs"


def _one_gpu_reason(config: RunConfig, single: Estimate, target: Target, fitted: Verdict) -> str:
    if target.cpu:
        return "no GPU here: one process on the CPU"
    if fitted != "fits":
        return f"does not fit in 90% of one GPU ({single.device_total_gib:.1f} GB needed)"
    if target.count <= 1:
        return f"fits on one GPU ({single.device_total_gib:.1f} GB)"
    speedup = throughput_factor(with_processes(config, target.count, "ddp"))
    return (
        f"fits on one GPU ({single.device_total_gib:.1f} GB); DDP on all {target.count} "
        f"would train about {speedup:.1f}x faster (distributed.num_processes={target.count})"
    )
