"""Which precision the base weights are loaded in on the CPU.

A CPU with bf16 instructions (AMX-BF16, AVX512-BF16) multiplies bf16 matrices far
faster than fp32 ones. For LoRA the base is frozen, so it can be loaded in bf16 while
the adapter's weights, gradients and optimizer states stay in fp32 (peft keeps adapter
weights in fp32 over a bf16 base), the way LLaMA-Factory trains on such CPUs. A full
fine-tune trains every weight and keeps fp32; QLoRA's base is 4-bit already.

``model.dtype: auto`` means this choice on the CPU; the plan (``recommend``) and the
launch checks (``preflight``) both ask :func:`cpu_base_dtype`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftwizard.core.config.choices import Adapter, ModelDtype
from ftwizard.core.hardware.gpus import Target


@dataclass(frozen=True)
class CpuPrecision:
    dtype: ModelDtype
    choice: str
    reason: str


def cpu_base_dtype(adapter: Adapter, target: Target, configured: ModelDtype) -> CpuPrecision:
    """The base weights' dtype for training ``adapter`` on this CPU, with its reason; a
    dtype the configuration names is kept (a plan fed its own result keeps its reason)."""
    chosen = _auto(adapter, target)
    if configured not in ("auto", chosen.dtype):
        return CpuPrecision(configured, configured, "as configured (model.dtype)")
    return chosen


def _auto(adapter: Adapter, target: Target) -> CpuPrecision:
    if adapter != "lora":
        why = (
            "a full fine-tune trains every weight: fp32 on the CPU"
            if adapter == "full"
            else "QLoRA's base is 4-bit; it computes in fp32 on the CPU"
        )
        return CpuPrecision("float32", "fp32", why)
    if not target.bf16:
        return CpuPrecision(
            "float32",
            "fp32",
            "this CPU has no bf16 instructions (AMX-BF16 / AVX512-BF16): fp32 is faster "
            "than emulated bf16",
        )
    return CpuPrecision(
        "bfloat16",
        "bf16 base, fp32 adapter",
        "this CPU computes bf16 in hardware: the frozen base in bf16, the adapter and its "
        "optimizer in fp32 (1.35-1.47x faster than fp32 on a 2-core AMX CPU, the final "
        "loss within 1%)",
    )
