"""The RAM a CPU run's trainer process reaches at its peak: what the dashboard's "trainer
RAM peak" measures (the kernel's high-water mark of the process's RSS), not only the
tensors the GPU estimator counts.

The peak is the highest of three moments, each on top of the Python process with its
libraries and the tokenised data:

* **loading**: the base weights, with the loader's copy of them as it converts them;
* **a training step** at the longest micro-batch the data makes (a batch is padded to
  its longest example, so short data never reaches ``max_length``): the estimator's
  tensors (``estimate(..., device="cpu")``), and the heap the C allocator keeps of
  the step's freed temporaries;
* **an evaluation step**: no gradients, but ``per_device_eval_batch_size`` sequences'
  logits at once, in fp32 with their log-softmax beside them. It reuses the heap the
  training steps left (the RSS does not go down between them), so it sets the peak
  only where it needs more than a step.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.estimator import GIB, estimate

# The trainer's RSS once torch, transformers, peft, trl and datasets are imported,
# before anything is loaded: 0.51 GiB measured on this machine (2026-12-07, torch
# 2.13 CPU build, `python -c "import torch, transformers, peft, trl, datasets"`).
PROCESS_GIB = 0.51
# Loading holds part of the weights twice while it converts them (the checkpoint's
# tensors and the model's): 1.59 x the weights over the process and the data, measured
# as the high-water mark at train_begin (`bench/cpu_memory.py --calibrate`: the demo
# preset on 999 alpaca rows, 2026-12-07; not a goal case).
LOADING_COPIES = 1.6
# What the process holds beyond the step's live tensors at its peak, as a share of
# them: freed temporaries stay in glibc's arenas. +24 % in the same alpaca run.
HEAP_SLACK = 0.24
# An evaluation step's logits: fp32 logits and their fp32 log-softmax.
EVAL_LOGITS_BYTES = 8.0
# The tokenised rows (datasets' Arrow columns): input ids and the loss mask as int64,
# the attention mask as int8, and Arrow's offsets.
TOKENISED_BYTES_PER_TOKEN = 8 + 8 + 1 + 1


@dataclass(frozen=True)
class CpuPeak:
    """A CPU run's RAM at its peak, in GiB, and what sets it."""

    total_gib: float
    moment: str
    """"loading", "training" or "evaluation": which of them is the highest."""
    longest_tokens: int
    """The longest sequence the plan counts: the data's longest, up to max_length."""
    breakdown_gib: dict[str, float]
    tensors_gib: dict[str, float]
    """Each moment's tensors before the allocator's slack: what bench/cpu_memory.py
    measures the constants against."""


def longest_sequence(config: RunConfig, data: DatasetFacts) -> int:
    """The tokens of the longest sequence a micro-batch can hold: ``max_length``, or the
    data's longest example where the tokenizer counted it (packing fills every row)."""
    cap = config.training.max_length
    if data.tokens_max is None or config.training.packing:
        return cap
    return max(16, min(cap, data.tokens_max))


def cpu_peak(facts: ModelFacts, config: RunConfig, data: DatasetFacts) -> CpuPeak:
    """The trainer's peak RSS for ``config`` on a CPU, with what it is made of."""
    longest = longest_sequence(config, data)
    step = estimate(facts, config.with_sections(training={"max_length": longest}), device="cpu")
    parts = step.breakdown_gib
    resident = parts["weights"] + parts["adapter"] + parts["optimizer"]
    evaluates = bool(config.evaluation.val_size or config.evaluation.val_path)
    sequences = config.evaluation.per_device_eval_batch_size
    eval_logits = sequences * longest * facts.vocab_size * EVAL_LOGITS_BYTES / GIB
    tensors = {
        "loading": parts["weights"],
        "training": step.peak_allocated_gib,
        "evaluation": resident + eval_logits if evaluates else 0.0,
    }
    moments = {
        "loading": tensors["loading"] * LOADING_COPIES,
        "training": tensors["training"] * (1 + HEAP_SLACK),
        "evaluation": tensors["evaluation"] * (1 + HEAP_SLACK),
    }
    moment = max(moments, key=lambda name: moments[name])
    tokens = min(data.tokens_mean or longest, longest)
    breakdown = {
        "process": PROCESS_GIB,
        "tokenised data": data.rows * tokens * TOKENISED_BYTES_PER_TOKEN / GIB,
        moment: moments[moment],
    }
    return CpuPeak(
        total_gib=round(sum(breakdown.values()), 3),
        moment=moment,
        longest_tokens=longest,
        breakdown_gib={k: round(v, 3) for k, v in breakdown.items()},
        tensors_gib={k: round(v, 3) for k, v in tensors.items()},
    )
