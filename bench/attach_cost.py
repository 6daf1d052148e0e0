"""What watching costs the trainer (goal: an attached dashboard slows training < 2 %).

One real LoRA run of the demo model (the demo-cpu preset, logging every step) trains
for the whole measurement. Time is cut into windows of equal length, alternately
with nothing attached and with the wizard's dashboard attached (detached first and
last): the real app in an 80x24 pseudo-terminal whose output this script drains, as
an SSH client would. The viewer is started before its window opens and ended after
it closes, so its own start-up is not counted. Each step's duration comes from the
trainer's log events; a step counts for a window when it starts and ends inside it.
Each attached window's median tokens/s is compared with the mean of the two detached
windows beside it; the figure is the median of those costs. The viewer's own CPU use is
printed too: on a small machine whose cores all train, it is what attaching takes.

    .venv/bin/python bench/attach_cost.py [--pairs 5] [--window 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL = 0.02

from bench.tui import start_in_pty  # noqa: E402 - after the path is set

VIEWER = r"""
import sys
from pathlib import Path
from ftwizard.core.runs.folder import RunFolder
from ftwizard.tui.app import FtwizardApp

run = RunFolder(Path(sys.argv[1]))

class Viewer(FtwizardApp):
    def on_ready(self) -> None:
        self.open_dashboard(run)

Viewer(runs_root=str(run.path.parent)).run()
"""


class AttachedDashboard:
    """The wizard showing ``run``'s dashboard in an 80x24 pty, its output drained."""

    def __init__(self, run_path: Path) -> None:
        self.process, self.leader = start_in_pty([sys.executable, "-c", VIEWER, str(run_path)])
        self.seen = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self.leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.leader, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.seen += chunk[-4096:]
                del self.seen[:-8192]

    def wait_until_showing(self, words: bytes = b"tokens/s", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.seen:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("the dashboard did not appear in the pty")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        import psutil

        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        self.process.kill()  # the trainer is detached: a viewer's end never stops it
        self.process.wait()
        os.close(self.leader)


def step_speeds(events: Path) -> list[tuple[float, float, float]]:
    """(start, end, tokens/s) of each logged step after the first.

    Tokens per second, not seconds per step: batches differ in length, and a window
    that happened to draw longer ones would look slower for no other reason.
    """
    logs = [json.loads(line) for line in events.read_text().splitlines()]
    steps = [e for e in logs if e.get("type") == "log" and e.get("tokens_per_s")]
    return [
        (before["time"], after["time"], after["tokens_per_s"])
        for before, after in zip(steps, steps[1:], strict=False)
        if after["step"] == before["step"] + 1
    ]


def measure(pairs: int, window: float, runs_root: Path) -> dict[str, object]:
    from ftwizard.core.config.yaml_io import load_config
    from ftwizard.core.hardware.probe import probe
    from ftwizard.core.runs.launch import stop
    from ftwizard.core.runs.preflight import prepare_launch, start_run
    from ftwizard.core.trainer_calls import prepare_builtin_model

    prepare_builtin_model("smollm2-135m-instruct")
    config = load_config(
        ROOT / "presets" / "demo-cpu.yaml",
        [
            f"output.runs_root={runs_root}",
            f"data.path={ROOT / 'data' / 'demo' / 'wizard-identity.jsonl'}",
            "training.max_steps=100000",
            "training.logging_steps=1",
            "evaluation.val_size=0",
            "checkpointing.save_steps=100000",
        ],
    )
    run = start_run(prepare_launch(config, probe()))
    windows: list[tuple[str, float, float]] = []
    viewer_cpu: list[float] = []  # the viewer's CPU time per second of each window

    def detached_window() -> None:
        start = time.time()
        time.sleep(window)
        windows.append(("detached", start, time.time()))

    try:
        while run.read_status().step < 3:  # past loading and warm-up
            time.sleep(0.5)
        detached_window()
        for _ in range(pairs):
            viewer = AttachedDashboard(run.path)
            viewer.wait_until_showing()
            start, cpu_before = time.time(), viewer.cpu_seconds()
            time.sleep(window)
            windows.append(("attached", start, time.time()))
            viewer_cpu.append((viewer.cpu_seconds() - cpu_before) / (time.time() - start))
            viewer.close()
            detached_window()
    finally:
        stop(run, wait_s=120)
    speeds = step_speeds(run.events_path)
    medians = [
        statistics.median(tps for start, end, tps in speeds if opened <= start and end <= closed)
        for _, opened, closed in windows
    ]
    # Windows go detached, attached, detached, ...: each attached window is compared
    # with the mean of the two beside it, which cancels a slow drift of the machine.
    costs = [
        (medians[i - 1] + medians[i + 1]) / 2 / medians[i] - 1 for i in range(1, len(medians), 2)
    ]
    return {
        "pairs": pairs,
        "window_s": window,
        "window_medians_tokens_per_s": [
            (kind, round(m, 1)) for (kind, _, _), m in zip(windows, medians, strict=True)
        ],
        "costs": costs,
        "cost": statistics.median(costs),
        "viewer_cpu_share": statistics.median(viewer_cpu),
        "goal": GOAL,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=5, help="attached windows")
    parser.add_argument("--window", type=float, default=20.0, help="seconds per window")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(args.pairs, args.window, Path(tmp) / "runs")
    machine = f"{platform.node()} ({os.cpu_count()} cores)"
    print(f"Trainer throughput with and without the dashboard attached, on {machine}")
    windows = ", ".join(
        f"{kind} {tps:,.0f}" for kind, tps in figures["window_medians_tokens_per_s"]
    )  # type: ignore[attr-defined]
    print(f"  tokens/s, median of each {args.window:.0f} s window in order: {windows}")
    costs = ", ".join(f"{c:+.1%}" for c in figures["costs"])  # type: ignore[attr-defined]
    print(f"  cost of each attached window against the two beside it: {costs}")
    print(f"  the dashboard's own CPU use: {figures['viewer_cpu_share']:.1%} of one core")
    cost = float(figures["cost"])  # type: ignore[arg-type]
    verdict = "met" if cost < GOAL else "MISSED"
    print(f"  cost of attaching: {cost:+.1%} (goal < {GOAL:.0%}: {verdict})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
