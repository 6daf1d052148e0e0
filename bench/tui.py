"""The wizard's responsiveness, measured (goals: first frame under 1.0 s; event-loop lag
p95 under 50 ms while a real trainer runs beside it).

1. First frame: ``ftwizard`` is started in a pseudo-terminal of 80x24, as in an SSH
   session, and timed from process start until the start screen's welcome text
   reaches the terminal; then Ctrl+Q quits it. Median and worst of N runs.
2. Event-loop lag: the app runs (headless, 120x40) with the dashboard attached to a
   real LoRA run of the demo model started beside it. A probe task asks the event
   loop for a 10 ms sleep over and over; how late each wake-up comes is the lag a
   key press would see. Percentiles over the training steps.

    .venv/bin/python bench/tui.py [--runs 5] [--seconds 40] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import platform
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIRST_FRAME_GOAL_S = 1.0
LAG_GOAL_MS = 50.0
WELCOME = b"Welcome to ftwizard"


def entry_point() -> list[str]:
    script = Path(sys.executable).with_name("ftwizard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ftwizard.cli.main"]


def start_in_pty(
    command: list[str], cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """``command`` in its own 80x24 pseudo-terminal, as in an SSH session; returns the
    process and the terminal's leader end, which the caller reads."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    process = subprocess.Popen(
        command,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    return process, leader


def first_frame_s(runs_root: Path) -> float:
    """Seconds from starting ``ftwizard`` in an 80x24 pty to the welcome text on screen."""
    started = time.perf_counter()
    process, leader = start_in_pty(entry_point(), cwd=runs_root)
    seen = b""
    elapsed = float("nan")
    deadline = started + 20
    while time.perf_counter() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.05)
        if ready:
            try:
                seen += os.read(leader, 65536)
            except OSError:
                break
            if WELCOME in seen:
                elapsed = time.perf_counter() - started
                break
    os.write(leader, b"\x11")  # Ctrl+Q
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    os.close(leader)
    return elapsed


async def loop_lag_ms(runs_root: Path, seconds: float) -> tuple[list[float], int]:
    """Wake-up delays of a 10 ms sleep while the dashboard follows a real run."""
    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.core.hardware.probe import probe
    from ftwizard.core.runs.folder import RunFolder
    from ftwizard.core.runs.launch import stop
    from ftwizard.core.runs.preflight import prepare_launch, start_run
    from ftwizard.core.trainer_calls import prepare_builtin_model
    from ftwizard.tui.app import FtwizardApp

    prepare_builtin_model("smollm2-135m-instruct")
    config = load_config(
        ROOT / "presets" / "demo-cpu.yaml",
        [
            f"output.runs_root={runs_root}",
            f"data.path={ROOT / 'data' / 'demo' / 'wizard-identity.jsonl'}",
            "training.max_steps=1000",
            "training.logging_steps=1",
            "checkpointing.save_steps=1000",
        ],
    )
    run: RunFolder = start_run(prepare_launch(config, probe()))
    lags: list[float] = []
    app = FtwizardApp(runs_root=str(runs_root))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            app.open_dashboard(run)
            while run.read_status().state != "running":
                await pilot.pause(0.2)
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                asked = time.perf_counter()
                await asyncio.sleep(0.010)
                lags.append((time.perf_counter() - asked - 0.010) * 1000)
            steps = run.read_status().step
    finally:
        stop(run, wait_s=120)
    return lags, steps


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first_frame_s(root)  # warm the file cache once
        frames = [first_frame_s(root) for _ in range(args.runs)]
        lags, steps = asyncio.run(loop_lag_ms(root / "runs", args.seconds))
    result = {
        "machine": machine,
        "first_frame_s": {
            "median": statistics.median(frames),
            "max": max(frames),
            "runs": len(frames),
            "goal": FIRST_FRAME_GOAL_S,
        },
        "event_loop_lag_ms": {
            "p50": percentile(lags, 0.50),
            "p95": percentile(lags, 0.95),
            "max": max(lags),
            "samples": len(lags),
            "training_steps_during": steps,
            "goal_p95": LAG_GOAL_MS,
        },
    }
    frame, lag = result["first_frame_s"], result["event_loop_lag_ms"]
    print(f"TUI responsiveness on {machine}")
    print(
        f"  first frame (80x24 pty): median {frame['median']:.3f} s, worst {frame['max']:.3f} s "
        f"over {frame['runs']} runs (goal < {FIRST_FRAME_GOAL_S} s)"
    )
    print(
        f"  event-loop lag beside a training run ({steps} steps in {args.seconds:.0f} s): "
        f"p50 {lag['p50']:.1f} ms, p95 {lag['p95']:.1f} ms, max {lag['max']:.1f} ms "
        f"over {lag['samples']} samples (goal p95 < {LAG_GOAL_MS:.0f} ms)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
