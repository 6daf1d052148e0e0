"""How long a training step takes: a throughput model measured on real runs, not assumed.

One micro-batch takes the longer of two times, blended (a soft maximum, since the host
queues kernels while the device runs earlier ones):

- **compute**: the step's matmul FLOPs (decoder weights, the LM head, attention at the
  micro-batch's padded length) at a share of the device's peak, plus the memory-bound
  work (norms, activations, LoRA's small products; AdamW over every weight for a full
  fine-tune) at the device's memory bandwidth;
- **a floor**: kernel launches and Python on the host, per decoder layer, that small
  models never get below. On an H200, SmolLM2-135M LoRA took 0.29-0.30 s a micro-batch
  from 512 to 8,192 tokens; the full fine-tune of the same model 0.12 s; QLoRA 0.62 s.

The constants live in ``GPU_CONSTANTS`` and ``CPU_CONSTANTS`` with where they came from;
``bench/throughput_fit.py`` fits the GPU ones again from the measured runs in
``bench/data/`` and reports every run's prediction beside its measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.hardware.gpus import Target
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.decoding import generation_seconds, weight_bytes


@dataclass(frozen=True)
class Constants:
    matmul_share: float
    """Share of the device's dense peak a large matmul of training reaches."""
    matmul_half_width: float
    """Hidden size at which matmuls reach half of ``matmul_share`` (small models'
    matrices are too thin to fill a GPU)."""
    bytes_per_token_layer_hidden: float
    """Memory-bound traffic of one pass, per token, decoder layer and hidden unit."""
    lora_bytes_per_token_layer_hidden: float
    """LoRA's extra memory-bound traffic (dropout, the two small products, the sum)."""
    floor_ms_per_layer: dict[str, float]
    """Host time per decoder layer per micro-batch, by adapter (full, lora, qlora)."""
    checkpointing_floor_factor: float
    """Gradient checkpointing's recomputed forward adds launches to the floor."""
    blend: float
    """Soft-maximum exponent of compute and floor (large: a hard maximum)."""


# Fitted by bench/throughput_fit.py on 33 GPU runs: 26 on an H200 (bench/data/
# gpu_speed_h200*.json, 2026-12-04) and 7 on an H100 (bench/data/gpu_check_h100.json,
# 2026-11-25): median error 3.5%, worst 27%; leave-one-out median 4.9%, worst 43%.
# The host floor belongs to those machines' CPUs.
GPU_CONSTANTS = Constants(
    matmul_share=0.77,
    matmul_half_width=1930.0,
    bytes_per_token_layer_hidden=22.7,
    lora_bytes_per_token_layer_hidden=465.0,
    floor_ms_per_layer={"full": 4.8, "lora": 9.5, "qlora": 15.1},
    checkpointing_floor_factor=1.62,
    blend=3.67,
)


@dataclass(frozen=True)
class Device:
    """What the model needs to know about where the run trains."""

    peak_flops: float  # dense bf16 (or fp32 on a CPU) FLOP/s
    bandwidth: float  # memory bytes/s
    constants: Constants = GPU_CONSTANTS


@dataclass(frozen=True)
class Lengths:
    """Tokens per example as the micro-batches will see them."""

    padded: float  # the micro-batch's length: its longest example, or max_length packed
    real: float  # the mean example's tokens (what tokens/s counts)


@dataclass(frozen=True)
class StepTime:
    seconds_per_step: float  # one optimizer step: every accumulated micro-batch
    compute_s: float  # per micro-batch
    floor_s: float  # per micro-batch
    tokens_per_step: float  # real (unpadded) tokens

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_per_step / self.seconds_per_step


def micro_batch_lengths(
    batch: int, max_length: int, mean: float | None, p95: float | None, packing: bool
) -> Lengths:
    """The padded and the real length of a micro-batch of ``batch`` examples.

    Examples are padded to the longest in their micro-batch (then cut at max_length).
    Lengths are taken as log-normal with the dataset's mean and 95th percentile; the
    expected longest of ``batch`` is integrated over that distribution. Without
    statistics every example is taken as full: the slow side.
    """
    if mean is None or packing:  # full, or packed full
        return Lengths(max_length, max_length)
    real = min(mean, max_length)
    if p95 is None or p95 <= mean or batch == 1:
        return Lengths(real, real)
    # log-normal: mean = exp(mu + s^2/2), p95 = exp(mu + 1.645 s)
    ratio = math.log(p95 / mean)  # = 1.645 s - s^2 / 2
    sigma = 1.645 - math.sqrt(max(1.645**2 - 2 * ratio, 0.0))
    normal = NormalDist(math.log(mean) - sigma**2 / 2, sigma)
    # E[min(max of batch, cap)] = integral over u of min(Q(u), cap) * batch * u^(batch-1)
    points = 400
    total = 0.0
    for i in range(points):
        u = (i + 0.5) / points
        total += min(math.exp(normal.inv_cdf(u)), max_length) * batch * u ** (batch - 1)
    longest = total / points
    return Lengths(min(max_length, max(longest, real)), real)


def _sequences_per_example(config: RunConfig) -> tuple[float, float]:
    """(sequences trained on, extra forward-only sequences) per example, by objective."""
    objective = config.method.objective
    if objective in ("dpo",):
        # chosen and rejected, plus the reference model's forward of both
        return 2.0, 2.0
    if objective == "orpo":
        return 2.0, 0.0
    if objective == "kto":
        return 1.0, 2.0  # the reference forward of the example and of a mismatched one
    if objective in ONLINE_RL and config.method.beta > 0:
        return 1.0, 1.0  # the reference model's log-probabilities of each completion
    return 1.0, 0.0


def micro_batch_time(
    model: ModelFacts, config: RunConfig, lengths: Lengths, device: Device
) -> tuple[float, float]:
    """(compute, floor) seconds of one micro-batch."""
    k = device.constants
    t = config.training
    adapter = config.method.adapter
    trained, forward_only = _sequences_per_example(config)
    sequences = t.per_device_train_batch_size * trained
    tokens = sequences * lengths.padded
    h, layers = model.hidden_size, model.num_layers
    linear = model.params_linear
    head = model.vocab_size * h
    # Causal attention's forward FLOPs per token, all layers: QK^T and AV over the
    # unmasked half (flash / SDPA skip the rest).
    attention = layers * 2 * lengths.padded * model.num_attention_heads * model.head_dim
    forward = (2 * (linear + head) + attention) * tokens
    # Backward: gradients of the inputs always, of the weights only when trained.
    backward_linear = (2 if adapter == "full" else 1) * 2 * (linear + head) * tokens
    backward = backward_linear + 2 * attention * tokens
    recompute = (2 * linear + attention) * tokens if t.gradient_checkpointing else 0.0
    reference = forward_only * t.per_device_train_batch_size * lengths.padded
    reference_flops = (2 * (linear + head) + attention) * reference
    flops = forward + backward + recompute + reference_flops
    share = k.matmul_share * h / (h + k.matmul_half_width)
    passes = 3 + (1 if t.gradient_checkpointing else 0)
    per_unit = k.bytes_per_token_layer_hidden
    if adapter != "full":
        per_unit += k.lora_bytes_per_token_layer_hidden
    traffic = (tokens * passes + reference) * layers * h * per_unit
    if adapter == "full":  # AdamW reads and writes weights, gradients and two moments
        traffic += 48 * model.params_total / t.gradient_accumulation_steps
    compute = flops / (device.peak_flops * share) + traffic / device.bandwidth
    floor_layers = layers * (1 + (1 if forward_only else 0))
    floor = floor_layers * k.floor_ms_per_layer[adapter] / 1000
    if t.gradient_checkpointing:
        floor *= k.checkpointing_floor_factor
    return compute, floor


def step_time(
    model: ModelFacts, config: RunConfig, lengths: Lengths, device: Device, prompt: float = 0.0
) -> StepTime:
    """Seconds per optimizer step and tokens per second for ``config`` on ``device``;
    online RL adds writing its completions (``prompt``: the prompts' padded length)."""
    compute, floor = micro_batch_time(model, config, lengths, device)
    blend = device.constants.blend
    one = (compute**blend + floor**blend) ** (1 / blend)
    t = config.training
    trained, _ = _sequences_per_example(config)
    micro_batches = t.gradient_accumulation_steps
    tokens = micro_batches * t.per_device_train_batch_size * trained * lengths.real
    cpu = device.constants is CPU_CONSTANTS
    writing = generation_seconds(model, config, prompt, device.peak_flops, device.bandwidth, cpu)
    return StepTime(one * micro_batches + writing, compute, floor, tokens)


# --- Several GPUs -------------------------------------------------------------------

# Share of linear scaling kept per extra process: gradient all-reduce (DDP) or the
# all-gathers and reduce-scatters of every layer (FSDP) take the rest.
SCALING = {"ddp": 0.9, "fsdp": 0.8}


def throughput_factor(config: RunConfig) -> float:
    """How many single GPUs' worth of throughput the configured processes give (on one
    machine's links; ``network_time`` adds what crossing machines costs)."""
    dist = config.distributed
    return 1 + (dist.world_size - 1) * SCALING[dist.strategy]


# --- Several machines -----------------------------------------------------------
# An assumption, not a measurement (nothing here has trained across machines with GPUs),
# said in every plan that uses it: each GPU has its own 400 Gb/s InfiniBand or RoCE link
# (50 GB/s, as HGX H100 clusters are built), of which NCCL's ring collectives reach
# about 80 %. Over slower links (25-100 Gb/s Ethernet) FSDP across machines crawls.
NETWORK_BYTES_PER_S = 40e9
NETWORK_ASSUMPTION = "one 400 Gb/s InfiniBand/RoCE link per GPU, 40 GB/s reached"


@dataclass(frozen=True)
class NetworkTime:
    """What one optimizer step sends between machines, per GPU, and how long it takes."""

    bytes_per_step: float
    seconds_per_step: float
    compute_seconds_per_step: float

    @property
    def slowdown(self) -> float:
        """How much longer a step takes because the network, not compute, sets the pace
        (FSDP prefetches the next layer while this one computes, so they overlap)."""
        return max(1.0, self.seconds_per_step / max(self.compute_seconds_per_step, 1e-9))


def network_bytes_per_step(model: ModelFacts, config: RunConfig) -> float:
    """Bytes each GPU sends across machines in one optimizer step.

    A ring collective over W processes sends (W-1)/W of the tensor from each. FSDP
    gathers every weight in the forward and again in the backward (once with
    SHARD_GRAD_OP) and reduce-scatters the trained weights' gradients, every
    micro-batch; DDP all-reduces the gradients (2 passes) once per step. LoRA's
    gradients are a fraction of a percent of the weights and are left out.
    """
    from ftwizard.core.planning.estimator import DTYPE_BYTES, load_dtype

    dist, method = config.distributed, config.method
    world = dist.world_size
    if dist.num_machines < 2 or world < 2:
        return 0.0
    dtype = DTYPE_BYTES[load_dtype(config)]
    weights = weight_bytes(model, config)
    gradients = model.params_total * dtype if method.adapter == "full" else 0.0
    ring = (world - 1) / world
    if dist.strategy == "ddp":
        return 2 * gradients * ring
    gathers = 2 if dist.fsdp_sharding_strategy == "FULL_SHARD" else 1
    per_micro_batch = (gathers * weights + gradients) * ring
    return per_micro_batch * config.training.gradient_accumulation_steps


def network_time(model: ModelFacts, config: RunConfig, step: StepTime) -> NetworkTime:
    sent = network_bytes_per_step(model, config)
    return NetworkTime(sent, sent / NETWORK_BYTES_PER_S, step.seconds_per_step)


# --- The ETA of a planned run ---------------------------------------------------------

# The CPU: ``Target.tflops`` is this machine's measured fp32 matmul rate
# (core/hardware/cpu_speed.py); training reaches a share of it. Fitted on four SmolLM2-135M runs
# on the 2-core development VM (132.5 GFLOP/s; 2026-12-04): the demo preset (LoRA,
# micro-batch 4, 2.27 s a step), LoRA micro-batches 1 and 16 (0.62 s, 11.2 s) and a
# full fine-tune (3.47 s). QLoRA's floor was a guess (twice LoRA's, for bitsandbytes'
# dequantising), then checked on the demo preset (181.5 GFLOP/s measured; 2026-12-04):
# 2.14 s a step against 1.99 predicted, LoRA 1.91 against 1.73.
CPU_CONSTANTS = Constants(
    matmul_share=0.734,
    matmul_half_width=0.0,
    bytes_per_token_layer_hidden=0.0,
    lora_bytes_per_token_layer_hidden=0.0,
    floor_ms_per_layer={"full": 1.4, "lora": 8.8, "qlora": 17.6},
    checkpointing_floor_factor=1.3,  # not measured: CPU plans leave checkpointing off
    blend=1.0,  # the CPU runs the host's work and the matmuls one after the other: a sum
)
CPU_BANDWIDTH = 20e9  # bytes/s; unused while the CPU constants count no traffic


def device_for(target: Target) -> Device:
    if target.cpu:
        return Device(target.tflops * 1e12, CPU_BANDWIDTH, CPU_CONSTANTS)
    return Device(target.tflops * 1e12, target.bandwidth_tbs * 1e12, GPU_CONSTANTS)


@dataclass(frozen=True)
class TrainingTime:
    eta_seconds: float
    seconds_per_step: float
    tokens_per_second: float
    steps: int

    def to_dict(self) -> dict[str, float]:
        return {
            "eta_seconds": round(self.eta_seconds, 1),
            "seconds_per_step": round(self.seconds_per_step, 3),
            "tokens_per_second": round(self.tokens_per_second, 1),
            "steps": self.steps,
        }


TYPICAL_EXAMPLE_TOKENS = 512


def optimizer_steps(config: RunConfig, rows: int, processes: int = 1) -> int:
    """The optimizer steps a run of ``rows`` training examples takes."""
    t = config.training
    if t.max_steps > 0:
        return t.max_steps
    per_step = t.per_device_train_batch_size * t.gradient_accumulation_steps * processes
    return max(1, math.ceil(rows * t.num_train_epochs / per_step))


def predicted_step(
    model: ModelFacts, config: RunConfig, data: DatasetFacts, target: Target
) -> StepTime:
    """One optimizer step of ``config`` on one of ``target``'s devices, on this data."""
    t = config.training
    # A plan from a row count alone: examples of a typical chat's length (the old
    # planner's assumption too), as no spread is known, no padding.
    mean = data.tokens_mean or min(t.max_length, TYPICAL_EXAMPLE_TOKENS)
    lengths = micro_batch_lengths(
        t.per_device_train_batch_size, t.max_length, mean, data.tokens_p95, t.packing
    )
    if config.method.objective not in ONLINE_RL:
        return step_time(model, config, lengths, device_for(target))
    # Online RL trains on each prompt with its completion (taken as full length).
    completion = config.rl.max_completion_length
    trained = Lengths(lengths.padded + completion, lengths.real + completion)
    return step_time(model, config, trained, device_for(target), prompt=lengths.padded)


def training_time(
    model: ModelFacts, config: RunConfig, data: DatasetFacts, target: Target
) -> TrainingTime:
    """How long the planned run takes on ``target``: steps times the model's step time.

    Several GPUs each run their own micro-batches; what the gradient exchange costs
    comes off the speed-up (``throughput_factor``)."""
    step = predicted_step(model, config, data, target)
    processes = 1 if target.cpu else config.distributed.world_size
    rows = int(data.rows * (1 - config.evaluation.val_size))
    steps = optimizer_steps(config, rows, processes)
    speedup = 1.0 if target.cpu else throughput_factor(config)
    if not target.cpu:  # across machines the network may set the pace
        speedup /= network_time(model, config, step).slowdown
    seconds = steps * step.seconds_per_step * processes / speedup
    return TrainingTime(seconds, step.seconds_per_step, step.tokens_per_second * speedup, steps)


def machines_note(
    model: ModelFacts, config: RunConfig, data: DatasetFacts, target: Target
) -> str | None:
    """What training across machines costs in network time, in words (None on one)."""
    dist = config.distributed
    if target.cpu or dist.num_machines < 2:
        return None
    net = network_time(model, config, predicted_step(model, config, data, target))
    speed = throughput_factor(config) / net.slowdown
    pace = (
        f"the network sets the pace (steps {net.slowdown:.1f}x longer)"
        if net.slowdown > 1
        else "hidden behind compute"
    )
    return (
        f"across {dist.num_machines} machines each GPU sends about "
        f"{net.bytes_per_step / 1e9:,.0f} GB a step to the others: "
        f"{net.seconds_per_step:.1f} s against {net.compute_seconds_per_step:.1f} s of "
        f"compute, {pace}; about {speed:.1f}x one GPU's speed in all. Assumed: "
        f"{NETWORK_ASSUMPTION}; over 25-100 Gb/s Ethernet it is several times slower"
    )
