"""Asking the trainer package for answers that need torch or transformers.

Token statistics, the chat-template preview and the conversion of a built-in
model load heavy libraries, so they run as ``python -m ftwizard.trainer.<module>``
in their own process and answer with one JSON line (see ``trainer/components/reply.py``).
The CLI wraps these calls in a spinner, the TUI in a worker thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, TypeAdapter

from ftwizard.core import lifetime
from ftwizard.core.data.token_stats import Preview, TokenStats
from ftwizard.core.data.validate import ReportSummary
from ftwizard.core.errors import UserError
from ftwizard.core.models.builtin import BUILTIN_MODELS
from ftwizard.core.models.source import resolve_model_facts


class TrainerProcessFailed(Exception):
    """A trainer-package process failed on good input (a job failure, exit code 1)."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def call_trainer_module(
    module: str, arguments: list[str], what: str, input_text: str | None = None
) -> object:
    """Run ``ftwizard.trainer.<module>`` with ``arguments`` (and ``input_text`` on its
    stdin); its reply, still to be read as its type, or a UserError."""
    command = [sys.executable, "-m", f"ftwizard.trainer.{module}", *arguments]
    result = lifetime.run(command, input_text)  # ended with the viewer that asked
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise UserError(f"{what} failed: {result.stderr.strip()[-600:]}") from None
    if isinstance(data, dict) and "error" in data:
        raise UserError(data["error"], hint=data.get("hint"))
    return data


PROGRESS_LINE = '{"progress":true'


def stream_trainer_module(
    module: str,
    arguments: list[str],
    what: str,
    input_text: str,
    on_progress: Callable[[str], None],
) -> object:
    """``call_trainer_module`` for a long answer: a line starting ``{"progress":true``
    goes to ``on_progress`` as it comes (the caller reads it as its type); the last
    other line is the reply."""
    command = [sys.executable, "-m", f"ftwizard.trainer.{module}", *arguments]
    with tempfile.TemporaryFile("w+") as log:
        process = lifetime.start(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(input_text)
            process.stdin.close()
            last = ""
            for line in process.stdout:
                if line.startswith(PROGRESS_LINE):
                    on_progress(line)
                elif line.strip():
                    last = line.strip()
            process.wait()
        finally:
            lifetime.forget(process)
        log.seek(0)
        problems = log.read()
    try:
        data = json.loads(last)
    except json.JSONDecodeError:
        raise UserError(f"{what} failed: {problems.strip()[-600:]}") from None
    if isinstance(data, dict) and "error" in data:
        raise UserError(data["error"], hint=data.get("hint"))
    return data


class Message(BaseModel):
    """What crosses into or out of a trainer-package process, as one JSON object."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenStatsRequest(Message):
    """What ``trainer/data_stats.py`` reads on its stdin."""

    path: str
    model: str
    max_length: int
    data_format: str = "auto"
    column_map: dict[str, str] = {}
    text_split: str = "auto"
    example: int = 0
    split: str = "train"
    name: str | None = None
    train_on: str = "assistant"
    context: int | None = None
    """The model's context length: the suggested max_length stays under it."""


class TokenStatsReply(Message):
    report: ReportSummary
    stats: TokenStats
    preview: Preview | None
    warnings: list[str]


def token_stats(request: TokenStatsRequest) -> TokenStatsReply:
    """Validation report, token statistics and the template preview of one example."""
    if request.context is None:
        context = resolve_model_facts(request.model).max_context
        request = request.model_copy(update={"context": context})
    reply = call_trainer_module("data_stats", [], "Tokenising", request.model_dump_json())
    return TokenStatsReply.model_validate(reply)


def prepare_builtin_model(name: str, force: bool = False) -> bool:
    """Convert a built-in model once (about 20 s on 2 cores); True if it was converted now."""
    model = BUILTIN_MODELS.get(name)
    if model is None:
        raise UserError(
            f"`{name}` is not a built-in model. Built-in: {', '.join(sorted(BUILTIN_MODELS))}."
        )
    if model.prepared and not force:
        return False
    model.gguf_path()  # a clear message now if the package is missing
    command = [sys.executable, "-m", "ftwizard.trainer.prepare_model", name]
    result = lifetime.run(command)
    if result.returncode != 0:
        raise TrainerProcessFailed(
            f"Converting {name} failed (exit code {result.returncode}).",
            result.stdout + result.stderr,
        )
    return True


class SampleRow(Message):
    prompt: str
    base: str
    fine_tuned: str


def sample_outputs(run_path: str, prompts: list[str], max_new_tokens: int = 64) -> list[SampleRow]:
    """Generate with the base and the fine-tuned model, greedily."""
    arguments = ["sample", run_path, "--max-new-tokens", str(max_new_tokens)]
    # Over a pipe: a command line is visible to every user of the machine (ps).
    rows = call_trainer_module("outputs", arguments, "Sampling", json.dumps(prompts))
    return TypeAdapter(list[SampleRow]).validate_python(rows)


def merge_outputs(run_path: str, output: str | None = None) -> str:
    """Merge the run's adapter into its base model; the folder written."""
    arguments = ["merge", run_path]
    if output:
        arguments += ["--output", output]
    return str(Merged.model_validate(call_trainer_module("outputs", arguments, "Merging")).output)


class Merged(Message):
    output: str


class OllamaFacts(Message):
    """What the Modelfile needs: the chat template cut into the pieces Ollama's Go
    template replays (``outputs/ollama.TurnPieces``; None when it cannot be cut) and
    the stop tokens."""

    pieces: dict[str, str] | None
    stop: list[str]


class Exported(Message):
    """A GGUF file written by ``trainer/gguf_export.py``."""

    path: str
    outtype: str
    size_bytes: int
    tensors: int
    architecture: str
    chat_template: bool
    ollama: OllamaFacts | None = None


def export_gguf(
    run_path: str, outtype: str, out: str | None = None, for_ollama: bool = False
) -> Exported:
    """Write the run's model as one GGUF file; ``for_ollama``: with the Modelfile's facts."""
    arguments = [run_path, "--outtype", outtype]
    if out:
        arguments += ["--out", out]
    if for_ollama:
        arguments.append("--ollama")
    return Exported.model_validate(call_trainer_module("gguf_export", arguments, "Exporting"))


class CpuSpeed(Message):
    """What ``trainer/cpu_speed.py`` measured: fp32 matrix products on this CPU."""

    fp32_gflops: float
    threads: int
    torch: str


def measure_cpu() -> CpuSpeed:
    """This CPU's fp32 speed, measured by torch in its own process (a few seconds)."""
    return CpuSpeed.model_validate(call_trainer_module("cpu_speed", [], "Measuring the CPU"))
