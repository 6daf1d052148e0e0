"""ftwizard's default plan against LLaMA-Factory on the same job, as alternating pairs.

The job (issue 15): SmolLM2-135M-Instruct, LoRA r 8 (alpha 16) on every linear layer,
the first 200 rows of ``../shared/data/alpaca_en_demo.json`` in the model's own chat
template, max length 256, micro-batch 4, 20 steps, learning rate 2e-4 with a cosine
schedule, no warm-up, no evaluation.

- **ftwizard** runs what ``ftwizard plan`` recommends for this model and data on this
  machine (its precision, dropout and loss decisions), with the job's fixed settings
  above laid over the plan through ``--set``.
- **LLaMA-Factory 0.9.5** runs ``llamafactory-cli train`` with template ``smollm2`` and
  its own defaults for everything the job does not fix. It is installed on first use in
  its own virtual environment under ``.cache/peers/`` (a few minutes; nothing of it
  reaches ftwizard's environment). Its requirements name ``torchaudio`` and
  ``torchvision``, whose releases pin other torch builds (on a CPU box pip would swap
  the CPU wheel for a CUDA build and several GB of NVIDIA libraries); training text
  needs neither, so they are left out and torch is held at the build this
  environment already uses.

Both figures are the Trainer's own ``train_runtime`` (the training loop, model loading
and saving excluded) and ``num_input_tokens_seen``; the two runs of a pair go back to
back, which goes first alternating, and the ratio is the median of the pairs' ratios,
printed with how much the pairs disagree.

    .venv/bin/python bench/peers.py [--pairs 3] [--json FILE]    (or: make bench-peers)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import venv
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "alpaca_en_demo.json"
HOME = ROOT / ".cache" / "peers"
PEER_VENV = HOME / "llamafactory"
LLAMAFACTORY = "llamafactory==0.9.5"
# Left out of LLaMA-Factory's requirements: audio/vision extras whose releases pin
# their own torch, and torch itself (kept at ftwizard's build).
LEFT_OUT = {"torch", "torchaudio", "torchvision"}
JOB = {
    "rows": 200,
    "lora_r": 8,
    "lora_alpha": 16,
    "max_length": 256,
    "batch": 4,
    "steps": 20,
    "learning_rate": 2e-4,
}


@dataclass
class Result:
    tool: str
    train_s: float
    tokens: int
    final_loss: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_s


def _pip(step: str, *args: str) -> None:
    """One pip install in the peer venv, its output kept in ``.cache/peers/install.log``."""
    print(f"  {step} ...", flush=True)
    python = PEER_VENV / "bin" / "python"
    log = HOME / "install.log"
    with log.open("a") as sink:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *args], stdout=sink, stderr=sink
        )
    if done.returncode:
        raise SystemExit(f"installing LLaMA-Factory failed at: {step}; see {log}")


def ensure_llamafactory() -> Path:
    """LLaMA-Factory's CLI in its own venv, installed once (a stamp marks a complete one)."""
    cli = PEER_VENV / "bin" / "llamafactory-cli"
    stamp = PEER_VENV / ".installed"
    if stamp.exists():
        return cli
    import torch

    print(f"installing {LLAMAFACTORY} into {PEER_VENV} (first use only) ...", flush=True)
    venv.create(PEER_VENV, with_pip=True, clear=True)
    torch_pin = f"torch=={torch.__version__.split('+')[0]}"
    constraints = HOME / "constraints.txt"
    constraints.write_text(torch_pin + "\n")
    _pip(f"{torch_pin} (the build ftwizard uses)", torch_pin)
    _pip(LLAMAFACTORY, "--no-deps", LLAMAFACTORY)
    requirements = _peer_python(
        "import importlib.metadata as m; "
        "print('\\n'.join(r for r in m.requires('llamafactory') if 'extra ==' not in r))"
    ).split("\n")
    keep = [r for r in requirements if r and _name(r) not in LEFT_OUT]
    _pip(f"its {len(keep)} requirements, less {sorted(LEFT_OUT)}", "-c", str(constraints), *keep)
    _stub_torchaudio()
    stamp.write_text(f"{LLAMAFACTORY} with {torch_pin}; left out: {sorted(LEFT_OUT)}\n")
    return cli


def _stub_torchaudio() -> None:
    """LLaMA-Factory 0.9.5 imports torchaudio at start-up (``data/mm_plugin.py``) for
    audio datasets; no torchaudio release loads on this torch build (its compiled
    library is built for one torch version), and a text job never calls it. A stand-in
    package without metadata, so transformers still sees no torchaudio."""
    site = Path(_peer_python("import site; print(site.getsitepackages()[0])").strip())
    stub = site / "torchaudio"
    stub.mkdir(exist_ok=True)
    (stub / "__init__.py").write_text(
        '"""Stand-in written by ftwizard\'s bench/peers.py: see _stub_torchaudio there."""\n\n'
        "def __getattr__(name):\n"
        "    raise ImportError(f'torchaudio.{name}: torchaudio is a stand-in in this venv')\n"
    )


def _peer_python(code: str) -> str:
    """What a line of Python prints in the peer venv."""
    python = str(PEER_VENV / "bin" / "python")
    return subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout


def _name(requirement: str) -> str:
    for stop in "<>=!~;[ ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()


def job_data() -> Path:
    """The job's rows, and the dataset_info.json LLaMA-Factory reads them through."""
    folder = HOME / "job"
    folder.mkdir(parents=True, exist_ok=True)
    rows = json.loads(SOURCE.read_text())[: JOB["rows"]]
    data = folder / "alpaca200.json"
    data.write_text(json.dumps(rows, ensure_ascii=False))
    info = {"alpaca200": {"file_name": data.name}}
    (folder / "dataset_info.json").write_text(json.dumps(info))
    return data


def run_llamafactory(cli: Path, model: Path, data: Path, out: Path) -> Result:
    config = {
        "model_name_or_path": str(model),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": JOB["lora_r"],
        "lora_alpha": JOB["lora_alpha"],
        "lora_target": "all",
        "dataset": "alpaca200",
        "dataset_dir": str(data.parent),
        "template": "smollm2",
        "cutoff_len": JOB["max_length"],
        "per_device_train_batch_size": JOB["batch"],
        "gradient_accumulation_steps": 1,
        "max_steps": JOB["steps"],
        "learning_rate": JOB["learning_rate"],
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "include_num_input_tokens_seen": True,
        "output_dir": str(out),
        "overwrite_output_dir": True,
        "preprocessing_num_workers": 1,
        "dataloader_num_workers": 0,
        "seed": 42,
    }
    out.mkdir(parents=True, exist_ok=True)
    # JSON is YAML; LLaMA-Factory 0.9.5 fails to read a .json config (json.load of a path).
    spec = out.parent / f"{out.name}.yaml"
    spec.write_text(json.dumps(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"}
    log = out.parent / f"{out.name}.log"
    with log.open("w") as sink:
        done = subprocess.run([str(cli), "train", str(spec)], stdout=sink, stderr=sink, env=env)
    if done.returncode:
        raise SystemExit(f"LLaMA-Factory failed (exit {done.returncode}); see {log}")
    state = json.loads((out / "trainer_state.json").read_text())
    return _result("LLaMA-Factory", state)


def run_ftwizard(plan: Path, data: Path, runs: Path, name: str) -> Result:
    overrides = {
        "data.path": data,
        "lora.r": JOB["lora_r"],
        "lora.lora_alpha": JOB["lora_alpha"],
        "lora.target_modules": "all-linear",
        "training.max_length": JOB["max_length"],
        "training.per_device_train_batch_size": JOB["batch"],
        "training.gradient_accumulation_steps": 1,
        "training.max_steps": JOB["steps"],
        "training.learning_rate": JOB["learning_rate"],
        "training.lr_scheduler_type": "cosine",
        "training.warmup_ratio": 0,
        "training.logging_steps": 1,
        "evaluation.val_size": 0,
        "checkpointing.save_steps": 10 * JOB["steps"],
        "output.runs_root": runs,
        "output.run_name": name,
    }
    command = [sys.executable, "-m", "ftwizard.cli.main", "--preset", str(plan)]
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    [checkpoint] = sorted((runs / name / "checkpoints").glob("checkpoint-*"))
    return _result("ftwizard", json.loads((checkpoint / "trainer_state.json").read_text()))


def _result(tool: str, state: dict[str, object]) -> Result:
    history = state["log_history"]
    assert isinstance(history, list)
    runtime = next(h["train_runtime"] for h in reversed(history) if "train_runtime" in h)
    loss = next(h["loss"] for h in reversed(history) if "loss" in h)
    return Result(tool, float(runtime), int(state["num_input_tokens_seen"]), float(loss))  # type: ignore[call-overload]


def plan_preset(model: Path, data: Path) -> Path:
    """What `ftwizard plan` recommends for the job's model and data on this machine."""
    preset = HOME / "job" / "plan.yaml"
    subprocess.run(
        [sys.executable, "-m", "ftwizard.cli.main", "plan", "--model", str(model)]
        + ["--data", str(data), "--save-preset", str(preset)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return preset


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["HF_HUB_OFFLINE"] = "1"
    from ftwizard.core.models.builtin import BUILTIN_MODELS

    model = BUILTIN_MODELS["smollm2-135m-instruct"].folder
    cli = ensure_llamafactory()
    data = job_data()
    plan = plan_preset(model, data)
    ours: list[Result] = []
    peers: list[Result] = []
    work = HOME / "runs"
    for pair in range(args.pairs):
        # Back to back, which goes first alternating: the machine drifts between pairs.
        order = ("ftwizard", "peer") if pair % 2 == 0 else ("peer", "ftwizard")
        for tool in order:
            if tool == "ftwizard":
                ours.append(run_ftwizard(plan, data, work, f"ftwizard-{pair}-{time.time():.0f}"))
                print(f"  pair {pair + 1}: {_line(ours[-1])}", flush=True)
            else:
                peers.append(run_llamafactory(cli, model, data, work / f"llamafactory-{pair}"))
                print(f"  pair {pair + 1}: {_line(peers[-1])}", flush=True)
    ratios = [o.train_s / p.train_s for o, p in zip(ours, peers, strict=True)]
    ratio = statistics.median(ratios)
    spread = max(ratios) - min(ratios) if len(ratios) > 1 else float("nan")
    print(
        f"job: SmolLM2-135M LoRA r8, {JOB['rows']} alpaca rows, len {JOB['max_length']}, "
        f"batch {JOB['batch']}, {JOB['steps']} steps; {args.pairs} alternating pairs on "
        f"{os.cpu_count()} cores ({time.strftime('%Y-%m-%d')})"
    )
    for name, results in (("ftwizard (its plan)", ours), ("LLaMA-Factory 0.9.5", peers)):
        median = statistics.median(r.train_s for r in results)
        tokens = sorted({r.tokens for r in results})
        speed = statistics.median(r.tokens_per_s for r in results)
        print(
            f"  {name:<20}: train {median:6.1f} s (runs {[round(r.train_s, 1) for r in results]}),"
            f" tokens seen {tokens}, {speed:.0f} tokens/s, final loss "
            f"{statistics.median(r.final_loss for r in results):.4f}"
        )
    agreement = f"they disagree by {spread:.1%}" if len(ratios) > 1 else "one pair: no spread"
    print(
        f"  train time ratio    : {ratio:.3f} x LLaMA-Factory (median of the pairs' "
        f"{[round(r, 3) for r in ratios]}; {agreement}; goal <= 1.0)"
    )
    if args.json:
        figures = {
            "job": JOB,
            "ratio": ratio,
            "spread": spread,
            "ftwizard": [asdict(r) for r in ours],
            "llamafactory": [asdict(r) for r in peers],
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def _line(result: Result) -> str:
    return (
        f"{result.tool:<13} {result.train_s:6.1f} s, {result.tokens} tokens, "
        f"{result.tokens_per_s:.0f} tokens/s, final loss {result.final_loss:.4f}"
    )


if __name__ == "__main__":
    sys.exit(main())
