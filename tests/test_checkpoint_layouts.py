"""The checkpoint check knows every layout the libraries write, each saved here for real
by the library that writes it: transformers' sharded safetensors with their index,
accelerate's FSDP optimizer.bin (a whole state dict through torch.save) and the sharded
folders torch.distributed.checkpoint writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftwizard.core.runs.checkpoints import list_checkpoints, resume_problem, weights_problem
from ftwizard.core.runs.folder import RunFolder

torch = pytest.importorskip("torch")


def _resume_files(folder: Path, optimizer: str = "optimizer.pt") -> None:
    """What the Trainer saves beside the weights, written by torch.save as it does."""
    model = torch.nn.Linear(4, 4)
    optim = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 4)).sum().backward()
    optim.step()
    torch.save(optim.state_dict(), folder / optimizer)
    torch.save({"last_epoch": 1}, folder / "scheduler.pt")
    torch.save({"python": 1}, folder / "rng_state.pth")
    (folder / "trainer_state.json").write_text('{"log_history": [{"loss": 1.5, "step": 2}]}')


@pytest.fixture
def sharded(tmp_path: Path, tiny_model: Path) -> Path:
    """checkpoint-2 of a run: the tiny model saved by transformers in shards of 100 kB."""
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "run" / "checkpoints" / "checkpoint-2"
    folder.mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text("")
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model.save_pretrained(folder, max_shard_size="100KB")
    _resume_files(folder)
    return folder


def test_whole_shards_make_a_resumable_checkpoint(sharded: Path) -> None:
    shards = sorted(sharded.glob("model-*.safetensors"))
    assert len(shards) > 2 and (sharded / "model.safetensors.index.json").exists()
    [checkpoint] = list_checkpoints(RunFolder(sharded.parents[1]))
    assert checkpoint.kind == "resumable" and checkpoint.loss == 1.5


def test_a_garbage_shard_or_a_missing_one_is_incomplete(sharded: Path) -> None:
    first, second, *_ = sorted(sharded.glob("model-*.safetensors"))
    first.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage garbage!")
    assert (
        weights_problem(sharded)
        == f"{first.name} is not a safetensors file (its header is not JSON)"
    )
    first.unlink()
    assert (
        weights_problem(sharded)
        == f"{first.name} is missing (named by model.safetensors.index.json)"
    )
    [checkpoint] = list_checkpoints(RunFolder(sharded.parents[1]))
    assert checkpoint.kind == "incomplete"
    assert second.exists()


def test_a_shard_cut_short_is_incomplete(sharded: Path) -> None:
    shard = sorted(sharded.glob("model-*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[:-100])
    assert weights_problem(sharded) == f"{shard.name} is truncated"


def test_fsdp_full_state_dict_optimizer_bin_resumes(tmp_path: Path) -> None:
    # accelerate's save_fsdp_optimizer with FULL_STATE_DICT (ftwizard's setting):
    # torch.save of the optimizer state to optimizer.bin; the model beside it.
    folder = tmp_path / "checkpoint-4"
    folder.mkdir()
    torch.save({"weight": torch.ones(2)}, folder / "pytorch_model_fsdp.bin")
    _resume_files(folder, optimizer="optimizer.bin")
    assert weights_problem(folder) is None and resume_problem(folder) is None
    (folder / "optimizer.bin").write_bytes((folder / "optimizer.bin").read_bytes()[:100])
    assert resume_problem(folder) == "optimizer.bin is truncated (not a whole torch file)"


def test_fsdp_sharded_state_dict_folders_resume(tmp_path: Path) -> None:
    # With SHARDED_STATE_DICT accelerate writes pytorch_model_fsdp_0/ and optimizer_0/
    # through torch.distributed.checkpoint; one process saves the same layout here.
    import torch.distributed.checkpoint as dcp

    folder = tmp_path / "checkpoint-4"
    model = torch.nn.Linear(8, 8)
    with pytest.warns(UserWarning, match="single process"):
        dcp.save({"model": model.state_dict()}, checkpoint_id=folder / "pytorch_model_fsdp_0")
        dcp.save({"optimizer": {"step": torch.ones(1)}}, checkpoint_id=folder / "optimizer_0")
    _resume_files(folder, optimizer="unused.pt")
    (folder / "unused.pt").unlink()
    assert weights_problem(folder) is None and resume_problem(folder) is None
    data = next((folder / "optimizer_0").glob("*.distcp"))
    data.write_bytes(b"")
    assert resume_problem(folder) == f"optimizer_0/{data.name} is empty (truncated)"
    shutil.rmtree(folder / "pytorch_model_fsdp_0")
    (folder / "pytorch_model_fsdp_0").mkdir()
    assert weights_problem(folder) == "pytorch_model_fsdp_0/.metadata is missing"
