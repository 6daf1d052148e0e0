"""Asking the trainer package for answers that need torch or transformers.

Token statistics, the chat-template preview and the conversion of a built-in
model load heavy libraries, so they run as ``python -m ftwizard.trainer.<module>``
in their own process and answer with one JSON line (see ``trainer/reply.py``).
The CLI wraps these calls in a spinner, the TUI in a worker thread.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from ftwizard.core import lifetime
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
) -> Any:
    """Run ``ftwizard.trainer.<module>`` with ``arguments`` (and ``input_text`` on its
    stdin); its reply, or a UserError."""
    command = [sys.executable, "-m", f"ftwizard.trainer.{module}", *arguments]
    result = lifetime.run(command, input_text)  # ended with the viewer that asked
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise UserError(f"{what} failed: {result.stderr.strip()[-600:]}") from None
    if isinstance(data, dict) and "error" in data:
        raise UserError(data["error"], hint=data.get("hint"))
    return data


def token_stats(
    path: str,
    model: str,
    max_length: int,
    *,
    data_format: str = "auto",
    column_map: Mapping[str, str] | None = None,
    text_split: str = "auto",
    example: int = 0,
    split: str = "train",
    name: str | None = None,
    train_on: str = "assistant",
) -> dict[str, Any]:
    """Validation report, token statistics and the template preview of one example."""
    facts = resolve_model_facts(model)
    command = [
        "--path",
        str(path),
        "--model",
        model,
        "--max-length",
        str(max_length),
        "--format",
        data_format,
        "--map",
        json.dumps(dict(column_map or {})),
        "--text-split",
        text_split,
        "--example",
        str(example),
        "--split",
        split,
        "--train-on",
        train_on,
    ]
    if name:
        command += ["--name", name]
    if facts.max_context:
        command += ["--context", str(facts.max_context)]
    data: dict[str, Any] = call_trainer_module("data_stats", command, "Tokenising")
    return data


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


def sample_outputs(
    run_path: str, prompts: list[str], max_new_tokens: int = 64
) -> list[dict[str, str]]:
    """Generate with the base and the fine-tuned model: [{prompt, base, fine_tuned}]."""
    arguments = ["sample", run_path, "--max-new-tokens", str(max_new_tokens)]
    # Over a pipe: a command line is visible to every user of the machine (ps).
    prompts_json = json.dumps(prompts)
    rows: list[dict[str, str]] = call_trainer_module("outputs", arguments, "Sampling", prompts_json)
    return rows


def merge_outputs(run_path: str, output: str | None = None) -> str:
    """Merge the run's adapter into its base model; the folder written."""
    arguments = ["merge", run_path]
    if output:
        arguments += ["--output", output]
    data: dict[str, Any] = call_trainer_module("outputs", arguments, "Merging")
    return str(data["output"])


def export_gguf(
    run_path: str, outtype: str, out: str | None = None, for_ollama: bool = False
) -> dict[str, Any]:
    """Write the run's model as one GGUF file: {path, outtype, size_bytes, tensors, ...};
    ``for_ollama``: also {"ollama": {"pieces", "stop"}} for ``core.ollama.write_modelfile``."""
    arguments = [run_path, "--outtype", outtype]
    if out:
        arguments += ["--out", out]
    if for_ollama:
        arguments.append("--ollama")
    data: dict[str, Any] = call_trainer_module("gguf_export", arguments, "Exporting")
    return data
