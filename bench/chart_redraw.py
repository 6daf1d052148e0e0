"""What redrawing the dashboard's charts costs on a long run (goal: < 50 ms at 100,000 steps).

A run of ``--steps`` logged steps (loss, eval every 100, memory, tokens/s, GPU use on
two cards, DPO's rewards) is folded into a ``RunWatch`` as the dashboard's tail would
read it. Then, as after each new event, every chart the dashboard shows is built from
the watch and drawn at the 120x40 dashboard's sizes: the loss (or the objective's) in
the main box, memory and speed below. The figure is the median of ``--repeats``
redraws; folding the events in (once, at attach) is printed beside it.

    .venv/bin/python bench/chart_redraw.py [--steps 100000] [--repeats 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.runs.events import Evaluation, Log, RankMemory  # noqa: E402
from ftwizard.core.runs.folder import RunFolder  # noqa: E402
from ftwizard.core.runs.status import RunStatus  # noqa: E402
from ftwizard.core.runs.watch import RunWatch  # noqa: E402
from ftwizard.views.charts import draw  # noqa: E402
from ftwizard.views.run_charts import (  # noqa: E402
    ChartOptions,
    loss_chart,
    memory_chart,
    objective_chart,
    speed_chart,
)

GOAL_MS = 50.0
# The 120x40 dashboard's chart boxes, inside their borders.
MAIN, SMALL = (70, 15), (55, 6)


def fold_run(steps: int) -> RunWatch:
    watch = RunWatch(RunFolder(Path("unused")))
    for step in range(1, steps + 1):
        loss = 0.4 + 3 * math.exp(-step / (steps / 8)) + 0.05 * math.sin(step)
        ranks = tuple(
            RankMemory(
                rank=r,
                ram_gb=3.0,
                gpu_allocated_gb=20 + r + math.sin(step / 500),
                gpu_reserved_gb=24 + r,
                gpu_peak_gb=26.0,
                gpu_utilization=90 + 5 * math.sin(step / 50),
            )
            for r in range(2)
        )
        watch.fold(
            Log(
                step=step,
                max_steps=steps,
                loss=loss,
                learning_rate=1e-4,
                tokens_per_s=9000 + 200 * math.sin(step / 30),
                ranks=ranks,
                metrics={"rewards/margins": step / steps, "rewards/chosen": 0.1},
            )
        )
        if step % 100 == 0:
            watch.fold(Evaluation(step=step, eval_loss=loss + 0.1, perplexity=math.exp(loss)))
    return watch


def redraw(watch: RunWatch, status: RunStatus, objective: bool) -> None:
    main = ChartOptions(width=MAIN[0])
    chart = objective_chart(watch, main) if objective else loss_chart(watch, main)
    assert chart is not None
    draw(chart, *MAIN)
    small = ChartOptions(width=SMALL[0])
    draw(memory_chart(watch, status, small), *SMALL)
    draw(speed_chart(watch, small), *SMALL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    started = time.perf_counter()
    watch = fold_run(args.steps)
    fold_s = time.perf_counter() - started
    status = RunStatus(state="running", step=args.steps, estimate_gb=30.0)
    timings: dict[str, list[float]] = {"loss": [], "objective": []}
    for _ in range(args.repeats):
        for kind in timings:
            begin = time.perf_counter()
            redraw(watch, status, objective=kind == "objective")
            timings[kind].append((time.perf_counter() - begin) * 1000)
    figures = {
        "steps": args.steps,
        "fold_events_s": round(fold_s, 2),
        "redraw_ms": {k: round(statistics.median(v), 1) for k, v in timings.items()},
        "goal_ms": GOAL_MS,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    }
    worst = max(figures["redraw_ms"].values())  # type: ignore[union-attr]
    print(
        f"{args.steps:,} steps folded in {fold_s:.1f} s; redrawing the dashboard's charts: "
        f"loss view {figures['redraw_ms']['loss']} ms, "  # type: ignore[index]
        f"objective view {figures['redraw_ms']['objective']} ms "  # type: ignore[index]
        f"(median of {args.repeats}; goal < {GOAL_MS:.0f} ms): "
        f"{'met' if worst < GOAL_MS else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
