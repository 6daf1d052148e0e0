"""Several GPUs: the plan per GPU, the engines' configuration, bad input, and a real
2-process DDP run on the CPU (gloo) through the same launcher GPUs use."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import target_from_report, verdict
from ftwizard.core.hardware.probe import probe
from ftwizard.core.models import catalog
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.distributed import plan_gpus, qlora_fsdp_problem, with_processes
from ftwizard.core.planning.engine import accelerate_config, fsdp_settings, trainer_arguments
from ftwizard.core.planning.estimator import estimate
from ftwizard.core.planning.recommend import recommend
from ftwizard.core.runs.checkpoints import Checkpoint, latest_resumable
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.launch import ACCELERATE_FILE, launch, stop, trainer_command
from ftwizard.core.runs.machines import Machines
from ftwizard.core.runs.resume import plan_resume, start_resume
from tests.conftest import ROOT, run_cli
from tests.test_faults import pid_gone, wait_for
from tests.test_training import DEMO_DATA, events, make_run

QWEN_14B = catalog.lookup("Qwen/Qwen2.5-14B-Instruct")
LLAMA_70B = catalog.lookup("meta-llama/Llama-3.1-70B-Instruct")
H100 = "NVIDIA H100 80GB HBM3:80:9.0"


def h100s(fake_nvml, count: int):
    return target_from_report(probe(nvml_module=fake_nvml(*[80] * count, capability=(9, 0))))


@pytest.mark.parametrize("count", [2, 4, 8])
def test_full_fine_tune_too_big_for_one_card_is_sharded_over_the_fewest_that_fit(
    fake_nvml, count
) -> None:
    target = h100s(fake_nvml, count)
    plan = recommend(target, QWEN_14B, DatasetFacts(rows=5000), "domain", method="full")
    dist = plan.config.distributed
    assert dist.strategy == "fsdp" and 2 <= dist.num_processes <= count
    # The figure shown is the estimator's, for exactly this configuration, per GPU.
    per_gpu = estimate(QWEN_14B, plan.config)
    assert plan.estimate is not None
    assert plan.estimate.device_total_gib == per_gpu.device_total_gib
    assert verdict(per_gpu.device_total_gib, target) == "fits" and plan.fits
    # ... and the smallest such number: one fewer process does not fit.
    fewer = with_processes(
        plan.config, dist.num_processes - 1, "fsdp" if dist.num_processes > 2 else "ddp"
    )
    assert verdict(estimate(QWEN_14B, fewer).device_total_gib, target) != "fits"
    reason = next(d.reason for d in plan.decisions if d.topic == "GPUs")
    assert f"over {dist.num_processes} GPUs" in reason and "one GPU would need" in reason


def test_sharding_divides_weights_gradients_and_optimizer_but_not_activations() -> None:
    base = load_config(None, ["method.adapter=full", "training.bf16=true"])
    one = estimate(QWEN_14B, base)
    four = estimate(QWEN_14B, with_processes(base, 4, "fsdp"))
    for part in ("weights", "gradients", "optimizer"):
        assert four.breakdown_gib[part] < one.breakdown_gib[part] / 2, part
    assert four.breakdown_gib["optimizer"] == pytest.approx(
        one.breakdown_gib["optimizer"] / 4, rel=0.01
    )
    assert four.breakdown_gib["activations"] == one.breakdown_gib["activations"]
    # DDP keeps a full replica, plus gradient buckets for the all-reduce.
    ddp = estimate(QWEN_14B, with_processes(base, 4, "ddp"))
    assert ddp.breakdown_gib["weights"] == one.breakdown_gib["weights"]
    assert ddp.breakdown_gib["gradients"] == pytest.approx(
        2 * one.breakdown_gib["gradients"], rel=0.01
    )


def test_a_run_that_fits_one_card_stays_on_one_and_says_what_more_would_give(fake_nvml) -> None:
    target = h100s(fake_nvml, 4)
    gpus = plan_gpus(QWEN_14B, load_config(None, ["method.adapter=qlora"]), target)
    assert (gpus.num_processes, gpus.strategy) == (1, "ddp")
    assert "DDP on all 4" in gpus.reason and "distributed.num_processes=4" in gpus.reason


def test_a_run_too_big_even_sharded_says_so(fake_nvml) -> None:
    target = h100s(fake_nvml, 2)
    gpus = plan_gpus(LLAMA_70B, load_config(None, ["method.adapter=full"]), target)
    assert gpus.verdict == "does not fit" and "even sharded over all 2 GPUs" in gpus.reason


@pytest.mark.parametrize("count", [2, 8])
def test_generated_fsdp_configuration_is_valid_for_accelerate_and_transformers(
    count, tmp_path
) -> None:
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file
    from transformers import TrainingArguments

    config = load_config(
        None,
        [
            "method.adapter=full",
            "training.bf16=true",
            f"distributed.num_processes={count}",
            "distributed.strategy=fsdp",
        ],
    )
    path = tmp_path / "accelerate.yaml"
    path.write_text(yaml.safe_dump(accelerate_config(config)))
    loaded = load_config_from_file(str(path))  # accelerate's own reader: unknown keys fail
    assert str(loaded.distributed_type) == "DistributedType.FSDP"
    assert loaded.num_processes == count and loaded.mixed_precision == "bf16"
    assert loaded.fsdp_config["fsdp_version"] == 2
    arguments = TrainingArguments(output_dir=str(tmp_path / "out"), **trainer_arguments(config))
    plugin = arguments.fsdp_plugin_args
    settings = fsdp_settings(config)
    assert plugin["fsdp_version"] == 2
    assert plugin["reshard_after_forward"] is settings["reshard_after_forward"]
    assert plugin["state_dict_type"] == "FULL_STATE_DICT"


def test_qlora_fsdp_needs_a_shardable_base(monkeypatch) -> None:
    eight_bit = load_config(None, ["method.adapter=qlora", "method.bits=8"])
    assert "8-bit" in (qlora_fsdp_problem(eight_bit) or "")
    four_bit = load_config(None, ["method.adapter=qlora"])
    assert qlora_fsdp_problem(four_bit) is None  # the installed versions can

    import ftwizard.core.planning.distributed as distributed

    monkeypatch.setattr(distributed.metadata, "version", lambda name: "0.41.0")
    assert "bitsandbytes 0.43 or newer" in (qlora_fsdp_problem(four_bit) or "")


def _bad(*args: str, env: dict[str, str]) -> str:
    result = run_cli("--preset", "presets/demo-cpu.yaml", "--dry-run", *args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_more_processes_than_gpus_is_refused() -> None:
    message = _bad("--set", "distributed.num_processes=4", env={"FTWIZARD_FAKE_GPUS": f"{H100},x2"})
    assert "distributed.num_processes is 4, but 2 GPUs are visible" in message
    assert "distributed.num_processes=2" in message


def test_fsdp_with_an_8_bit_base_is_refused() -> None:
    message = _bad(
        *("--set", "method.adapter=qlora", "--set", "method.bits=8"),
        *("--set", "distributed.num_processes=2", "--set", "distributed.strategy=fsdp"),
        env={"FTWIZARD_FAKE_GPUS": f"{H100},x2"},
    )
    assert "FSDP cannot shard this quantised base" in message and "8-bit" in message


def test_cuda_visible_devices_naming_a_missing_gpu_is_refused() -> None:
    message = _bad(env={"FTWIZARD_FAKE_GPUS": f"{H100},x2", "CUDA_VISIBLE_DEVICES": "0,5"})
    assert "CUDA_VISIBLE_DEVICES=0,5 names `5`, which is not a GPU here" in message


def test_fsdp_without_gpus_is_refused_rather_than_run_as_ddp() -> None:
    message = _bad(
        *("--set", "distributed.num_processes=2", "--set", "distributed.strategy=fsdp"),
        env={"FTWIZARD_FAKE_GPUS": ""},
    )
    assert "no GPU here" in message and "quietly run DDP" in message


def test_launcher_commands(tmp_path: Path) -> None:
    def command(*overrides: str) -> list[str]:
        run = make_run(tmp_path / str(len(list(tmp_path.iterdir()))), ROOT, DEMO_DATA, *overrides)
        return trainer_command(run)

    assert command()[1:3] == ["-m", "ftwizard.trainer.run"]
    torchrun = command("distributed.num_processes=2")
    assert torchrun[1:3] == ["-m", "torch.distributed.run"]
    machines = trainer_command(
        make_run(tmp_path / "m", ROOT, DEMO_DATA, "distributed.num_machines=2"),
        machines=Machines(2, 1, "10.0.0.5", 29500),
    )
    assert machines[1:3] == ["-m", "ftwizard.trainer.node"]  # torchrun, wrapped
    assert machines[machines.index("--rdzv-endpoint") + 1] == "10.0.0.5:29500"
    assert machines[machines.index("--rdzv-backend") + 1] == "c10d"
    assert "is_host=0" in machines[machines.index("--rdzv-conf") + 1]
    assert torchrun[torchrun.index("--nproc_per_node") + 1] == "2"
    accelerate = command("distributed.num_processes=2", "distributed.launcher=accelerate")
    assert accelerate[1:3] == ["-m", "accelerate.commands.launch"]
    assert accelerate[accelerate.index("--config_file") + 1].endswith(ACCELERATE_FILE)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("distributed.num_processes", "only with the number of processes it was saved with"),
        ("distributed.num_machines", "only on as many machines as it was saved on"),
    ],
)
def test_fsdp_resume_refuses_another_world_size(tmp_path: Path, key: str, words: str) -> None:
    from ftwizard.core.runs.resume import ResumePlan

    run = make_run(tmp_path, ROOT, DEMO_DATA, "distributed.num_processes=2")
    plan = ResumePlan(run, None, run.read_config(), unsafe=[key])  # type: ignore[arg-type]
    with pytest.raises(UserError, match=words):
        start_resume(plan)


def two_ranks_one_writer(run: RunFolder, checkpoint: Checkpoint) -> list[int]:
    """What a stopped 2-process run must show; returns the steps it logged."""
    # Every rank saved its part (RNG state) into the one checkpoint folder.
    assert {p.name for p in checkpoint.path.glob("rng_state_*.pth")} == {
        "rng_state_0.pth",
        "rng_state_1.pth",
    }
    # One writer: each step logged once, with the memory of both ranks.
    logs = events(run, "log")
    steps = [e.step for e in logs]
    assert steps == list(range(1, len(steps) + 1))
    assert all([r.rank for r in e.ranks] == [0, 1] for e in logs)
    assert (run.path / "logs" / "rank-1.log").exists()
    return steps


@pytest.mark.slow
def test_two_process_ddp_trains_stops_and_resumes(tmp_path: Path, small_model: Path) -> None:
    run = make_run(
        tmp_path,
        small_model,
        DEMO_DATA,
        "distributed.num_processes=2",
        "training.max_steps=-1",
        "training.num_train_epochs=1",
        "training.per_device_train_batch_size=2",
        "training.max_length=128",
        "checkpointing.save_steps=1000",
    )
    launch(run)
    assert (run.path / ACCELERATE_FILE).exists()  # kept beside the run, to extend
    wait_for(lambda: any(e.step >= 3 for e in events(run, "log")), what="step 3")
    assert stop(run, wait_s=300) == "stopped"
    # The SIGTERM went to rank 0; every rank and torchrun itself end.
    launcher = events(run, "launch")[0].pid
    wait_for(lambda: pid_gone(launcher), timeout=60, what="torchrun to exit")
    status = run.read_status()
    checkpoint = latest_resumable(run)
    assert checkpoint.step == status.step and checkpoint.resumable
    steps = two_ranks_one_writer(run, checkpoint)
    # The step count of a world size of 2: each step takes 2 x 2 examples.
    rows = events(run, "data")[0].rows_train
    expected = math.ceil(rows / (2 * 2))
    assert events(run, "train_begin")[0].max_steps == expected

    # DDP checkpoints continue with another number of processes; FSDP's would not.
    assert plan_resume(run, ["distributed.num_processes=1"]).unsafe == []
    start_resume(plan_resume(run))
    wait_for(lambda: run.read_status().state == "finished", what="the resumed run")
    resumed = [e.step for e in events(run, "log")][len(steps) :]
    assert resumed == list(range(checkpoint.step + 1, expected + 1))
    assert RunFolder(run.path).read_status().step == expected


def test_each_gpu_s_memory_is_shown_for_a_distributed_run(tmp_path: Path) -> None:
    from ftwizard.core.runs.events import Log, RankMemory
    from ftwizard.core.runs.watch import RunWatch, describe

    log = Log(
        step=3,
        max_steps=10,
        loss=1.5,
        learning_rate=1e-4,
        gpu_allocated_gb=12.04,
        gpu_peak_gb=13.0,
        ranks=(
            RankMemory(rank=0, gpu_allocated_gb=12.04, gpu_peak_gb=13.0),
            RankMemory(rank=1, gpu_allocated_gb=11.9, gpu_peak_gb=14.2),
        ),
    )
    assert describe(log).endswith("GPU 12.0, 11.9 GB")
    run = RunFolder(tmp_path)
    run.append_event(log)
    watch = RunWatch(run)
    watch.poll()
    assert watch.memory_per_rank == "GPU 12.0, 11.9 GB"
    assert watch.peak_memory_gb == 14.2  # the highest of any GPU


@pytest.mark.slow
def test_accelerate_launch_with_the_generated_file_trains_two_processes(
    tmp_path: Path, tiny_model: Path
) -> None:
    run = make_run(
        tmp_path,
        tiny_model,
        DEMO_DATA,
        "distributed.num_processes=2",
        "distributed.launcher=accelerate",
        "training.max_steps=4",
    )
    launch(run)
    wait_for(lambda: run.read_status().state in ("finished", "failed"), what="the run")
    assert run.read_status().state == "finished", run.log_path.read_text()[-2000:]
    logs = events(run, "log")
    assert [e.step for e in logs] == [1, 2, 3, 4]
    assert all(len(e.ranks) == 2 for e in logs)
    assert (run.path / "logs" / "rank-1.log").exists()
