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
from ftwizard.core.files import regular_file_problem
from ftwizard.core.runs.checkpoints import weights_problem
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


def upload_files(folder: Path, card: str, boundary: Path) -> list[UploadFile]:
    """Every file of ``folder`` the Hub needs, with ``card`` as its README.md.

    Only regular files inside ``boundary`` (the run folder) go: a link that leads out of
    it (to ``~/.ssh``, to ``/etc``) or a FIFO is refused, with its name, before anything
    is sent.
    """
    inside = boundary.resolve()
    files = []
    for top, folders, names in os.walk(folder):
        for name in sorted(folders + names):
            path = Path(top) / name
            shown = path.relative_to(folder)
            target = path.resolve()
            if path.is_symlink() and not target.is_relative_to(inside):
                raise UserError(
                    f"{path}: a link to {target}, outside the run folder; nothing was sent.",
                    hint="Remove the link, or copy the file into the folder if it belongs there.",
                )
            if path.is_dir():
                continue
            problem = regular_file_problem(path)
            if problem is not None:
                raise UserError(f"{path}: {problem}; nothing was sent.")
            if name not in SKIPPED and shown != Path(CARD):
                files.append(UploadFile(str(shown), path.stat().st_size, source=path))
    files.append(UploadFile(CARD, len(card.encode("utf-8")), text=card))
    return sorted(files, key=lambda f: f.path_in_repo)


def upload_files_card(card: str) -> list[UploadFile]:
    """The card alone: what a dry run can list of a merged model not written yet."""
    return [UploadFile(CARD, len(card.encode("utf-8")), text=card)]


def check_publishable(run: RunFolder, folder: Path, force: bool) -> None:
    """Refuse to send a run that did not finish, or weights that would not load, unless
    the person insists (``--force``)."""
    state = run.read_status().state
    problem = None if state == "finished" else f"{run.name} did not finish (state: {state})"
    weights = weights_problem(folder) if folder.exists() else None
    if weights is not None:
        problem = f"{problem}, and " if problem else ""
        problem += f"its weights in {folder.name}/ would not load ({weights})"
    if problem and not force:
        raise UserError(
            f"{problem}; nothing was sent.",
            hint="Add --force to upload it all the same.",
        )


def weights_folder(run: RunFolder, merged: bool) -> Path:
    """The folder whose files go up: the run's final output, or its merged model."""
    run.require_output()
    adapter = (run.final_dir / "adapter_config.json").exists()
    if not merged:
        source = run.read_config().model.from_run
        if adapter and source:
            raise UserError(
                f"{run.name} started from run {Path(source).name}: its adapter applies to "
                "that run's result, not to the base model the Hub would pair it with.",
                hint="Upload the merged model, every adapter folded in: add --merged.",
            )
        return run.final_dir
    if not adapter:
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
