"""Does GRPO raise the reward on this machine, within minutes? The demo's GRPO preset
(SmolLM2-135M-Instruct, LoRA, the shipped arithmetic prompts, the answer and format
rewards) trained from the command line as a person would, then its reward curve.

    .venv/bin/python bench/grpo_demo.py [--steps N] [--json FILE]

Prints the mean reward per step as a chart, the mean of the first and the last third of
the steps with the difference's 95 % interval (steps as samples), the time it took and
the plan's ETA beside it (the throughput model's decoding term).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.evaluation.intervals import Z95, mean_interval  # noqa: E402
from ftwizard.core.runs.events import Log, TrainBegin  # noqa: E402
from ftwizard.core.runs.folder import RunFolder  # noqa: E402
from ftwizard.views.charts import Chart, Line, draw  # noqa: E402


def train(steps: int | None, root: Path) -> RunFolder:
    name = f"grpo-bench-{time.strftime('%Y%m%d-%H%M%S')}"
    command = [
        str(ROOT / ".venv" / "bin" / "ftwizard"),
        "--preset",
        str(ROOT / "presets" / "demo-grpo-cpu.yaml"),
        "--set",
        f"output.run_name={name}",
        "--set",
        f"output.runs_root={root}",
    ]
    if steps is not None:
        command += ["--set", f"training.max_steps={steps}"]
    print("$", " ".join(command[1:]), flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return RunFolder(root / name)


def difference(first: list[float], last: list[float]) -> tuple[float, float, float]:
    """The difference of two means with its normal 95 % interval (Welch's standard error)."""
    a, b = mean_interval(first), mean_interval(last)
    se = math.hypot(a.half_width / Z95, b.half_width / Z95)
    diff = b.value - a.value
    return diff, diff - Z95 * se, diff + Z95 * se


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, help="default: the preset's (20)")
    parser.add_argument("--root", type=Path, default=ROOT / "runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    run = train(args.steps, args.root)
    minutes = (time.perf_counter() - started) / 60
    events, _ = run.read_events()
    logs = [e for e in events if isinstance(e, Log)]
    rewards = [(log.step, log.metrics["reward"]) for log in logs]
    third = max(1, len(rewards) // 3)
    first = [r for _, r in rewards[:third]]
    last = [r for _, r in rewards[-third:]]
    diff, low, high = difference(first, last)
    begin = next(e.time for e in events if isinstance(e, TrainBegin))
    trained_s = logs[-1].time - begin
    planned_s = run.read_status().estimate_eta_s
    print(draw(Chart((Line("mean reward", rewards, "green"),)), 70, 12).plain)
    print(
        f"mean reward: first {third} steps {sum(first) / third:.3f}, last {third} steps "
        f"{sum(last) / third:.3f}; difference {diff:+.3f} (95 % interval {low:+.3f} to "
        f"{high:+.3f})"
    )
    print(
        f"{len(logs)} steps in {minutes:.1f} min in all; training {trained_s:.0f} s "
        f"against the plan's {planned_s or float('nan'):.0f} s"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "run": str(run.path),
                    "rewards": rewards,
                    "functions": {
                        key: [log.metrics.get(key) for log in logs]
                        for key in logs[-1].metrics
                        if key.startswith("rewards/") and key.endswith("/mean")
                    },
                    "first_mean": sum(first) / third,
                    "last_mean": sum(last) / third,
                    "difference": [diff, low, high],
                    "minutes": minutes,
                    "trained_s": trained_s,
                    "planned_s": planned_s,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
