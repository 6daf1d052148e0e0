"""The k-quants (Q4_K_M and kin) through llama.cpp's ``llama-quantize``, when it is installed.

ftwizard writes f16, bf16 and q8_0 in pure Python. The k-quants need llama.cpp's own
code; building it is the export step people's reports most often fail on, so ftwizard
never builds it: it uses ``llama-quantize`` when it is on PATH and otherwise says the two
ways that need no build (Ollama's own quantiser, or installing a llama.cpp release).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from ftwizard.core.errors import UserError

QUANTIZER = "llama-quantize"
# --outtype -> llama-quantize's type name
K_QUANTS = {"q4_k_m": "Q4_K_M", "q5_k_m": "Q5_K_M", "q6_k": "Q6_K"}
# llama-quantize prints "[  12/ 272]  blk.1.attn_q.weight - ..." per tensor.
_PROGRESS = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")


def find_quantizer(outtype: str, run_name: str) -> str:
    """The path of llama-quantize, or a refusal that says how to get the file without it."""
    found = shutil.which(QUANTIZER)
    if found is None:
        kind = K_QUANTS[outtype]
        install = f"install a llama.cpp release (it has {QUANTIZER}) and run this again"
        raise UserError(
            f"{kind} needs llama.cpp's {QUANTIZER}, which is not on PATH (ftwizard writes "
            "f16, bf16 and q8_0 itself).",
            hint=f"Let Ollama quantise the f16 file: ftwizard export {run_name} --ollama NAME, "
            f"then ollama create NAME -q q4_K_M -f Modelfile. Or {install}."
            if outtype == "q4_k_m"
            else install[0].upper() + install[1:] + ".",
        )
    return found


def quantize(
    quantizer: str,
    source: Path,
    target: Path,
    outtype: str,
    on_progress: Callable[[int, int], None],
) -> None:
    """Quantise ``source`` (an f16 GGUF) into ``target``, reporting tensors done / total."""
    work = target.with_name(target.name + ".partial")
    command = [quantizer, str(source), str(work), K_QUANTS[outtype]]
    tail: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail = [*tail[-9:], line.rstrip()]
            match = _PROGRESS.match(line.strip())
            if match:
                on_progress(int(match[1]), int(match[2]))
    if process.returncode != 0 or not work.exists():
        work.unlink(missing_ok=True)
        raise UserError(
            f"{QUANTIZER} failed (exit code {process.returncode}) on {source}.",
            hint="Its last lines:\n" + "\n".join(tail),
        )
    work.replace(target)
