"""Start-up time of the light commands (goal: under 0.5 s each on 2 cores).

Runs each command several times in a fresh process and prints the median and
the worst wall time, plus a JSON copy. Not a test: timings depend on the machine.

    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 0.5
COMMANDS = [["--help"], ["--version"], ["detect"], ["detect", "--json"], ["presets"]]


def entry_point() -> list[str]:
    script = Path(sys.executable).with_name("ftwizard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ftwizard.cli.main"]


def time_command(argv: list[str], runs: int) -> list[float]:
    times = []
    env = {**os.environ, "COLUMNS": "100"}
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*entry_point(), *argv], capture_output=True, check=True, env=env, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    time_command(["--version"], 1)  # warm the file cache once
    rows = []
    for argv in COMMANDS:
        times = time_command(argv, args.runs)
        rows.append(
            {
                "command": "ftwizard " + " ".join(argv),
                "median_s": statistics.median(times),
                "max_s": max(times),
                "goal_s": GOAL_S,
            }
        )
    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})"
    print(f"start-up, {args.runs} runs each, on {machine}")
    print(f"{'command':<28}{'median':>10}{'max':>10}  goal")
    for row in rows:
        ok = "ok" if row["median_s"] < GOAL_S else "MISSED"
        print(
            f"{row['command']:<28}{row['median_s']:>9.3f}s{row['max_s']:>9.3f}s  < {GOAL_S} s {ok}"
        )
    result = {"machine": machine, "runs": args.runs, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
