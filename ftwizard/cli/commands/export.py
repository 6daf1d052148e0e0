"""``ftwizard export``: the run's model as a GGUF file, or onto the Hugging Face Hub."""

from __future__ import annotations

import argparse
import time

from rich.table import Table

from ftwizard.cli.console import err, out, print_json
from ftwizard.core.errors import UserError
from ftwizard.core.hub_upload import check_can_upload, upload, upload_files, weights_folder
from ftwizard.core.model_card import model_card
from ftwizard.core.runs import RunFolder, find_run
from ftwizard.core.trainer_calls import export_gguf, merge_outputs
from ftwizard.core.units import human_size


def run(args: argparse.Namespace) -> int:
    target, *rest = args.to
    if target not in ("gguf", "hub") or len(rest) > (target == "hub"):
        raise UserError(
            f"`--to {' '.join(args.to)}`: the targets are `gguf` and `hub REPO_ID`.",
            hint=f"ftwizard export {args.name} --to hub YOUR-NAME/MODEL-NAME",
        )
    folder = find_run(args.name, args.root)
    if target == "hub":
        return _to_hub(folder, rest[0] if rest else None, args)
    return _to_gguf(folder, args)


def _to_gguf(run: RunFolder, args: argparse.Namespace) -> int:
    with err.status(f"Writing a GGUF file ({args.outtype})..."):
        result = export_gguf(str(run.path), args.outtype, args.out)
    if args.json:
        print_json(result)
        return 0
    template = "with its chat template" if result["chat_template"] else "no chat template"
    out.print(
        f"wrote {result['path']} ({human_size(result['size_bytes'])}, {result['tensors']} "
        f"tensors, {result['architecture']}, {template})",
        soft_wrap=True,  # the path stays whole, to copy
    )
    out.print(f"  run it with llama.cpp: llama-cli -m {result['path']}", soft_wrap=True)
    return 0


def _to_hub(run: RunFolder, repo_id: str | None, args: argparse.Namespace) -> int:
    if not repo_id:
        raise UserError(
            "`--to hub` needs the repository to upload to.",
            hint=f"ftwizard export {args.name} --to hub YOUR-NAME/MODEL-NAME [--dry-run]",
        )
    folder = weights_folder(run, args.merged)
    if args.merged and not folder.exists():
        with err.status("Merging the adapter into the base model first..."):
            merge_outputs(str(run.path), str(folder))
    files = upload_files(folder, model_card(run, merged=args.merged))
    listing = [{"path": f.path_in_repo, "bytes": f.size} for f in files]
    total = sum(f.size for f in files)
    if args.list_only:
        if args.json:
            print_json({"repo_id": repo_id, "private": args.private, "files": listing})
            return 0
        table = Table("file", "size", title=f"would upload to {repo_id} (dry run)")
        for f in files:
            table.add_row(f.path_in_repo, human_size(f.size))
        table.add_row(f"{len(files)} files", human_size(total))
        out.print(table)
        return 0
    token = check_can_upload(repo_id, files)
    started = time.perf_counter()
    err.print(f"Uploading {len(files)} files ({human_size(total)}) to {repo_id}...")
    url = upload(repo_id, files, args.private, token)
    if args.json:
        print_json({"repo_id": repo_id, "url": url, "files": listing})
        return 0
    out.print(f"uploaded to {url} in {time.perf_counter() - started:.0f} s", soft_wrap=True)
    return 0
