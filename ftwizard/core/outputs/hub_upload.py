"""``ftwizard export RUN --to hub REPO_ID``: what goes to the Hugging Face Hub, and sending it.

One list of files (``upload_files``) serves the dry run and the upload, so the dry run
shows exactly what would be sent. The token comes from ``HF_TOKEN`` or the cached
``hf auth login``; it is handed to huggingface_hub and never printed or written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder

# Pickled trainer arguments: nothing loads them, and unpickling runs code.
SKIPPED = {"training_args.bin"}
CARD = "README.md"


@dataclass(frozen=True)
class UploadFile:
    path_in_repo: str
    size: int
    source: Path | None = None
    """A file on disk, or None for generated text (the model card)."""
    text: str | None = None


def upload_files(folder: Path, card: str) -> list[UploadFile]:
    """Every file of ``folder`` the Hub needs, with ``card`` as its README.md."""
    files = [
        UploadFile(str(path.relative_to(folder)), path.stat().st_size, source=path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name not in SKIPPED and path.relative_to(folder) != Path(CARD)
    ]
    files.append(UploadFile(CARD, len(card.encode("utf-8")), text=card))
    return sorted(files, key=lambda f: f.path_in_repo)


def weights_folder(run: RunFolder, merged: bool) -> Path:
    """The folder whose files go up: the run's final output, or its merged model."""
    run.require_output()
    if not merged:
        return run.final_dir
    if not (run.final_dir / "adapter_config.json").exists():
        raise UserError(
            f"{run.name} trained every weight: its output is already a full model.",
            hint="Leave out --merged.",
        )
    return run.path / "merged"


def hub_token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise UserError(
            "No Hugging Face token: uploading needs one with write access.",
            hint="Run `hf auth login`, or set HF_TOKEN for this command.",
        )
    return token


def check_can_upload(repo_id: str, files: list[UploadFile]) -> str:
    """Refuse, before any connection, an upload that cannot happen; the token to use."""
    largest = max(files, key=lambda f: f.size).path_in_repo
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}:
        raise UserError(
            f"Offline (HF_HUB_OFFLINE is set): nothing was uploaded to {repo_id}; it would "
            f"have sent {largest} and {len(files) - 1} more files.",
            hint="Unset HF_HUB_OFFLINE on a machine that reaches huggingface.co; "
            "`--dry-run` lists the files.",
        )
    return hub_token()


def upload(repo_id: str, files: list[UploadFile], private: bool, token: str) -> str:
    """Create ``repo_id`` if needed and send ``files`` in one commit; its URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    operations = [
        CommitOperationAdd(
            f.path_in_repo,
            str(f.source) if f.source is not None else (f.text or "").encode("utf-8"),
        )
        for f in files
    ]
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.create_commit(repo_id, operations, commit_message="Upload from ftwizard")
    except Exception as error:  # noqa: BLE001 - any Hub or network failure: one message
        raise UserError(
            f"Uploading to {repo_id} failed: {_without(error, token)}",
            hint="Check the network, the repository name and that the token can write to it.",
        ) from None
    return str(commit.commit_url)


def _without(error: BaseException, token: str) -> str:
    return str(error).replace(token, "***")[:400]
