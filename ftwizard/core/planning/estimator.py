"""How much GPU memory one training run needs, from first principles.

``estimate(facts, config)`` predicts the peak of ``torch.cuda.max_memory_allocated``
for ftwizard's trainer (transformers + peft + bitsandbytes + trl) and the card
total ``nvidia-smi`` would show, with a breakdown a person can act on.

The model follows what the libraries really allocate:

* **weights**: the base in its load dtype; with QLoRA the decoder's linear layers
  in 4 bit (0.5 byte/param plus one fp32 absmax per 64 weights, or an 8-bit absmax
  with double quantisation) or 8 bit, while ``prepare_model_for_kbit_training``
  upcasts embeddings, the LM head and norms to fp32;
* **adapter, gradients, optimizer**: LoRA weights ``r x (in + out)`` per targeted
  layer, fp32 as peft stores them; gradients in the parameters' dtype; optimizer
  states per optimizer (bitsandbytes' paged states live in CUDA unified memory,
  which ``max_memory_allocated`` does not count but ``nvidia-smi`` does);
* **activations**: bytes saved for the backward pass per token and decoder
  layer. The coefficients below were measured with ``bench/measure_activations.py``
  (a live-storage counter around real transformers + peft training steps) on two
  model shapes, then written in terms of the hidden size ``h``, the MLP width ``i``
  and the key/value width;
* **logits and loss**: the model's own loss holds the ``tokens x vocab`` logits:
  12 bytes per token per vocabulary entry at the peak (fp32 log-softmax saved plus
  the backward's two fp32 buffers), 16 on an upcast QLoRA head. This is the largest
  term for 128k-256k vocabularies. trl's fused, tiled LM head (``loss_impl=
  "chunked"``) never holds them; trl 1.x's SFT, DPO and KTO trainers always use
  it, so it is the default for DPO and KTO (measured on an H100: the stock
  loss's term over-predicted a 135M LoRA run fivefold, see the README). ftwizard's SFT
  trainer uses the model's own loss while its logits stay small (``default_loss_impl``:
  on a CPU the fused head is slower, on a GPU it reads its metrics on the host every
  micro-batch), and Liger's fused cross-entropy (``"liger"``) with
  ``training.use_liger_kernel``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.models.facts import LinearModule, ModelFacts
from ftwizard.core.planning.generation import (
    generated_sequences,
    generation_bytes,
    other_models_bytes,
)
from ftwizard.core.planning.sharding import per_process

GIB = 1024**3
LossImpl = Literal["chunked", "full", "liger"]
Device = Literal["cuda", "cpu"]

# --- Activation coefficients: bytes per token per decoder layer (bf16 autocast) ---
# Frozen base (LoRA/QLoRA): fp32 copies in the two RMSNorms (8h), the attention's
# query and output (4h), SiLU input/output and the up projection (6i).
FROZEN_H, FROZEN_I = 12.0, 6.0
# Full fine-tune: also every linear layer's input and the norms' outputs.
FULL_H, FULL_I = 20.0, 8.0
# Each LoRA-targeted layer keeps a bf16 copy of its input for lora_A.
LORA_INPUT_COPY = 2.25
# Dropout keeps a mask per input element: one byte on CUDA, a float on the CPU.
DROPOUT_MASK = {"cuda": 1.0, "cpu": 4.0}
# On an upcast QLoRA base the 4-bit layers return fp32: the MLP's intermediates double.
QLORA_UPCAST_I = 6.0
# Eager attention keeps fp32 softmax probabilities and their bf16 copy.
EAGER_PER_HEAD_KEY = 6.0
# Gradient checkpointing keeps each layer's bf16 input.
CHECKPOINT_PER_H = 2.0

# --- Logits (per token) ---
FULL_LOGITS_SAVED = 4.0  # fp32 log-softmax output kept for backward
FULL_LOGITS_BACKWARD = 8.0  # fp32 gradient in and out during the loss backward
FUSED_TOKEN_TILE, FUSED_VOCAB_TILE = 4096, 32768  # trl's chunked log-prob tiles
# Bytes per tile element: the bf16 matmul buffer on CUDA (Triton folds the rest in
# registers); the CPU fallback materialises fp32 temporaries of the tile.
FUSED_TILE_BYTES = {"cuda": 2.0, "cpu": 31.0}
# On a CPU the fused head folds its tiles in torch ops and scores every position
# (only Triton devices skip the masked ones): a training step of the issue-15 job
# (SmolLM2-135M LoRA, 4 x 256 tokens) took 1.4x as long as with the model's own
# loss. Its full logits cost memory, so that loss is used only while they stay
# under this many bytes at their peak.
CPU_FULL_LOGITS_LIMIT = 4 * 1024**3
# On CUDA trl's fused head reads its entropy and accuracy on the host every micro-batch,
# a wait for every kernel queued: the model's own loss, while its logits stay small.
GPU_FULL_LOGITS_LIMIT = 2 * 1024**3
# Liger's fused linear cross-entropy (liger-kernel 0.8.5, read from its
# fused_linear_cross_entropy_forward, not measured): the loss and the hidden states'
# gradient are computed in the forward, a chunk of about tokens x hidden logits at a
# time (its rows rounded up to a power of two: up to twice that, in bf16).
LIGER_CHUNK_BYTES = 4.0

# --- Quantised weights (bytes per parameter) ---
NF4_BYTES = 0.5 + 4 / 64  # 4-bit values + an fp32 absmax per 64-weight block
NF4_DQ_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # absmax quantised to 8 bit, fp32 per 256 blocks
INT8_BYTES = 1.0

# --- What nvidia-smi adds on top of torch's allocations ---
CUDA_CONTEXT_GIB = 0.5  # CUDA context, cuBLAS/cuDNN handles (not in max_memory_allocated)
ALLOCATOR_SLACK = 0.07  # caching-allocator fragmentation: reserved over allocated

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
PAGED = {"paged_adamw_8bit", "paged_adamw_32bit"}
# Optimizer state bytes per trainable parameter, per unit of the parameter's own size
# (None: a fixed number of bytes, independent of the parameter dtype).
OPTIMIZER_STATE: dict[str, tuple[float | None, float]] = {
    # name: (multiple of the param dtype size, fixed bytes per param)
    "adamw_torch": (2.0, 0.0),
    "adamw_torch_fused": (2.0, 0.0),
    "adamw_8bit": (None, 2.0 + 8 / 256),
    "adamw_bnb_8bit": (None, 2.0 + 8 / 256),
    "paged_adamw_8bit": (None, 2.0 + 8 / 256),
    "paged_adamw_32bit": (None, 8.0),
    "adafactor": (None, 0.0),  # factored second moments: rows + columns, added per matrix
    "sgd": (None, 0.0),
}
# torch's foreach AdamW builds one temporary the size of the states' square roots.
FOREACH_TEMP = {"adamw_torch": 1.0}


@dataclass(frozen=True)
class Estimate:
    """Predicted memory of one training process on one GPU, in GiB."""

    params: int
    trainable_params: int
    tokens_per_micro_batch: int
    breakdown_gib: dict[str, float]
    peak_allocated_gib: float
    """Predicted ``torch.cuda.max_memory_allocated``."""
    device_total_gib: float
    """What ``nvidia-smi`` would show for the process at its peak."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["units"] = "GiB (2**30 bytes)"
        return data


def targeted_modules(facts: ModelFacts, target: str | list[str]) -> list[LinearModule]:
    """The decoder linear layers LoRA wraps; a UserError names the real ones otherwise."""
    if target == "all-linear":
        return list(facts.linear_modules)
    by_name = {m.name: m for m in facts.linear_modules}
    unknown = [name for name in target if name not in by_name]
    if unknown:
        raise UserError(
            f"lora.target_modules: {', '.join(unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} not a linear layer of {facts.name}.",
            hint=f"Its decoder layers have: {', '.join(by_name)} (or use all-linear).",
        )
    return [by_name[name] for name in target]


def load_dtype(config: RunConfig) -> str:
    """The dtype the base weights are loaded in ("auto" follows bf16/fp16)."""
    if config.model.dtype != "auto":
        return config.model.dtype
    if config.training.bf16:
        return "bfloat16"
    if config.training.fp16:
        return "float16"
    return "float32"


def sequence_length(config: RunConfig) -> int:
    """Tokens of one training sequence: ``max_length``; for online RL the prompt
    (``max_length``) and the completion it writes (``rl.max_completion_length``)."""
    if config.method.objective in ONLINE_RL:
        return config.training.max_length + config.rl.max_completion_length
    return config.training.max_length


def compute_dtype_name(config: RunConfig) -> str:
    """The dtype the forward pass computes in: bf16/fp16 under autocast, else the load's."""
    if config.training.bf16:
        return "bfloat16"
    if config.training.fp16:
        return "float16"
    return load_dtype(config)


def _tokens(config: RunConfig) -> tuple[int, int]:
    """(sequences, tokens) the backward pass sees per micro-batch."""
    sequences = config.training.per_device_train_batch_size
    if config.method.objective in ("dpo", "orpo"):
        sequences *= 2  # chosen and rejected run in one concatenated batch
    return sequences, sequences * sequence_length(config)


def _layer_activation_bytes(
    facts: ModelFacts,
    config: RunConfig,
    targets: list[LinearModule],
    sequences: int,
    device: Device,
) -> float:
    """Bytes saved per token in one decoder layer, without checkpointing."""
    h, i = facts.hidden_size, facts.intermediate_size
    # With a padding mask, transformers' sdpa path repeats the key/value heads.
    padded = sequences > 1 and not config.training.packing
    kv_heads = facts.num_attention_heads if padded else facts.num_key_value_heads
    kv_width = kv_heads * facts.head_dim
    if config.method.adapter == "full":
        per_token = FULL_H * h + FULL_I * i + 4 * kv_width
    else:
        per_token = FROZEN_H * h + FROZEN_I * i + 4 * kv_width
        inputs = sum(m.in_features for m in targets)
        per_token += LORA_INPUT_COPY * inputs
        if config.lora.lora_dropout > 0:
            per_token += DROPOUT_MASK[device] * inputs
        if config.method.adapter == "qlora":
            per_token += QLORA_UPCAST_I * i
    extra_norms = max(0, facts.norm_params_per_layer // h - 2)  # Gemma's pre/post norms
    per_token += 4 * h * extra_norms
    if config.training.attn_implementation == "eager":
        per_token += EAGER_PER_HEAD_KEY * facts.num_attention_heads * sequence_length(config)
    if load_dtype(config) == "float32" and not (config.training.bf16 or config.training.fp16):
        per_token *= 2  # no autocast: every saved tensor is fp32
    return per_token


def _logits_bytes(
    facts: ModelFacts, config: RunConfig, tokens: int, loss_impl: LossImpl, device: Device
) -> tuple[float, float]:
    """(saved for backward, extra at the loss backward's peak)."""
    h, vocab = facts.hidden_size, facts.vocab_size
    if config.method.objective in ONLINE_RL:
        return _online_rl_logits(config, vocab)
    if loss_impl == "liger":
        # the hidden states, their gradient and the fp32 per-token loss are kept
        saved = float(tokens * h * 4 + tokens * 4)
        if config.method.adapter == "full":
            # the head's gradient, computed in the forward, in the weights' dtype
            saved += vocab * h * DTYPE_BYTES[load_dtype(config)]
        return saved, LIGER_CHUNK_BYTES * tokens * h
    if loss_impl == "full":
        saved = FULL_LOGITS_SAVED * (2 if config.method.adapter == "qlora" else 1)
        return saved * tokens * vocab, FULL_LOGITS_BACKWARD * tokens * vocab
    saved = tokens * h * 2 + tokens * 16  # the hidden states and a few fp32 per-token sums
    tile = FUSED_TILE_BYTES[device] * min(tokens, FUSED_TOKEN_TILE) * min(vocab, FUSED_VOCAB_TILE)
    backward = tile + tokens * h * 6  # fp32 hidden-state gradient and its cast
    if config.method.adapter == "full":
        backward += vocab * h * 6  # fp32 LM-head gradient accumulator and its cast
    return saved, backward


def _online_rl_logits(config: RunConfig, vocab: int) -> tuple[float, float]:
    """trl's GRPO/RLOO take log-probabilities of the completion's tokens only, from their
    full logits (no fused head). Kept for the backward: the logits, their copy divided by
    the temperature and the log-softmax, in the compute dtype (read from trl 1.16's
    ``selective_log_softmax``, not measured). Half-precision logits are soft-maxed one
    sequence at a time, so the backward's fp32 buffers hold one sequence; fp32 logits
    go through ``logsumexp`` over the whole micro-batch."""
    completion = config.rl.max_completion_length
    tokens = config.training.per_device_train_batch_size * completion
    compute = DTYPE_BYTES[compute_dtype_name(config)]
    saved = 3 * compute * tokens * vocab
    backward_tokens = completion if compute == 2 else tokens
    return float(saved), FULL_LOGITS_BACKWARD * backward_tokens * vocab


def default_loss_impl(config: RunConfig, vocab_size: int, device: Device = "cuda") -> LossImpl:
    """The loss ftwizard's trainer really runs for this objective on this device.

    trl 1.x's SFT, DPO and KTO trainers patch the model with their fused, tiled LM
    head (``add_fused_lm_head``), so the logits are never held whole; ORPO (in
    ``trl.experimental``) still computes them in full. SFT and continued pre-training
    on CUDA with ``training.use_liger_kernel`` take Liger's fused loss; otherwise they
    use the model's own loss while its logits fit ``CPU_FULL_LOGITS_LIMIT`` (CPU) or
    ``GPU_FULL_LOGITS_LIMIT``. The trainer asks this function too.
    """
    objective = config.method.objective
    if objective == "orpo":
        return "full"
    if objective not in ("sft", "cpt"):
        return "chunked"
    if device == "cuda" and config.training.use_liger_kernel:
        return "liger"
    _, tokens = _tokens(config)
    peak = (FULL_LOGITS_SAVED + FULL_LOGITS_BACKWARD) * tokens * vocab_size
    limit = CPU_FULL_LOGITS_LIMIT if device == "cpu" else GPU_FULL_LOGITS_LIMIT
    return "full" if peak <= limit else "chunked"


def _weights_bytes(facts: ModelFacts, config: RunConfig, dtype_bytes: int) -> float:
    """The base model's weights: 4-bit or 8-bit linear layers under QLoRA (the rest
    upcast to fp32 by kbit preparation), else every parameter in the load dtype."""
    method = config.method
    if method.adapter != "qlora":
        return float(facts.params_total * dtype_bytes)
    if method.bits == 4:
        per_param = NF4_DQ_BYTES if method.bnb_4bit_use_double_quant else NF4_BYTES
    else:
        per_param = INT8_BYTES
    linear, other = facts.params_linear, facts.params_total - facts.params_linear
    return linear * per_param + other * 4


def _trainable(
    facts: ModelFacts, config: RunConfig, dtype_bytes: int
) -> tuple[int, int, list[LinearModule]]:
    """The trainable parameters, their bytes each, and the linear layers an adapter
    targets (none for a full fine-tune)."""
    if config.method.adapter == "full":
        return facts.params_total, dtype_bytes, []
    targets = targeted_modules(facts, config.lora.target_modules)
    r = config.lora.r
    trainable = facts.num_layers * sum(r * (m.in_features + m.out_features) for m in targets)
    if config.lora.use_dora:
        trainable += facts.num_layers * sum(m.out_features for m in targets)
    return trainable, 4, targets


def _optimizer_bytes(
    facts: ModelFacts, config: RunConfig, trainable: int, trainable_bytes: int, notes: list[str]
) -> tuple[float, float, float]:
    """The optimizer's states, the part of them paged to unified memory, and the
    temporaries of its step."""
    optim, adapter = config.training.optim, config.method.adapter
    multiple, fixed = OPTIMIZER_STATE[optim]
    state_per_param = fixed if multiple is None else multiple * trainable_bytes
    optimizer = float(trainable * state_per_param)
    if optim == "adafactor" and adapter == "full":
        widths = sum(m.in_features + m.out_features for m in facts.linear_modules)
        optimizer = 4.0 * facts.num_layers * widths
    paged = optimizer if optim in PAGED else 0.0
    if paged:
        notes.append(
            "paged optimizer states live in CUDA unified memory: counted by nvidia-smi only"
        )
    step_temp = FOREACH_TEMP.get(optim, 0.0) * trainable * trainable_bytes
    return optimizer, paged, step_temp


def _micro_batch_bytes(
    facts: ModelFacts,
    config: RunConfig,
    targets: list[LinearModule],
    loss_impl: LossImpl,
    device: Device,
) -> tuple[float, float, float, int]:
    """One micro-batch's activations, its logits, their peak together in the forward and
    backward, and its tokens."""
    training, method = config.training, config.method
    sequences, tokens = _tokens(config)
    per_layer = _layer_activation_bytes(facts, config, targets, sequences, device)
    saved_logits, logits_backward = _logits_bytes(facts, config, tokens, loss_impl, device)
    if training.gradient_checkpointing:
        no_autocast = load_dtype(config) == "float32" and not (training.bf16 or training.fp16)
        fp32_stream = no_autocast or method.adapter == "qlora"  # the residual stream is fp32
        width = CHECKPOINT_PER_H * (2 if fp32_stream else 1) * facts.hidden_size
        checkpoints = facts.num_layers * width * tokens
        # The backward recomputes one layer at a time: its activations and their gradients.
        recompute = 2 * per_layer * tokens
    else:
        checkpoints, recompute = facts.num_layers * per_layer * tokens, 0.0
    activations = checkpoints + recompute
    if training.attn_implementation == "eager":
        activations += 2 * sequences * sequence_length(config) ** 2  # the 4-D additive mask
    logits = saved_logits + logits_backward
    # The loss backward and a checkpointed layer's recompute never overlap.
    forward_backward = activations + logits - min(recompute, logits_backward)
    return activations, logits, forward_backward, tokens


def _generation_words(config: RunConfig, generation: float, logits: float, peak: float) -> str:
    rl, t = config.rl, config.training
    sequences = generated_sequences(config)
    prompts = sequences // rl.num_generations
    return (
        f"online RL generates {sequences} completions at once ({prompts} "
        f"prompt{'s' if prompts != 1 else ''} x {rl.num_generations}), each up to "
        f"{t.max_length} prompt + "
        f"{rl.max_completion_length} completion tokens: {generation / GIB:.2f} GB, "
        f"{generation / peak:.0%} of the peak; the step's completion logits take "
        f"{logits / GIB:.2f} GB. Fewer generations or shorter completions shrink both"
    )


def estimate(
    facts: ModelFacts,
    config: RunConfig,
    loss_impl: LossImpl | None = None,
    device: Device = "cuda",
) -> Estimate:
    """Predict the peak memory of ``config`` training ``facts`` on one GPU.

    ``device="cpu"`` predicts the process's tensor memory for a CPU run instead
    (the demo), which differs in dropout masks, the loss kernel and overheads.
    """
    loss_impl = loss_impl or default_loss_impl(config, facts.vocab_size, device)
    method, training = config.method, config.training
    dtype_bytes = DTYPE_BYTES[load_dtype(config)]
    notes: list[str] = []

    weights = _weights_bytes(facts, config, dtype_bytes)
    trainable, trainable_bytes, targets = _trainable(facts, config, dtype_bytes)
    adapter = 0.0 if method.adapter == "full" else float(trainable * trainable_bytes)
    gradients = float(trainable * trainable_bytes)
    optimizer, paged, step_temp = _optimizer_bytes(facts, config, trainable, trainable_bytes, notes)
    root = facts.params_embedding * (4 if method.adapter == "qlora" else dtype_bytes)
    weights, adapter, gradients, optimizer, paged, step_temp = per_process(
        facts, config, root, weights, adapter, gradients, optimizer, paged, step_temp, notes=notes
    )
    activations, logits, forward_backward, tokens = _micro_batch_bytes(
        facts, config, targets, loss_impl, device
    )

    reference, reward_model = other_models_bytes(facts, config, dtype_bytes, notes)
    resident = weights + adapter + (optimizer - paged) + reference + reward_model
    if method.adapter == "full" and training.gradient_accumulation_steps == 1:
        # Gradients fill in as activations drain; the optimizer step adds its temporaries.
        step = max(forward_backward, gradients + step_temp)
    elif method.adapter == "full":
        # Accumulating: the first micro-batch's gradients stay through the next ones.
        step = gradients + max(forward_backward, step_temp)
    else:
        step = gradients + step_temp + forward_backward
    # Online RL generates between optimizer steps, when the gradients are freed.
    generation = generation_bytes(facts, config, DTYPE_BYTES[compute_dtype_name(config)])
    peak = resident + max(step, generation)
    if generation:
        notes.append(_generation_words(config, generation, logits, peak))
    if config.model.from_run and method.adapter != "full":
        # The earlier run's adapter is folded into the base as it loads: no training memory.
        notes.append(
            "starts from another run's result: an adapter of it is folded into the base "
            "once, as it loads (no memory while training)"
            + (
                f"; for QLoRA a folded model is written to the run's start/ first "
                f"({facts.params_total * 2 / GIB:.1f} GB in bf16) and quantised from there"
                if method.adapter == "qlora"
                else ""
            )
        )

    peak_gib = peak / GIB
    overhead = peak_gib * ALLOCATOR_SLACK + CUDA_CONTEXT_GIB if device == "cuda" else 0.0
    breakdown = {
        "weights": weights / GIB,
        "adapter": adapter / GIB,
        "gradients": gradients / GIB,
        "optimizer": optimizer / GIB,
        "activations": activations / GIB,
        "logits": logits / GIB,
        **({"generation": generation / GIB} if generation else {}),
        **({"reference_model": reference / GIB} if reference else {}),
        **({"reward_model": reward_model / GIB} if reward_model else {}),
        "cuda_overhead": overhead,
    }
    return Estimate(
        params=facts.params_total,
        trainable_params=int(trainable),
        tokens_per_micro_batch=tokens,
        breakdown_gib={k: round(v, 3) for k, v in breakdown.items()},
        peak_allocated_gib=round(peak_gib, 3),
        device_total_gib=round(peak_gib + overhead + paged / GIB, 3),
        notes=notes + list(facts.notes),
    )
