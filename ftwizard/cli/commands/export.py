"""``ftwizard export``: the run's model as a GGUF file, or onto the Hugging Face Hub."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rich.progress import Progress
from rich.prompt import Confirm
from rich.table import Table

from ftwizard.cli.console import confirm_target, err, out, print_json, warn_remote_code
from ftwizard.core.errors import UserError
from ftwizard.core.outputs import ollama
from ftwizard.core.outputs.gguf_quantize import K_QUANTS, find_quantizer, quantize
from ftwizard.core.outputs.hub_upload import (
    check_can_upload,
    check_publishable,
    upload,
    upload_files,
    upload_files_card,
    weights_folder,
)
from ftwizard.core.runs.folder import RunFolder, find_run
from ftwizard.core.runs.model_card import model_card
from ftwizard.core.runs.stages import result_of
from ftwizard.core.trainer_calls import export_gguf, merge_outputs
from ftwizard.core.units import human_size


def run(args: argparse.Namespace) -> int:
    target, *rest = args.to
    if target not in ("gguf", "hub") or len(rest) > (target == "hub"):
        raise UserError(
            f"`--to {' '.join(args.to)}`: the targets are `gguf` and `hub REPO_ID`.",
            hint=f"ftwizard export {args.name} --to hub YOUR-NAME/MODEL-NAME",
        )
    if target == "hub" and args.ollama:
        raise UserError(
            "--ollama goes with --to gguf: Ollama runs GGUF files.",
            hint=f"ftwizard export {args.name} --to gguf --ollama NAME",
        )
    folder = result_of(find_run(args.name, args.root))
    if target == "gguf" or args.merged:  # both load the model to merge it
        warn_remote_code(folder)
    folder.require_text_model()
    if target == "hub":
        return _to_hub(folder, rest[0] if rest else None, args)
    return _to_gguf(folder, args)


@dataclass(frozen=True)
class GgufWritten:
    """What ``export --to gguf`` wrote, as it says it (and prints it with --json)."""

    path: str
    outtype: str
    size_bytes: int
    tensors: int | None = None
    architecture: str | None = None
    chat_template: bool | None = None
    source: str | None = None
    """A k-quant's f16 file, kept."""
    modelfile: str | None = None
    ollama_create: str | None = None

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _to_gguf(run: RunFolder, args: argparse.Namespace) -> int:
    # Every refusal before the slow part: a bad Ollama name, a missing llama-quantize.
    if args.ollama:
        ollama.check_model_name(args.ollama)
    if args.out:  # a file of the person's choosing: never replaced without a word
        confirm_target(Path(args.out), "the GGUF file", args.force)
        if args.ollama:
            confirm_target(Path(args.out).with_name("Modelfile"), "the Modelfile", args.force)
    quantizer = find_quantizer(args.outtype, run.name) if args.outtype in K_QUANTS else None
    written = "f16" if quantizer else args.outtype
    out_path = None if quantizer else args.out  # a k-quant starts from the default f16 file
    with err.status(f"Writing a GGUF file ({written})..."):
        exported = export_gguf(str(run.path), written, out_path, for_ollama=bool(args.ollama))
    result = GgufWritten(
        exported.path,
        exported.outtype,
        exported.size_bytes,
        exported.tensors,
        exported.architecture,
        exported.chat_template,
    )
    if quantizer:
        result = _quantize(run, Path(exported.path), quantizer, args)
    if args.ollama and exported.ollama is not None:
        modelfile = ollama.write_modelfile(
            Path(result.path), exported.ollama, run.read_config().training.max_length
        )
        create = shlex.join(ollama.create_command(args.ollama, modelfile))
        result = replace(result, modelfile=str(modelfile), ollama_create=create)
    if args.json:
        print_json(result.to_json())
        return 0
    _say_written(result)
    if result.ollama_create:
        _offer_ollama_create(result.ollama_create, args.ollama)
    return 0


def _quantize(
    run: RunFolder, source: Path, quantizer: str, args: argparse.Namespace
) -> GgufWritten:
    target = Path(args.out) if args.out else run.path / "export" / f"{run.name}-{args.outtype}.gguf"
    started = time.perf_counter()
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(f"{K_QUANTS[args.outtype]} with llama-quantize", total=None)
        quantize(
            quantizer,
            source,
            target,
            args.outtype,
            lambda done, total: progress.update(task, completed=done, total=total),
        )
    err.print(
        f"quantised with {quantizer} in {time.perf_counter() - started:.0f} s; the f16 file it "
        f"started from stays at {source}",
        soft_wrap=True,
    )
    return GgufWritten(str(target), args.outtype, target.stat().st_size, source=str(source))


def _say_written(result: GgufWritten) -> None:
    details = [human_size(result.size_bytes)]
    if result.tensors is not None:
        template = "with its chat template" if result.chat_template else "no chat template"
        details += [f"{result.tensors} tensors", str(result.architecture), template]
    out.print(
        f"wrote {result.path} ({', '.join(details)})",
        soft_wrap=True,  # the path stays whole, to copy
    )
    out.print(f"  run it with llama.cpp: llama-cli -m {result.path}", soft_wrap=True)
    if result.modelfile:
        out.print(f"wrote {result.modelfile}", soft_wrap=True)
        out.print(f"  make it an Ollama model: {result.ollama_create}", soft_wrap=True)


def _offer_ollama_create(command: str, name: str) -> None:
    """With ollama installed and a person at the keyboard, offer to run the line."""
    if shutil.which("ollama") is None or not sys.stdin.isatty():
        return
    if not Confirm.ask(f"ollama is installed: create `{name}` now?", console=err, default=True):
        return
    finished = subprocess.run(shlex.split(command), check=False)
    if finished.returncode != 0:
        raise UserError(
            f"`{command}` failed (exit code {finished.returncode}).",
            hint="Is the Ollama server running? Start it with `ollama serve`, then run the "
            "line again.",
        )
    out.print(f"done: ollama run {name}", soft_wrap=True)


def _to_hub(run: RunFolder, repo_id: str | None, args: argparse.Namespace) -> int:
    if not repo_id:
        raise UserError(
            "`--to hub` needs the repository to upload to.",
            hint=f"ftwizard export {args.name} --to hub YOUR-NAME/MODEL-NAME [--dry-run]",
        )
    folder = weights_folder(run, args.merged)
    private = not args.public
    merge_first = args.merged and not folder.exists()
    check_publishable(run, run.final_dir if merge_first else folder, args.force)
    if args.list_only:
        return _list_upload(run, repo_id, folder, args.merged, private, args.json)
    if merge_first:
        with err.status("Merging the adapter into the base model first..."):
            merge_outputs(str(run.path), str(folder))
        check_publishable(run, folder, args.force)
    files = upload_files(folder, model_card(run, merged=args.merged), run.path)
    listing = [{"path": f.path_in_repo, "bytes": f.size} for f in files]
    total = sum(f.size for f in files)
    token = check_can_upload(repo_id, files)
    started = time.perf_counter()
    err.print(f"Uploading {len(files)} files ({human_size(total)}) to {repo_id}...")
    url = upload(repo_id, files, private, token)
    if args.json:
        print_json({"repo_id": repo_id, "url": url, "files": listing})
        return 0
    visibility = "private" if private else "public"
    out.print(
        f"uploaded to {url} ({visibility}) in {time.perf_counter() - started:.0f} s",
        soft_wrap=True,
    )
    return 0


def _list_upload(
    run: RunFolder, repo_id: str, folder: Path, merged: bool, private: bool, as_json: bool
) -> int:
    """The dry run: what an upload would send, writing nothing (no merge either)."""
    merge_first = merged and not folder.exists()
    card = model_card(run, merged=merged)
    files = upload_files(folder, card, run.path) if not merge_first else upload_files_card(card)
    listing = [{"path": f.path_in_repo, "bytes": f.size} for f in files]
    note = (
        f"{folder.name}/ is not written yet: the upload merges the adapter into the base "
        f"first (`ftwizard merge {run.name}` writes it now), and sends its files with the card."
    )
    if as_json:
        print_json(
            {"repo_id": repo_id, "private": private, "files": listing, "merge_first": merge_first}
        )
        return 0
    visibility = "private" if private else "public"
    table = Table("file", "size", title=f"would upload to {repo_id}, {visibility} (dry run)")
    for f in files:
        table.add_row(f.path_in_repo, human_size(f.size))
    table.add_row(f"{len(files)} files", human_size(sum(f.size for f in files)))
    out.print(table)
    if merge_first:
        out.print(note, soft_wrap=True)
    return 0
