"""The charts: the series behind them (bounded, downsampled, resumable), the smoothing,
the drawing at a size, what each run's charts hold, and ``ftwizard plot``'s files."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pandas
import pytest
from PIL import Image

from ftwizard.core.runs.events import Evaluation, Log, StageChange, TrainBegin
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.model_card import LOSS_IMAGE, model_card
from ftwizard.core.runs.series import KEEP, Series, smoothed
from ftwizard.core.runs.watch import RunWatch
from ftwizard.views.charts import Chart, Line, Mark, draw, tick_labels
from ftwizard.views.curves import curves_chart
from ftwizard.views.figure_file import run_charts, write_figure
from ftwizard.views.run_charts import (
    RECENT_STEPS,
    ChartOptions,
    loss_chart,
    memory_chart,
    objective_chart,
    speed_chart,
)
from tests.conftest import run_cli as run_command
from tests.recorded_runs import record_run


def test_a_long_series_keeps_its_start_and_end_in_a_bounded_number_of_buckets() -> None:
    series = Series()
    for step in range(1, 100_001):
        series.append(step, float(step % 2))  # noise around 0.5
    assert len(series.buckets) <= KEEP
    assert len(series) == 100_000  # every point is still counted in a bucket
    points = series.points(50)
    assert len(points) <= 50 and points[-1][0] == 100_000
    assert series.buckets[0].first == 1  # downsampled, not cut at the start
    assert all(abs(value - 0.5) < 0.01 for _, value in points)  # the mean, not the noise
    assert all(value == 1.0 for _, value in series.points(50, "max"))  # peaks kept
    assert [s for s, _ in series.since(100_000 - 10)] == list(range(99_991, 100_001))


def test_a_resume_replaces_the_steps_it_logs_again() -> None:
    series = Series()
    for step in range(1, 31):
        series.append(step, 1.0)
    series.append(21, 9.0)  # resumed from the checkpoint at step 20
    series.append(22, 8.0)
    assert series.points()[-3:] == [(20, 1.0), (21, 9.0), (22, 8.0)]
    assert series.latest == (22, 8.0) and series.first == (1, 1.0)
    assert len(series) == 22


def test_smoothing_is_tensorboards_debiased_moving_average() -> None:
    points = [(s, 2.0 + math.sin(s) + s / 10) for s in range(1, 200)]
    # pandas' adjusted EWM is the same average written another way: the oracle.
    expected = pandas.Series([v for _, v in points]).ewm(alpha=0.4, adjust=True).mean()
    assert [v for _, v in smoothed(points, 0.6)] == pytest.approx(list(expected))
    assert smoothed(points)[0] == points[0]  # not pulled towards zero at the start


def test_a_chart_fits_its_size_and_names_its_lines_and_levels() -> None:
    train = [(s, 3.0 / (1 + s / 100)) for s in range(1, 4001)]
    chart = Chart(
        lines=(Line("train loss", train, "cyan"), Line("eval loss", train[::250], "magenta")),
        levels=(Mark("plan 2.3 GB", 1.0, "yellow"),),
    )
    lines = draw(chart, 60, 12).plain.splitlines()
    assert len(lines) == 12 and all(len(line) <= 60 for line in lines)
    assert any(ch in "".join(lines) for ch in "⠁⠂⠄⡀⢀⠈⠐⠠")  # braille dots
    assert "train loss" in lines[-1] and "eval loss" in lines[-1] and "plan 2.3 GB" in lines[-1]
    assert "step 1" in lines[-2] and "4,000" in lines[-2]
    assert lines[0].lstrip().startswith("3.0")  # the top row is the highest loss
    assert "No loss" in draw(Chart((), empty="No loss yet."), 60, 12).plain


def test_axis_figures_have_as_many_decimals_as_tell_them_apart() -> None:
    assert tick_labels([1.91, 2.105, 2.3], "GB") == ["1.91 GB", "2.10 GB", "2.30 GB"]
    assert tick_labels([0.4, 1.8, 3.2], "") == ["0.4", "1.8", "3.2"]
    assert tick_labels([2300.0, 2500.0], "") == ["2.3k", "2.5k"]


def run_cli(*args: str) -> tuple[int, str]:
    result = run_command(*args)
    return result.returncode, result.stdout + result.stderr


def _watch(path: Path) -> RunWatch:
    watch = RunWatch(RunFolder(path))
    watch.poll()
    return watch


def test_a_cpu_runs_charts_show_its_ram_and_no_gpu(tmp_path: Path) -> None:
    path = record_run(tmp_path, "cpu", "running", 40)
    watch, status = _watch(path), RunFolder(path).read_status()
    memory = memory_chart(watch, status)
    assert [line.label for line in memory.lines] == ["trainer RAM", "trainer RAM peak"]
    # 64 GB of RAM, far above 2 GB: said beside the legend, not drawn (it would squash
    # the curve into the bottom row).
    assert [m.label for m in memory.levels] == ["plan 2.3 GB"]
    assert memory.notes == ("of 64 GB RAM",)
    speed = speed_chart(watch)
    assert [line.label for line in speed.lines] == ["tokens/s"]
    assert objective_chart(watch) is None  # SFT has no chart of its own
    shown = draw(memory, 50, 6).plain + draw(speed, 50, 6).plain
    assert "GPU" not in shown


def test_a_gpu_runs_charts_show_each_card(tmp_path: Path) -> None:
    path = record_run(tmp_path, "two", "running", 40, gpus=2)
    watch, status = _watch(path), RunFolder(path).read_status()
    memory = memory_chart(watch, status)
    assert [line.label for line in memory.lines] == [
        "GPU 0 allocated",
        "GPU 0 reserved",
        "GPU 1 allocated",
        "GPU 1 reserved",
    ]
    assert [m.label for m in memory.levels] == ["plan 46.0 GB", "GPU 80 GB"]
    speed = speed_chart(watch)
    assert [(line.label, line.right) for line in speed.lines] == [
        ("tokens/s", False),
        ("GPU 0 busy", True),
        ("GPU 1 busy", True),
    ]
    assert speed.right_unit == "%"
    # Memory is drawn by each bucket's highest: a step's peak is never averaged away.
    memory_points = memory_chart(watch, status, ChartOptions(width=5)).lines[0].points
    highest = max(v for _, v in watch.memory["GPU 0 allocated"].points())
    assert max(v for _, v in memory_points) == highest


def test_the_loss_chart_marks_a_resume_and_shows_the_last_steps(tmp_path: Path) -> None:
    path = record_run(tmp_path, "r", "running", 300, max_steps=400)
    run = RunFolder(path)
    run.append_event(TrainBegin(step=250, max_steps=400))
    for step in range(251, 261):
        run.append_event(Log(step=step, max_steps=400, loss=0.2, learning_rate=1e-4))
    watch = _watch(path)
    chart = loss_chart(watch)
    assert [m.at for m in chart.steps] == [250] and "resumed" in chart.steps[0].label
    assert chart.lines[0].points[-1] == (260, 0.2)  # the resume's values replace the old
    recent = loss_chart(watch, ChartOptions(recent=True, smooth=True, log_scale=True))
    assert min(s for s, _ in recent.lines[0].points) > 260 - RECENT_STEPS
    assert recent.notes == ("smoothed", "log scale", f"last {RECENT_STEPS} steps")
    assert "log scale" in draw(recent, 70, 12).plain


def _log(step: int, **metrics: float) -> Log:
    return Log(step=step, max_steps=10, loss=0.5, learning_rate=1e-4, metrics=metrics)


def test_the_objectives_own_chart(tmp_path: Path) -> None:
    watch = RunWatch(RunFolder(tmp_path))
    for step in (1, 2, 3):
        watch.fold(_log(step, reward=0.1 * step, kl=0.01 * step))
    online = objective_chart(watch)
    assert online is not None
    assert [(line.label, line.right) for line in online.lines] == [
        ("mean reward", False),
        ("KL", True),
    ]
    watch = RunWatch(RunFolder(tmp_path))
    for step in (1, 2, 3):
        watch.fold(
            _log(
                step,
                **{"rewards/margins": 0.2 * step, "rewards/chosen": 0.1, "rewards/rejected": -0.1},
            )
        )
    preference = objective_chart(watch)
    assert preference is not None
    assert [line.label for line in preference.lines] == ["margin", "chosen", "rejected"]
    assert preference.lines[0].points == [(1, 0.2), (2, 0.4), (3, pytest.approx(0.6))]


def test_compare_draws_each_run_in_its_colour() -> None:
    text = curves_chart({"a": [(1, 2.0), (50, 1.0)], "b": [(1, 2.5), (50, 0.5)]}, 60, 10)
    assert "a" in text.plain.splitlines()[-1] and "b" in text.plain.splitlines()[-1]
    assert {span.style for span in text.spans} >= {"cyan", "magenta"}


def test_plot_writes_images_a_viewer_opens(tmp_path: Path) -> None:
    path = record_run(tmp_path / "runs", "gpu", "running", 60, gpus=2)
    png, svg = tmp_path / "report" / "curves.png", tmp_path / "curves.svg"
    code, output = run_cli("plot", str(path), "--out", str(png))
    assert code == 0 and "loss, memory, speed" in output
    with Image.open(png) as image:  # a PNG an image viewer opens, one chart above another
        image.verify()
    code, _ = run_cli("plot", str(path), "--out", str(tmp_path / "loss.png"), "--charts", "loss")
    with Image.open(png) as three, Image.open(tmp_path / "loss.png") as one:
        assert three.format == one.format == "PNG"
        assert three.width == one.width and three.height > 2.5 * one.height
    code, output = run_cli("plot", str(path), "--out", str(svg), "--charts", "loss", "--json")
    assert code == 0 and json.loads(output) == {"path": str(svg), "charts": ["Loss"]}
    assert ElementTree.parse(svg).getroot().tag.endswith("svg")


def test_plot_refuses_in_words(tmp_path: Path) -> None:
    path = record_run(tmp_path, "r", "running", 0)
    code, output = run_cli("plot", str(path), "--out", str(tmp_path / "x.txt"))
    assert code == 2 and "End the file name in .png, .svg, .pdf" in output
    code, output = run_cli("plot", str(path), "--out", str(tmp_path / "x.png"))
    assert code == 2 and "nothing logged yet" in output and "Traceback" not in output
    code, output = run_cli("plot", str(path), "--out", "x.png", "--charts", "lr")
    assert code == 2 and "choose from loss, memory, speed, objective" in output


def test_the_model_card_carries_the_loss_curve(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "done", "finished", 40))
    assert LOSS_IMAGE not in model_card(run)
    write_figure(run_charts(run, ("loss",)), run.final_dir / LOSS_IMAGE, run.name)
    assert f"![Training and eval loss by step]({LOSS_IMAGE})" in model_card(run)
    assert LOSS_IMAGE not in model_card(run, merged=True)  # the merged folder has no copy


def test_an_evaluations_peak_raises_its_steps_point_in_place() -> None:
    series = Series()
    for step in range(1, 5000):  # buckets of several points
        series.append(step, 1.0)
    series.raise_to(4999, 3.0)
    series.raise_to(4999, 2.0)  # lower: the step keeps its peak
    assert series.latest == (4999, 3.0) and len(series) == 4999
    assert series.points(at_most=10, aggregate="max")[-1] == (4999, 3.0)


def test_runs_name_prints_the_loss_and_memory_charts(tmp_path: Path) -> None:
    record_run(tmp_path, "r", "running", 60)
    code, output = run_cli("runs", "r", "--root", str(tmp_path))
    assert code == 0
    lines = output.splitlines()
    loss = lines.index("loss")
    assert any(ch in lines[loss + 1] + lines[loss + 2] for ch in "⠁⠂⠄⡀⢀⠈⠐⠠⣀⠉")
    assert "⣿ train loss  ⣿ eval loss" in output
    assert "⣿ trainer RAM  ⣿ trainer RAM peak" in output and "plan 2.3 GB" in output
    assert "GPU" not in output  # a CPU run


def test_a_run_in_stages_charts_its_eval_loss_across_the_stages(tmp_path: Path) -> None:
    watch = RunWatch(RunFolder(tmp_path))
    for stage, objective, losses in ((1, "sft", (2.0, 1.0)), (2, "dpo", (0.69, 0.5))):
        watch.fold(
            StageChange(stage=stage, stages=2, objective=objective, state="starting", path="x")
        )
        for step, loss in zip((5, 10), losses, strict=True):
            watch.fold(Log(step=step, max_steps=10, loss=loss, learning_rate=1e-4))
            watch.fold(Evaluation(step=step, eval_loss=loss, perplexity=math.exp(loss)))
    assert [s for s, _ in watch.train_loss] == [5, 10]  # the stage under way
    chart = objective_chart(watch)
    assert chart is not None
    assert chart.lines[0].points == [(5, 2.0), (10, 1.0), (15, 0.69), (20, 0.5)]
    assert [m.at for m in chart.steps] == [10] and "sft, dpo" in chart.steps[0].label


def test_the_live_view_draws_the_loss_chart_where_the_terminal_has_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from ftwizard.cli import follow

    follower = follow.Follower(RunFolder(record_run(tmp_path, "live", "running", 30)))
    follower.poll()
    status = follower.run.read_status()

    def shown(height: int) -> str:
        monkeypatch.setattr(follow, "out", Console(width=100, height=height, record=True))
        follow.out.print(follower.view(status))
        return follow.out.export_text()

    tall, short = shown(40), shown(24)
    assert "⣿ train loss" in tall and "step 1" in tall
    assert "⣿ train loss" not in short  # the figures alone: the chart would be cut
    assert "step 30/120" in short


def test_a_flat_line_on_a_log_scale_still_draws() -> None:
    chart = Chart((Line("train loss", [(1, 0.3), (2, 0.3), (3, 0.3)], "cyan"),), log_scale=True)
    assert "⣿ train loss" in draw(chart, 40, 6).plain
