"""Several machines: the plan across machines, the flags and their refusals, and two
"machines" on this box (two launchers over 127.0.0.1, gloo) that train, stop and resume
one run through torchrun's c10d rendezvous."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.config.yaml_io import dump_config, load_config
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import find_gpu, target_from_spec, verdict
from ftwizard.core.models import catalog
from ftwizard.core.planning.distributed import with_processes
from ftwizard.core.planning.estimator import estimate
from ftwizard.core.planning.throughput import network_bytes_per_step
from ftwizard.core.runs.checkpoints import latest_resumable
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.machines import Machines, NodeRecord, parse_machines, read_node
from tests.conftest import ROOT, run_cli
from tests.test_distributed import two_ranks_one_writer
from tests.test_faults import wait_for
from tests.test_training import DEMO_DATA, events

LLAMA_70B = catalog.lookup("meta-llama/Llama-3.1-70B-Instruct")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the plan ----------------------------------------------------------------------


def test_plan_nodes_puts_a_70b_full_fine_tune_on_the_fewest_machines_of_8_h100() -> None:
    result = run_cli(
        *("plan", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--rows", "5000"),
        *("--method", "full", "--gpu", "H100", "--gpus", "8", "--nodes", "4", "--json"),
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    config = load_config(None, []).model_validate(plan["config"])
    dist = config.distributed
    assert (dist.num_machines, dist.num_processes, dist.strategy) == (2, 8, "fsdp")
    # The per-GPU figure is the estimator's for exactly this configuration...
    per_gpu = estimate(LLAMA_70B, config)
    assert plan["estimate"]["device_total_gib"] == per_gpu.device_total_gib
    h100 = target_from_spec(find_gpu("H100"), 8)
    assert verdict(per_gpu.device_total_gib, h100) == "fits"
    # ... and one machine fewer does not hold it.
    one = with_processes(config, 8, "fsdp", machines=1)
    assert verdict(estimate(LLAMA_70B, one).device_total_gib, h100) != "fits"
    gpus = next(d for d in plan["decisions"] if d["topic"] == "GPUs")
    assert gpus["choice"] == "2 machines x 8 (FSDP)" and "16 in all" in gpus["reason"]
    # The network's share is said, with its assumption.
    network = next(n for n in plan["notes"] if "across 2 machines" in n)
    assert "400 Gb/s" in network and "GB a step" in network


def test_plan_on_too_few_machines_says_how_many_would_hold_it() -> None:
    result = run_cli(
        *("plan", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--rows", "5000"),
        *("--method", "full", "--gpu", "H100", "--gpus", "4", "--nodes", "2", "--json"),
    )
    plan = json.loads(result.stdout)
    gpus = next(d for d in plan["decisions"] if d["topic"] == "GPUs")
    assert "does not fit" in gpus["reason"] and "2 machines x 4 GPUs" in gpus["reason"]
    needed = int(gpus["reason"].split("it would fit on ")[1].split(" ")[0])
    assert needed > 2
    config = load_config(None, []).model_validate(plan["config"])
    h100 = target_from_spec(find_gpu("H100"), 4)
    fits = estimate(LLAMA_70B, with_processes(config, 4, "fsdp", needed))
    fewer = estimate(LLAMA_70B, with_processes(config, 4, "fsdp", needed - 1))
    assert verdict(fits.device_total_gib, h100) == "fits"
    assert verdict(fewer.device_total_gib, h100) != "fits"
    assert any(f"--nodes {needed}" in change for change in plan["changes_needed"])


def test_save_preset_names_the_run_and_prints_every_machine_s_command(tmp_path: Path) -> None:
    preset = tmp_path / "llama 70b.yaml"
    result = run_cli(
        *("plan", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--rows", "5000"),
        *("--method", "full", "--gpu", "H100", "--gpus", "8", "--nodes", "3"),
        *("--save-preset", str(preset)),
    )
    assert result.returncode == 0, result.stderr
    saved = load_config(preset, [])
    assert saved.distributed.num_machines == 2 and saved.output.run_name == "llama-70b"
    for rank in (0, 1):
        assert (
            f"--preset {preset} --nodes 2 --node-rank {rank} --master FIRST_MACHINE:29500"
            in result.stderr
        )


def test_network_traffic_grows_with_the_gathered_weights() -> None:
    config = with_processes(
        load_config(None, ["method.adapter=full", "training.bf16=true"]), 8, "fsdp", 2
    )
    sent = network_bytes_per_step(LLAMA_70B, config)
    # bf16: two gathers of the weights and one reduce-scatter of the gradients, 15/16 of
    # each, every micro-batch.
    micro_batches = config.training.gradient_accumulation_steps
    assert sent == pytest.approx(3 * 2 * LLAMA_70B.params_total * 15 / 16 * micro_batches)
    assert network_bytes_per_step(LLAMA_70B, with_processes(config, 8, "fsdp", 1)) == 0
    lora = with_processes(load_config(None, ["method.adapter=lora"]), 8, "ddp", 2)
    assert network_bytes_per_step(LLAMA_70B, lora) == 0  # LoRA's gradients are left out


# --- the flags ---------------------------------------------------------------------


def test_machine_flags_are_parsed_and_checked() -> None:
    assert parse_machines(None, None, None) is None
    assert parse_machines(2, 1, "10.0.0.5") == Machines(2, 1, "10.0.0.5", 29500)
    assert parse_machines(2, 0, "[fe80::1]:1234").endpoint == "[fe80::1]:1234"  # type: ignore[union-attr]
    with pytest.raises(UserError, match="--master missing"):
        parse_machines(2, 0, None)
    with pytest.raises(UserError, match="--node-rank 2 is out of range for --nodes 2"):
        parse_machines(2, 2, "host")
    with pytest.raises(UserError, match="port must be a number"):
        parse_machines(2, 0, "host:http")


def _preset(tmp_path: Path, model: Path, *overrides: str) -> Path:
    config = load_config(
        None,
        [
            f"model.model_name_or_path={model}",
            f"data.path={DEMO_DATA}",
            "model.dtype=float32",
            f"output.runs_root={tmp_path / 'runs'}",
            "output.run_name=two",
            "distributed.num_machines=2",
            "training.per_device_train_batch_size=2",
            "training.gradient_accumulation_steps=1",
            "training.max_length=128",
            "training.gradient_checkpointing=false",
            "evaluation.val_size=0",
            *overrides,
        ],
    )
    path = tmp_path / "run.yaml"
    path.write_text(dump_config(config))
    return path


def _machine(preset: Path, rank: int, port: int, *extra: str, wait: str = "120"):
    return run_cli(
        *("--preset", str(preset), "--nodes", "2", "--node-rank", str(rank)),
        *("--master", f"127.0.0.1:{port}", "--detach", *extra),
        env={"FTWIZARD_NODE_WAIT_S": wait},
    )


def _refused(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_a_machine_that_sees_no_run_folder_is_refused_after_the_wait(
    tmp_path: Path, tiny_model: Path
) -> None:
    message = _refused(_machine(_preset(tmp_path, tiny_model), 1, free_port(), wait="1"))
    assert "Machine 1 sees no new launch" in message and "storage every machine sees" in message


def _record_machine_0(run: Path, port: int) -> None:
    """Machine 0's launch as its ``nodes/0.json`` says it, without its torchrun."""
    record = NodeRecord(
        node_rank=0, nodes=2, master=f"127.0.0.1:{port}", host="first", launch_id="x", time=0.0
    )
    (run / "nodes" / "0.json").write_text(record.model_dump_json())


def test_an_unreachable_master_is_refused_after_the_wait(tmp_path: Path, tiny_model: Path) -> None:
    preset = _preset(tmp_path, tiny_model)
    run = tmp_path / "runs" / "two"
    (run / "nodes").mkdir(parents=True)
    (run / "config.yaml").write_text(preset.read_text())
    port = free_port()  # nobody listens there
    _record_machine_0(run, port)
    message = _refused(_machine(preset, 1, port, wait="2"))
    assert f"cannot reach the rendezvous at 127.0.0.1:{port}" in message


def test_other_settings_on_another_machine_are_refused(tmp_path: Path, tiny_model: Path) -> None:
    preset = _preset(tmp_path, tiny_model)
    run = tmp_path / "runs" / "two"
    (run / "nodes").mkdir(parents=True)
    (run / "config.yaml").write_text(preset.read_text())
    port = free_port()
    _record_machine_0(run, port)
    result = _machine(preset, 1, port, "--set", "training.learning_rate=0.001", wait="2")
    message = _refused(result)
    assert "configuration differs from the run's" in message
    assert "training.learning_rate: 0.001 here, 0.0002 on machine 0" in message


@pytest.mark.slow
def test_machine_0_alone_fails_in_words_when_the_others_never_come(
    tmp_path: Path, tiny_model: Path
) -> None:
    port = free_port()
    result = run_cli(  # followed, not detached: the exit code is the run's
        *("--preset", str(_preset(tmp_path, tiny_model)), "--nodes", "2", "--node-rank", "0"),
        *("--master", f"127.0.0.1:{port}"),
        env={"FTWIZARD_NODE_WAIT_S": "3"},
    )
    _refused(result)
    shown = " ".join((result.stdout + result.stderr).split())  # the follower's view
    assert f"not every machine came to the rendezvous at 127.0.0.1:{port} within 3 s" in shown
    status = RunFolder(tmp_path / "runs" / "two").read_status()
    assert status.state == "failed" and "--node-rank R" in status.error


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--nodes", "2", "--node-rank", "0"], "--master missing"),
        (["--nodes", "2", "--node-rank", "5", "--master", "h"], "--node-rank 5 is out of range"),
        (["--set", "distributed.num_machines=2"], "start this run on every machine"),
        (
            ["--nodes", "2", "--node-rank", "0", "--master", "h", "--set", "output.run_name=null"],
            "needs output.run_name",
        ),
        (
            ["--nodes", "2", "--node-rank", "0", "--master", "h"]
            + ["--set", "output.run_name=x", "--set", "distributed.launcher=accelerate"],
            "starts several machines through torchrun's rendezvous",
        ),
    ],
)
def test_bad_machine_flags_are_refused_in_words(args: list[str], expect: str) -> None:
    result = run_cli("--preset", "demo-cpu", "--dry-run", *args)
    assert expect in _refused(result)


# --- two machines on this box -----------------------------------------------------


@pytest.mark.slow
def test_two_machines_train_stop_from_machine_1_and_resume(
    tmp_path: Path, small_model: Path
) -> None:
    preset = _preset(
        tmp_path,
        small_model,
        "training.max_steps=-1",
        "training.num_train_epochs=1",
        "checkpointing.save_steps=1000",
    )
    port = free_port()
    first = _machine(preset, 0, port)
    assert first.returncode == 0, first.stderr
    second = _machine(preset, 1, port)
    assert second.returncode == 0, second.stderr
    assert "machine 1 joined run two" in second.stdout
    run = RunFolder(tmp_path / "runs" / "two")
    wait_for(lambda: any(e.step >= 3 for e in events(run, "log")), what="step 3")

    # The stop is a request in the run folder: it reaches every rank on any machine.
    stopped = run_cli("stop", "two", "--root", str(tmp_path / "runs"))
    assert stopped.returncode == 0 and "two: stopped" in stopped.stdout, stopped.stderr
    # ... not a signal to a pid, which may be on another machine.
    reasons = [(e.reason or "") for e in events(run, "status")]
    assert any("through the run folder" in r for r in reasons)
    assert not any("SIGTERM" in r for r in reasons)
    checkpoint = latest_resumable(run)
    assert checkpoint.step == run.read_status().step and checkpoint.resumable
    # One run folder, one writer: each step logged once, with both ranks' figures.
    steps = two_ranks_one_writer(run, checkpoint)
    assert (run.path / "logs" / "node-1.log").exists()
    nodes = [read_node(run, rank) for rank in (0, 1)]
    assert nodes[0] and nodes[1] and nodes[0].launch_id == nodes[1].launch_id
    rows = events(run, "data")[0].rows_train
    expected = math.ceil(rows / (2 * 2))  # a world of 2, micro-batch 2
    assert events(run, "train_begin")[0].max_steps == expected

    # Resume: machine 0 picks the checkpoint, machine 1 joins that launch.
    port = free_port()
    root = ("--root", str(tmp_path / "runs"))
    flags = ("--nodes", "2", "--master", f"127.0.0.1:{port}", "--detach")
    env = {"FTWIZARD_NODE_WAIT_S": "120"}
    resumed_0 = run_cli("resume", "two", *root, *flags, "--node-rank", "0", env=env)
    assert resumed_0.returncode == 0, resumed_0.stderr
    resumed_1 = run_cli("resume", "two", *root, *flags, "--node-rank", "1", env=env)
    assert resumed_1.returncode == 0, resumed_1.stderr
    wait_for(lambda: run.read_status().state in ("finished", "failed"), what="the resume")
    assert run.read_status().state == "finished", run.read_status()
    resumed = [e.step for e in events(run, "log")][len(steps) :]
    assert resumed == list(range(checkpoint.step + 1, expected + 1))
    relaunch = json.loads((run.path / "nodes" / "1.json").read_text())
    assert relaunch["resume_from"] == str(checkpoint.path)


@pytest.mark.slow
def test_a_machine_reading_another_run_folder_is_refused_when_the_processes_meet(
    tmp_path: Path, tiny_model: Path
) -> None:
    preset = _preset(tmp_path, tiny_model, "training.max_steps=4")
    port = free_port()
    first = subprocess.Popen(  # followed, as a person runs it: its exit code tells
        [sys.executable, "-m", "ftwizard.cli.main", "--preset", str(preset)]
        + ["--nodes", "2", "--node-rank", "0", "--master", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    shared = RunFolder(tmp_path / "runs" / "two")
    wait_for(lambda: (shared.path / "nodes" / "0.json").exists(), what="machine 0's launch")
    # Machine 1 reads its own disk: an older run of the same name, same settings.
    local = tmp_path / "local"
    shutil.copytree(shared.path, local / "two")
    config = (local / "two" / "config.yaml").read_text()
    (local / "two" / "config.yaml").write_text(config.replace(str(tmp_path / "runs"), str(local)))
    record = json.loads((local / "two" / "nodes" / "0.json").read_text())
    (local / "two" / "nodes" / "0.json").write_text(json.dumps({**record, "launch_id": "older"}))
    second = _machine(preset, 1, port, "--set", f"output.runs_root={local}")
    assert second.returncode == 0, second.stderr  # its launcher cannot tell...

    # ... the processes can, once they meet: before any model loads.
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 2, stderr
    status = shared.read_status()
    assert status.state == "failed"
    assert "reads a different run folder" in status.error
    assert not events(shared, "train_begin")
