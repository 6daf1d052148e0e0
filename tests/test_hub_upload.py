"""``ftwizard export RUN --to hub REPO_ID``: the dry run lists what an upload sends, and
an upload that cannot happen (offline, no token) fails in words before any connection."""

from __future__ import annotations

import json
from pathlib import Path

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.runs.folder import RunFolder, create_run
from ftwizard.core.runs.model_card import model_card
from tests.conftest import run_cli
from tests.recorded_runs import _safetensors

SECRET = "hf_notarealtokenbutsecret"


def trained_run(tmp_path: Path, adapter: str = "lora") -> RunFolder:
    """A finished run folder as the trainer leaves it (small stand-in weight files)."""
    config = load_config(
        None, [f"output.runs_root={tmp_path}", f"method.adapter={adapter}", "data.path=d.jsonl"]
    )
    run = create_run(config)
    run.write_status(state="finished", step=3, final_loss=1.0, hardware="CPU (2 cores)")
    run.final_dir.mkdir()
    weights = "model.safetensors" if adapter == "full" else "adapter_model.safetensors"
    names = [weights, "tokenizer.json", "training_args.bin", "README.md"]
    if adapter != "full":
        names.append("adapter_config.json")
    for size, name in enumerate(names, start=1):
        (run.final_dir / name).write_bytes(b"x" * 1000 * size)
    (run.final_dir / weights).write_bytes(_safetensors(50_000))  # the largest file
    return run


def export(run: RunFolder, *args: str, **env: str) -> tuple[int, str]:
    done = run_cli("export", str(run.path), "--to", "hub", "me/wiz", *args, env=env)
    return done.returncode, done.stdout + done.stderr


def test_the_dry_run_lists_exactly_what_would_be_sent(tmp_path: Path) -> None:
    run = trained_run(tmp_path)
    code, output = export(run, "--dry-run", "--json")
    assert code == 0, output
    listed = {f["path"]: f["bytes"] for f in json.loads(output)["files"]}
    # Independently: every file of final/ but the pickled trainer arguments, with ftwizard's
    # card as README.md in place of the one peft left there.
    expected = {
        p.name: p.stat().st_size
        for p in run.final_dir.iterdir()
        if p.name not in ("training_args.bin", "README.md")
    }
    expected["README.md"] = len(model_card(run).encode())
    assert listed == expected


def test_offline_the_upload_fails_in_words_naming_the_weights(tmp_path: Path) -> None:
    run = trained_run(tmp_path)
    code, output = export(run, HF_HUB_OFFLINE="1", HF_TOKEN=SECRET)
    assert code == 2
    assert "Offline" in output and "adapter_model.safetensors" in output
    assert "Traceback" not in output and SECRET not in output


def test_without_a_token_it_says_how_to_log_in(tmp_path: Path) -> None:
    run = trained_run(tmp_path)
    env = {"HF_HUB_OFFLINE": "0", "HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf")}
    code, output = export(run, **env)
    assert code == 2 and "hf auth login" in output and "Traceback" not in output


def test_merged_needs_an_adapter_and_the_target_needs_a_repo(tmp_path: Path) -> None:
    code, output = export(trained_run(tmp_path, "full"), "--merged", "--dry-run")
    assert code == 2 and "already a full model" in output
    done = run_cli("export", str(trained_run(tmp_path).path), "--to", "hub")
    assert done.returncode == 2 and "YOUR-NAME/MODEL-NAME" in done.stderr


def test_uploads_are_private_unless_public_is_asked(tmp_path: Path) -> None:
    run = trained_run(tmp_path)
    code, output = export(run, "--dry-run", "--json")
    assert code == 0 and json.loads(output)["private"] is True
    code, output = export(run, "--dry-run", "--json", "--public")
    assert code == 0 and json.loads(output)["private"] is False
    code, output = export(run, "--dry-run")
    assert "private (dry" in output


def test_a_link_out_of_the_run_folder_is_refused(tmp_path: Path) -> None:
    run = trained_run(tmp_path)
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    (run.final_dir / "notes.txt").symlink_to(secret)
    code, output = export(run, "--dry-run")
    assert code == 2 and "outside the run folder" in output and "nothing was sent" in output
    (run.final_dir / "notes.txt").unlink()
    (run.final_dir / "card-copy.md").symlink_to(run.final_dir / "README.md")  # inside: fine
    code, output = export(run, "--dry-run", "--json")
    assert code == 0 and "card-copy.md" in output


def test_an_unfinished_run_or_damaged_weights_go_only_with_force(tmp_path: Path) -> None:
    run = trained_run(tmp_path)
    run.write_status(state="failed")
    code, output = export(run, "--dry-run")
    assert code == 2 and "did not finish (state: failed)" in output and "--force" in output
    assert export(run, "--dry-run", "--force")[0] == 0
    run.write_status(state="finished")
    weights = run.final_dir / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20_000])  # a copy cut short
    code, output = export(run, "--dry-run")
    assert code == 2 and "adapter_model.safetensors is truncated" in output


def test_a_merged_dry_run_writes_nothing(tmp_path: Path) -> None:
    run = trained_run(tmp_path)
    before = sorted(p.relative_to(run.path) for p in run.path.rglob("*"))
    code, output = export(run, "--merged", "--dry-run", "--json")
    assert code == 0, output
    listed = json.loads(output)
    assert listed["merge_first"] is True and [f["path"] for f in listed["files"]] == ["README.md"]
    assert sorted(p.relative_to(run.path) for p in run.path.rglob("*")) == before
