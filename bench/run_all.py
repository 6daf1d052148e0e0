"""Every benchmark, one after another from this process, as one table of figures and goals.

Each script runs in its own process with ``--json``; this collects what they wrote
and prints one row per figure: what, the figure, the goal and whether it holds.
A JSON copy goes to ``--json`` (default ``bench/results.json``, not tracked).

    .venv/bin/python bench/run_all.py [--quick] [--json FILE]

``--quick`` runs fewer repeats and shorter trainings: a check that the suite works,
not figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    what: str
    figure: str
    goal: str
    holds: bool | None  # None: a figure without a goal, or one the noise cannot decide
    unresolved: bool = False  # repeated runs disagree by more than the goal's margin

    @property
    def verdict(self) -> str:
        if self.unresolved:
            return "within noise"
        return {True: "met", False: "MISSED", None: "-"}[self.holds]


def _script(name: str, *args: str) -> dict[str, Any]:
    """Run ``bench/NAME.py ARGS --json TMP`` and return what it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args, "--json", str(out)]
        print(f"$ {' '.join(command[1:])}", flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
        return dict(json.loads(out.read_text()))


def startup(quick: bool) -> list[Row]:
    figures = _script("startup", "--runs", "3" if quick else "7")
    rows = []
    for item in figures["rows"]:
        if item["command"] in ("ftwizard --help", "ftwizard detect"):
            rows.append(
                Row(
                    f"`{item['command']}` (median)",
                    f"{item['median_s']:.3f} s",
                    f"< {item['goal_s']} s",
                    item["median_s"] < item["goal_s"],
                )
            )
    return rows


def tui(quick: bool) -> list[Row]:
    figures = _script("tui", "--runs", "2" if quick else "5", "--seconds", "15" if quick else "40")
    frame, lag = figures["first_frame_s"], figures["event_loop_lag_ms"]
    return [
        Row(
            "wizard: first frame in an 80x24 pty (median)",
            f"{frame['median']:.3f} s",
            f"< {frame['goal']} s",
            frame["median"] < frame["goal"],
        ),
        Row(
            "wizard: event-loop lag beside a real training (p95)",
            f"{lag['p95']:.1f} ms ({lag['samples']} samples)",
            f"< {lag['goal_p95']:.0f} ms",
            lag["p95"] < lag["goal_p95"],
        ),
    ]


# Every run a benchmark makes here, and every recorded GPU run: (what, predicted seconds,
# measured seconds), for the throughput model's summary row (``eta``).
ETA_CASES: list[tuple[str, float, float]] = []


def eta_row(what: str, predicted: float, measured: float) -> Row:
    ETA_CASES.append((what, predicted, measured))
    error = predicted / measured - 1
    return Row(
        f"ETA: {what}",
        f"predicted {predicted:.2f}, measured {measured:.2f} ({error:+.0%})",
        "within 30 %",
        abs(error) <= 0.30,
    )


def throughput(quick: bool) -> list[Row]:
    rows = []
    for method in ("lora", "qlora"):
        figures = _script(
            "throughput",
            *("--method", method),
            *("--steps", "6" if quick else "15"),
            *("--repeats", "1" if quick else "3"),
        )
        name = "LoRA" if method == "lora" else "QLoRA"
        rows.append(
            eta_row(
                f"demo {name} s/step (throughput bench)",
                figures["predicted_s_per_step"],
                figures["ftwizard_s_per_step"],
            )
        )
        ratio, noise = figures["ratio"], figures["spread"]
        spread = "one pair" if quick else f"the pairs' ratios span {noise:.2f}"
        rows.append(
            Row(
                f"{name} throughput, `ftwizard --preset` / plain trl",
                f"{ratio:.3f} ({spread})",
                ">= 0.97",
                ratio >= 0.97,
                # Pairs that disagree by more than the goal's margin either way cannot
                # decide it (and one pair cannot say how much they disagree).
                unresolved=not noise <= 0.06,
            )
        )
        share = figures["added_ms_per_step"] / 1000 / figures["ftwizard_s_per_step"]
        rows.append(
            Row(
                f"{name}: what ftwizard's callbacks add to a step",
                f"{figures['added_ms_per_step']:.2f} ms = {share:.2%} of a step",
                "< 3 % of a step",
                share < 0.03,
            )
        )
    return rows


def step_floor(quick: bool) -> list[Row]:
    """The tiny-model job: ftwizard's trainer against a plain PyTorch + peft loop."""
    figures = _script(
        "step_floor",
        *("--steps", "20" if quick else "40"),
        *("--repeats", "1" if quick else "3"),
        *("--ways", "ftwizard,plain"),
    )
    ratio, pairs = figures["ftwizard_over_plain"], figures["pair_ratios"]
    phases = figures["ftwizard"]["phases_ms"]
    ours = phases["data_s"] + phases["ftwizard_s"] + phases["other_s"]
    step = figures["ftwizard"]["ms_per_step"]
    return [
        Row(
            "tiny-model step, ftwizard / plain PyTorch loop",
            f"{ratio:.3f} (pairs {min(pairs):.3f}-{max(pairs):.3f})",
            "<= 1.05",
            ratio <= 1.05,
            unresolved=len(pairs) < 3 or max(pairs) - min(pairs) > 0.1,
        ),
        Row(
            "tiny-model step outside forward, backward and optimizer",
            f"{ours:.1f} ms of {step:.0f} ms ({ours / step:.1%})",
            "< 2 % of a step",
            ours / step < 0.02,
        ),
    ]


def published_speed(quick: bool) -> list[Row]:
    """The GPU time model against published step times it was not fitted on."""
    figures = _script("throughput_published")
    median, worst = figures["median_abs_error"], figures["max_ratio"]
    return [
        Row(
            f"GPU time model vs {figures['points']} published step times",
            f"median |error| {median:.0%}, worst {worst:.2f}x",
            "median <= 25 %, < 2x",
            median <= 0.25 and worst < 2,
        )
    ]


def attach_cost(quick: bool) -> list[Row]:
    figures = _script(
        "attach_cost", *("--pairs", "1" if quick else "5"), *("--window", "15" if quick else "20")
    )
    costs, cpu = figures["costs"], figures["viewer_cpu_share"]
    return [
        Row(
            "trainer throughput cost of an attached dashboard",
            f"{figures['cost']:+.1%} (windows {min(costs):+.0%} to {max(costs):+.0%})",
            "< 2 %",
            figures["cost"] < 0.02,
            # windows that disagree by more than the goal cannot decide it either way
            # (and one window cannot say how much they disagree)
            unresolved=len(costs) < 3 or max(costs) - min(costs) > 0.04,
        ),
        Row(
            "the attached dashboard's own CPU use",
            f"{cpu:.1%} of one core = {cpu / (os.cpu_count() or 1):.1%} of the machine",
            "< 2 % of the machine",
            cpu / (os.cpu_count() or 1) < 0.02,
        ),
    ]


def chart_redraw(quick: bool) -> list[Row]:
    figures = _script("chart_redraw", "--repeats", "5" if quick else "20")
    worst = max(figures["redraw_ms"].values())
    return [
        Row(
            f"dashboard charts redrawn at {figures['steps']:,} steps (median)",
            f"{worst:.1f} ms (folding the events in at attach: {figures['fold_events_s']} s)",
            f"< {figures['goal_ms']:.0f} ms",
            worst < figures["goal_ms"],
        )
    ]


def cpu_memory(quick: bool) -> list[Row]:
    figures = _script("cpu_memory", "--cases", "demo" if quick else "demo,chat")
    return [
        Row(
            f"CPU plan's RAM against the measured peak ({row['case']})",
            f"{row['planned_gib']:.2f} vs {row['peak_gib']:.2f} GiB ({row['error']:+.1%})",
            f"within {figures['goal']:.0%}",
            abs(row["error"]) <= figures["goal"],
        )
        for row in figures["rows"]
    ]


def data(quick: bool) -> list[Row]:
    figures = _script(
        "data_bench",
        *("--rows", "20000" if quick else "100000"),
        *("--gigabytes", "0.1" if quick else "1"),
    )
    multi = _script("data_bench", "--rows", "20000" if quick else "100000", "--turns", "3")
    return [
        Row(
            f"data: {figures['rows']:,} rows, validation + token statistics",
            f"{figures['token_stats_s']:.1f} s",
            "< 15 s",
            figures["token_stats_s"] < 15,
        ),
        Row(
            f"data: {multi['rows']:,} three-turn rows, every answer masked",
            f"{multi['token_stats_s']:.1f} s",
            "(no goal yet)",
            None,
        ),
        Row(
            f"data: {figures['big_gb']:.2f} GB JSONL streamed, validation",
            f"{figures['big_s']:.1f} s, peak RSS {figures['big_peak_rss_mib']:.0f} MiB",
            "not held in memory",
            figures["big_peak_rss_mib"] * 2**20 < figures["big_gb"] * 1e9 / 2,
        ),
    ]


def calibration(quick: bool) -> list[Row]:
    figures = _script("calibration")
    return [
        Row(
            f"estimator vs {figures['rows']} published peaks (median |error|)",
            f"{figures['median_error']:.1%}, {figures['share_within_15']:.0%} within 15%",
            "median <= 10%",
            figures["median_error"] <= 0.10,
        )
    ]


def demo(quick: bool) -> list[Row]:
    if quick:
        return [Row("`make demo` after set-up", "skipped (--quick)", "< 5 min", None)]
    print("$ make demo", flush=True)
    started = time.perf_counter()
    subprocess.run(["make", "demo"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    minutes = (time.perf_counter() - started) / 60
    rows = [Row("`make demo` after set-up", f"{minutes:.1f} min", "< 5 min", minutes < 5)]
    run = max((ROOT / "runs").glob("demo-*"), key=lambda p: p.stat().st_mtime)
    predicted, measured = planned_and_trained(run)
    return rows + [eta_row("`make demo`'s printed ETA vs its training, s", predicted, measured)]


def grpo(quick: bool) -> list[Row]:
    """The GRPO demo (bench/grpo_demo.py): does the mean reward rise, and its ETA."""
    figures = _script("grpo_demo", "--steps", "6" if quick else "20")
    diff, low, high = figures["difference"]
    rows = [
        Row(
            "GRPO demo: mean reward, first third -> last third of the steps",
            f"{figures['first_mean']:.2f} -> {figures['last_mean']:.2f} "
            f"({diff:+.2f}, 95 % {low:+.2f} to {high:+.2f})",
            "rises (interval > 0)",
            None if quick else low > 0,
        ),
        Row(
            "GRPO demo: minutes in all",
            f"{figures['minutes']:.1f} min",
            "< 10 min",
            figures["minutes"] < 10,
        ),
    ]
    if figures["planned_s"]:
        rows.append(
            eta_row(
                "GRPO demo's printed ETA vs its training, s",
                figures["planned_s"],
                figures["trained_s"],
            )
        )
    return rows


def planned_and_trained(run: Path) -> tuple[float, float]:
    """The ETA the plan printed at launch, and the training it measured: from the trainer's
    start to its last step (evaluations included; loading and saving not)."""
    from ftwizard.core.runs.events import Log, TrainBegin
    from ftwizard.core.runs.folder import RunFolder

    folder = RunFolder(run)
    status = folder.read_status()
    events, _ = folder.read_events()
    begin = next(e.time for e in events if isinstance(e, TrainBegin))
    last = [e for e in events if isinstance(e, Log)][-1]
    assert last.step == last.max_steps, f"{run.name} did not train to its end"
    assert status.estimate_eta_s is not None, f"{run.name} has no planned ETA"
    return status.estimate_eta_s, last.time - begin


def eta(quick: bool) -> list[Row]:
    """The recorded GPU runs (bench/throughput_fit.py), then every ETA above together."""
    figures = _script("throughput_fit")
    rows = [
        Row(
            f"ETA: {figures['runs']} recorded GPU runs (H100, H200), s/step",
            f"median |error| {figures['fitted']['median_abs_error']:.1%}, "
            f"worst {figures['fitted']['max_abs_error']:.0%}",
            "median <= 25 %, none > 2x",
            figures["fitted"]["median_abs_error"] <= 0.25 and figures["fitted"]["max_ratio"] <= 2.0,
        )
    ]
    errors = [abs(p / m - 1) for _, p, m in ETA_CASES]
    ratios = [max(p / m, m / p) for _, p, m in ETA_CASES]
    if errors:
        rows.append(
            Row(
                f"ETA: the {len(errors)} runs made here",
                f"median |error| {statistics.median(errors):.1%}, worst {max(errors):.0%}",
                "median <= 25 %, none > 2x",
                statistics.median(errors) <= 0.25 and max(ratios) <= 2.0,
            )
        )
    return rows


def measure_cpu() -> Row:
    """This machine's matmul speed, measured now and handed to every run below.

    A plan's CPU ETA rests on this figure, which ftwizard measures once and caches. On a
    shared machine a figure cached under another load can be 35 % off (114 against 176
    GFLOP/s here, hours apart); measuring at the start makes the ETA rows test the
    throughput model rather than the cache's age.
    """
    from ftwizard.core.hardware.cpu_speed import ENV
    from ftwizard.core.trainer_calls import call_trainer_module

    if not os.environ.get(ENV):
        measured = call_trainer_module("cpu_speed", [], "Measuring the CPU")
        os.environ[ENV] = str(measured["fp32_gflops"])
    return Row("CPU fp32 matmul speed the plans use", f"{os.environ[ENV]} GFLOP/s", "", None)


SUITE: list[Callable[[bool], list[Row]]] = [
    startup,
    tui,
    data,
    calibration,
    throughput,
    step_floor,
    published_speed,
    attach_cost,
    chart_redraw,
    cpu_memory,
    demo,
    grpo,
    eta,  # last: it sums up the ETAs of the runs above
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    machine = f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}"
    rows: list[Row] = [measure_cpu()]
    for bench in SUITE:
        rows += bench(args.quick)
    width = max(len(r.what) for r in rows)
    print(f"\nftwizard benchmarks on {machine}{' (--quick)' if args.quick else ''}")
    print(f"{'what':<{width}}  {'figure':<42} {'goal':<20} verdict")
    for row in rows:
        print(f"{row.what:<{width}}  {row.figure:<42} {row.goal:<20} {row.verdict}")
    result = {
        "machine": machine,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "quick": args.quick,
        "rows": [asdict(r) | {"verdict": r.verdict} for r in rows],
    }
    args.json.write_text(json.dumps(result, indent=2))
    print(f"(JSON copy: {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
