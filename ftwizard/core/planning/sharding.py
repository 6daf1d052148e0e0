"""How a run's memory divides over its processes: what each GPU of a DDP or FSDP run
holds of the weights, adapter, gradients and optimizer states (the estimator's
per-GPU figures come from here)."""

from __future__ import annotations

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.models.facts import ModelFacts


def per_process(
    facts: ModelFacts,
    config: RunConfig,
    root: float,
    *sizes: float,
    notes: list[str],
) -> tuple[float, ...]:
    """Weights, adapter, gradients, optimizer, paged and step bytes on one of N GPUs.

    DDP keeps a full replica and a flat copy of every gradient in its reducer's
    buckets. FSDP keeps 1/N of the sharded parameters, gradients and optimizer
    states, plus what it gathers: the root unit (embeddings, head, final norm)
    for the whole step and two decoder layers at a time (one running, one prefetched).
    """
    weights, adapter, gradients, optimizer, paged, step_temp = sizes
    # Every process of every machine holds the same share: FSDP shards over them all.
    processes, strategy = config.distributed.world_size, config.distributed.strategy
    if processes < 2:
        return sizes
    if strategy == "ddp":
        notes.append(
            f"per GPU with DDP over {processes} processes: a full replica, plus gradient "
            "buckets for the all-reduce (counted with the gradients)"
        )
        return weights, adapter, 2 * gradients, optimizer, paged, step_temp
    layer = (weights - root) / max(facts.num_layers, 1)
    full = config.method.adapter == "full"
    root_grad = root * gradients / weights if full and weights else 0.0
    layer_grad = layer * gradients / weights if full and weights else 0.0
    notes.append(
        f"per GPU with FSDP over {processes} processes: 1/{processes} of the weights, "
        "gradients and optimizer states, plus the gathered embeddings/head and two layers"
    )
    return (
        (weights - root) / processes + root + 2 * layer,
        adapter / processes,
        (gradients - root_grad) / processes + root_grad + layer_grad,
        optimizer / processes,
        paged / processes,
        step_temp / processes,
    )
