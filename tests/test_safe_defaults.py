"""Safe by default: no remote code unless asked, no shell, no pickled weights, no
secrets in run folders, run folders for their owner only, no listening sockets."""

from __future__ import annotations

import re
import shutil
import stat
import time
from pathlib import Path

import psutil
import pytest

from ftwizard.core.config.presets import find_preset
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.errors import UserError
from ftwizard.core.runs.launch import launch
from tests.conftest import ROOT, run_cli
from tests.test_faults import wait_for
from tests.test_training import DEMO_DATA, make_run

SECRETS = {"HF_TOKEN": "hf_ftwizardTestSecret0001", "WANDB_API_KEY": "ftwizardTestSecret0002"}


def test_remote_code_is_off_unless_asked() -> None:
    assert RunConfig().model.trust_remote_code is False
    for preset in sorted((ROOT / "presets").glob("*.yaml")):
        assert load_config(find_preset(str(preset))).model.trust_remote_code is False, preset


def test_no_code_path_hands_anything_to_a_shell() -> None:
    risky = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess\.getoutput")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "ftwizard").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if risky.search(line)
    ]
    assert found == []


def test_a_dataset_path_is_read_as_a_name_never_run(tmp_path: Path) -> None:
    name = "$(touch PWNED)`touch PWNED2`;touch PWNED3 ~.jsonl"
    shutil.copy(DEMO_DATA, tmp_path / name)
    result = run_cli("data", name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.glob("PWNED*"))


def test_pickled_weights_are_refused(tmp_path: Path, tiny_model: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from ftwizard.trainer.components.loading import load_model

    folder = tmp_path / "pickled"
    folder.mkdir()
    for item in tiny_model.iterdir():
        if item.suffix != ".safetensors":
            shutil.copy(item, folder / item.name)
    weights = load_file(next(tiny_model.glob("*.safetensors")))
    torch.save(weights, folder / "pytorch_model.bin")
    config = load_config(None, [f"model.model_name_or_path={folder}", "model.dtype=float32"])
    with pytest.raises(UserError, match="safetensors only"):
        load_model(config)


@pytest.mark.slow
def test_training_keeps_secrets_out_is_owner_only_and_listens_nowhere(
    tmp_path: Path, small_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)  # the trainer inherits the environment
    run = make_run(
        tmp_path,
        small_model,
        DEMO_DATA,
        "training.max_steps=12",
        "checkpointing.save_steps=4",
        "training.max_length=128",
        "training.per_device_train_batch_size=4",
    )
    launch(run)
    wait_for(lambda: run.read_status().state == "running", what="training")
    listening = []
    while run.read_status().state == "running":
        pid = run.read_status().pid
        try:
            process = psutil.Process(pid)
            for proc in [process, *process.children(recursive=True)]:
                listening += [
                    c for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
                ]
        except psutil.NoSuchProcess:
            break
        time.sleep(0.3)
    wait_for(lambda: run.read_status().state == "finished", what="the end")
    assert listening == []
    assert stat.S_IMODE(run.path.stat().st_mode) == 0o700
    # Everything inside too (checkpoints, logs, the final adapter): copied or moved
    # elsewhere, none of it becomes readable by other users.
    shared = [p for p in run.path.rglob("*") if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert shared == []
    written = [p for p in run.path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in written)
    for path in written:
        content = path.read_bytes()
        for key, secret in SECRETS.items():
            assert secret.encode() not in content, f"{key} found in {path}"
