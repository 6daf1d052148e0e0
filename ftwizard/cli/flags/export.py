"""The flags of ``ftwizard export``; what they run is ``cli/commands/export.py``.

Imported for every ``--help``: argparse and the shared flag groups, nothing heavy.
"""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json, add_runs_root


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="write the fine-tuned model as one GGUF file (llama.cpp, Ollama, LM Studio)",
        description="--to gguf (default): merge the run's adapter (if any) and write the "
        "model, its tokenizer and the chat template it trained with as one GGUF file, in "
        "pure Python (no llama.cpp build). f16 keeps the weights as trained; q8_0 is about "
        "half the size and answers almost the same. q4_k_m (and q5_k_m, q6_k) use llama.cpp's "
        "llama-quantize when it is on PATH; without it, --ollama NAME and `ollama create -q "
        "q4_K_M` do the same. --ollama NAME writes a Modelfile beside the GGUF (the chat "
        "template as Ollama's Go template, the stop tokens, num_ctx = max_length). --to hub "
        "REPO_ID: upload the adapter (or --merged model) with its model card; --dry-run lists "
        "the files.",
    )
    export.add_argument("name", metavar="RUN", help="run name or folder")
    export.add_argument(
        "--to",
        nargs="+",
        default=["gguf"],
        metavar="gguf | hub REPO_ID",
        help="gguf: one file for llama.cpp / Ollama (default); hub REPO_ID: upload to the "
        "Hugging Face Hub with the model card (token: HF_TOKEN or `hf auth login`)",
    )
    export.add_argument(
        "--merged", action="store_true", help="with --to hub: the merged model, not the adapter"
    )
    export.add_argument(
        "--public",
        action="store_true",
        help="with --to hub: a public repository (the default is private: nothing is "
        "published that you did not choose to)",
    )
    export.add_argument("--private", action="store_true", help=argparse.SUPPRESS)  # the default
    export.add_argument(
        "--force",
        action="store_true",
        help="with --to hub: upload a run that did not finish or whose weights fail their "
        "check; with --to gguf: replace existing --out and Modelfile files",
    )
    export.add_argument(
        "--dry-run",
        dest="list_only",  # not the top-level --dry-run, which belongs to --preset
        action="store_true",
        help="with --to hub: list the files and sizes only",
    )
    export.add_argument(
        "--outtype",
        choices=["f16", "bf16", "q8_0", "q4_k_m", "q5_k_m", "q6_k"],
        default="f16",
        help="weight encoding: f16 (default), bf16, q8_0 (8-bit, about half the size); "
        "q4_k_m, q5_k_m, q6_k need llama.cpp's llama-quantize on PATH",
    )
    export.add_argument(
        "--ollama",
        metavar="NAME",
        help="also write an Ollama Modelfile beside the GGUF and print the "
        "`ollama create NAME` line (run it for you when ollama is installed)",
    )
    export.add_argument(
        "--out", metavar="FILE", help="where to write it (default: RUN/export/RUN-OUTTYPE.gguf)"
    )
    add_runs_root(export)
    add_json(export)
