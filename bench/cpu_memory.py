"""The CPU plan's RAM against the trainer's measured peak (goal: within 15 %).

Each case runs the real trainer headless (``ftwizard --preset ... --set ...``) and
compares the plan's figure (``estimate_gb`` in the run's status, written at launch by
``core/planning/cpu_memory.py``) with the measured peak: the highest of the trainer's
RSS high-water marks in its events (``train_begin``: the loading; each log: the steps
since the log before; each evaluation: itself). The goal cases:

* ``demo``: ``make demo``'s run (the demo-cpu preset, all its steps);
* ``chat``: the plan ``ftwizard plan`` makes for 300 multi-turn conversations with tool
  calls (``bench/data/glaive_toolcall_en_demo.json``: batch 1, max_length 1280, 5 %
  held out), 8 steps with an evaluation every 4.

``alpaca`` (the demo preset on 999 alpaca rows, 12 steps, an evaluation every 6) is not
a goal case: ``--calibrate`` prints what its measured moments make of the module's
constants (the loading's copies, the heap slack), so they come from a run the goal
cases do not share.

    .venv/bin/python bench/cpu_memory.py [--cases demo,chat] [--calibrate] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.runs.events import Evaluation, Log, TrainBegin  # noqa: E402
from ftwizard.core.runs.folder import RunFolder  # noqa: E402

GOAL = 0.15
DATA = ROOT / "tests" / "data"


@dataclass
class Measured:
    case: str
    planned_gib: float
    peak_gib: float
    loading_gib: float
    training_gib: float
    evaluation_gib: float

    @property
    def error(self) -> float:
        return self.planned_gib / self.peak_gib - 1


def _ftwizard(*args: str, cwd: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "ftwizard.cli.main", *args]
    print("$ ftwizard " + " ".join(args), flush=True)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ftwizard {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _case_args(case: str, folder: Path) -> list[str]:
    demo = str(ROOT / "presets" / "demo-cpu.yaml")
    if case == "demo":
        return ["--preset", demo]
    if case == "alpaca":
        return [
            "--preset",
            demo,
            "--set",
            f"data.path={DATA / 'alpaca_en_demo.json'}",
            "--set",
            "training.max_steps=12",
            "--set",
            "evaluation.eval_steps=6",
        ]
    if case == "chat":
        preset = folder / "chat.yaml"
        _ftwizard(
            "plan",
            "--model",
            "smollm2-135m-instruct",
            "--data",
            str(ROOT / "bench" / "data" / "glaive_toolcall_en_demo.json"),
            "--save-preset",
            str(preset),
            cwd=folder,
        )
        return [
            "--preset",
            str(preset),
            "--set",
            "training.max_steps=8",
            "--set",
            "evaluation.eval_steps=4",
        ]
    raise SystemExit(f"unknown case {case}")


def measure(case: str, folder: Path) -> Measured:
    args = _case_args(case, folder)
    _ftwizard(
        *args, "--set", f"output.run_name={case}", "--set", "output.runs_root=runs", cwd=folder
    )
    run = RunFolder(folder / "runs" / case)
    events, _ = run.read_events()
    status = run.read_status()
    assert status.state == "finished", f"{case}: {status.state} {status.error}"
    loading = max(e.ram_peak_gb or 0.0 for e in events if isinstance(e, TrainBegin))
    evaluation = max(
        [e.ram_peak_gb or 0.0 for e in events if isinstance(e, Evaluation)], default=0.0
    )
    training = 0.0
    after_eval = False
    for event in events:  # a log's peak covers the evaluation before it: not a step's
        if isinstance(event, Evaluation):
            after_eval = True
        elif isinstance(event, Log):
            if not after_eval:
                training = max(training, event.ram_peak_gb or 0.0)
            after_eval = False
    peaks = [e.ram_peak_gb or 0.0 for e in events if isinstance(e, (Log, Evaluation, TrainBegin))]
    assert status.estimate_gb is not None
    return Measured(case, status.estimate_gb, max(peaks), loading, training, evaluation)


def calibrate(measured: Measured, folder: Path) -> None:
    """What the alpaca run's moments make of cpu_memory's constants: each measured peak
    over the process and the data, against the tensors the plan counts for it."""
    from ftwizard.core.planning import cpu_memory
    from ftwizard.core.runs.preflight import check_before_launch, with_token_counts

    config = RunFolder(folder / "runs" / measured.case).read_config()
    facts, data = check_before_launch(config, None)
    peak = cpu_memory.cpu_peak(facts, config, with_token_counts(config, data))
    base = peak.breakdown_gib["process"] + peak.breakdown_gib["tokenised data"]
    tensors = peak.tensors_gib
    print(
        f"calibration: the loading holds {(measured.loading_gib - base) / tensors['loading']:.2f}"
        f" x the weights (LOADING_COPIES = {cpu_memory.LOADING_COPIES}); a step "
        f"{(measured.training_gib - base) / tensors['training'] - 1:+.0%} over its tensors, "
        f"an evaluation {(measured.evaluation_gib - base) / tensors['evaluation'] - 1:+.0%} "
        f"(HEAP_SLACK = {cpu_memory.HEAP_SLACK:+.0%})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="demo,chat")
    parser.add_argument("--calibrate", action="store_true", help="also run the alpaca case")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = args.cases.split(",") + (["alpaca"] if args.calibrate else [])
    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for case in cases:
            measured = measure(case, folder)
            rows.append(measured)
            print(
                f"{case}: plan {measured.planned_gib:.2f} GiB, measured peak "
                f"{measured.peak_gib:.2f} GiB ({measured.error:+.1%}; loading "
                f"{measured.loading_gib:.2f}, a step {measured.training_gib:.2f}, "
                f"an evaluation {measured.evaluation_gib:.2f})",
                flush=True,
            )
            if case == "alpaca":
                calibrate(measured, folder)
    goal_rows = [r for r in rows if r.case != "alpaca"]
    holds = all(abs(r.error) <= GOAL for r in goal_rows)
    print(
        f"goal: every case within {GOAL:.0%} of its measured peak: {'met' if holds else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"goal": GOAL, "rows": [{**asdict(r), "error": r.error} for r in rows]},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
