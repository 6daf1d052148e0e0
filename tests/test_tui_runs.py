"""The dashboard, the resume picker and the done screen against recorded run folders,
and the pure parts behind them (the event tail, the chart)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Static, Switch

from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.watch import RunWatch
from ftwizard.tui.app import FtwizardApp
from ftwizard.tui.screens.dashboard import DashboardScreen
from ftwizard.tui.screens.done import DoneScreen
from ftwizard.tui.screens.model import ModelScreen
from ftwizard.tui.screens.prompt import Choose
from ftwizard.tui.screens.resume import ResumeScreen
from ftwizard.tui.widgets.chart import ChartView
from tests.recorded_runs import T0, record_run
from tests.tui_helpers import cut_text, make_app, settle, static_text, wait_for


def _append(run: RunFolder, *events: dict[str, object]) -> None:
    with run.events_path.open("a") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")


async def show_dashboard(app: FtwizardApp, pilot: Pilot[int], run: RunFolder) -> DashboardScreen:
    """The app started, then ``run``'s dashboard shown and settled."""
    await settle(pilot)
    app.open_dashboard(run)
    await settle(pilot)
    assert isinstance(app.screen, DashboardScreen)
    return app.screen


def test_run_watch_replaces_steps_a_resume_logs_again(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "r", "stopped", 30))
    watch = RunWatch(run)
    watch.poll()
    assert [s for s, _ in watch.train_loss][-1] == 30
    resumed = {"type": "log", "max_steps": 120, "learning_rate": 1e-4, "grad_norm": 0.5}
    _append(run, {**resumed, "step": 21, "loss": 9.0}, {**resumed, "step": 22, "loss": 8.0})
    watch.poll()
    assert watch.train_loss.points()[-2:] == [(21, 9.0), (22, 8.0)]
    assert [s for s, _ in watch.train_loss] == list(range(1, 23))


async def test_dashboard_shows_a_run_and_follows_new_events(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "live", "running", 86, checkpoints=(50,)))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await show_dashboard(app, pilot, run)
        chart = screen.query_one("#main-chart", ChartView)
        train, evals = chart.chart.lines
        assert train.points[-1][0] == 86  # up to the latest step, a point a column
        assert len(train.points) <= chart.content_size.width
        assert [s for s, _ in evals.points] == [20, 40, 60, 80]
        stats = static_text(screen.query_one("#run-stats"))
        assert "RUNNING" in stats and "step 86/120 (72%)" in stats
        assert "elapsed 6m34s" in stats  # the fixed clock, 400 s after the run was created
        assert "(peak 2.6; plan 2.3)" in stats  # the loading's peak, the plan's
        log = screen.query_one("#event-log", RichLog)
        assert any("checkpoint saved at step 50" in line.text for line in log.lines)

        base = {"type": "log", "max_steps": 120, "learning_rate": 1e-4, "grad_norm": 0.5}
        _append(run, {**base, "time": T0 + 500, "step": 87, "loss": 0.3, "ram_gb": 2.0})
        run.write_status(step=87)
        await pilot.pause(0.8)
        assert "step 87/120" in static_text(screen.query_one("#run-stats"))
        # The charts follow within CHART_REDRAW_S (drawn at most that often).
        await wait_for(pilot, lambda: chart.chart.lines[0].points[-1][0] == 87, 10, "chart")
        assert "step 87/120: loss 0.3000" in log.lines[-1].text


async def test_the_chart_keys_smooth_rescale_window_and_swap_the_main_chart(
    tmp_path: Path,
) -> None:
    run = RunFolder(record_run(tmp_path, "keys", "running", 86, gpus=1))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await show_dashboard(app, pilot, run)
        main = screen.query_one("#main-chart", ChartView)
        raw = main.chart.lines[0].points
        assert "e smooth" in str(main.border_subtitle)
        for key in ("e", "l", "w"):
            await pilot.press(key)
        await settle(pilot)
        assert main.chart.notes == ("smoothed", "log scale", "last 200 steps")
        assert main.chart.lines[0].points != raw  # smoothed
        assert "e raw · l linear · w all" in str(main.border_subtitle)
        assert main.chart.log_scale
        await pilot.press("v")  # SFT: loss, then memory
        await settle(pilot)
        assert main.border_title == "Memory"
        assert [line.label for line in main.chart.lines] == ["GPU allocated", "GPU reserved"]
        lower = screen.query_one("#lower-chart", ChartView)
        assert lower.border_title == "Loss"  # not the memory twice
        await pilot.press("v")
        await settle(pilot)
        assert main.border_title == "Loss" and lower.border_title == "Memory"


async def test_the_dashboard_shows_the_plans_eta_until_enough_steps_are_in(
    tmp_path: Path,
) -> None:
    # A resumed run: 80 of 120 steps were done before, two since the resume. The plan said
    # 600 s for all 120 steps, so 190 s for the 38 left; the two steps measure 76 s.
    run = RunFolder(record_run(tmp_path, "resumed", "running", 82))
    run.write_status(step=82, max_steps=120, estimate_eta_s=600.0, eta_s=76.0, eta_steps=2)
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_dashboard(app, pilot, run)
        stats = " ".join(static_text(screen.query_one("#run-stats")).split())
        assert "ETA 1m16s (after 2 steps; plan 3m10s)" in stats
        run.write_status(step=85, eta_s=70.0, eta_steps=5)  # enough steps: measured alone
        await pilot.pause(0.8)
        stats = " ".join(static_text(screen.query_one("#run-stats")).split())
        assert "ETA 1m10s" in stats and "plan" not in stats.split("ETA")[1].split("loss")[0]


async def test_dashboard_redraws_only_what_changed(tmp_path: Path) -> None:
    """Every redraw is CPU taken from a trainer on the same cores (bench/attach_cost.py):
    between steps, polling the files must not touch the widgets."""
    run = RunFolder(record_run(tmp_path, "live", "running", 86))
    now = [T0 + 400.0]
    app = make_app(str(tmp_path), clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await show_dashboard(app, pilot, run)
        drawn: list[str] = []
        stats, banner = screen.query_one("#run-stats", Static), screen.query_one("#run-problem")
        for name, widget in (("stats", stats), ("banner", banner)):
            original = widget.update
            widget.update = lambda *a, _n=name, _o=original, **k: (drawn.append(_n), _o(*a, **k))  # type: ignore[method-assign]
        screen.refresh_bindings = lambda: drawn.append("keys")  # type: ignore[method-assign]

        await pilot.pause(1.6)  # three polls: same files, same second
        assert drawn == []

        now[0] += 1  # the elapsed time's next second
        await pilot.pause(0.6)
        assert drawn == ["stats"] and "elapsed 6m35s" in static_text(stats)

        drawn.clear()
        run.write_status(state="stopped")
        await pilot.pause(0.6)
        assert sorted(drawn) == ["banner", "keys", "stats"]
        assert "press u to resume" in static_text(banner)


async def test_stop_asks_first_and_cancel_leaves_it_running(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "live", "running", 10))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await show_dashboard(app, pilot, run)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, Choose)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("k")  # its letter, shown in the button: keep training
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert run.read_status().state == "running"


async def test_quitting_while_a_run_trains_asks_and_can_leave_it_training(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "live", "running", 10))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await show_dashboard(app, pilot, run)
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, Choose)
        await pilot.press("k")  # quit, keep training
        await settle(pilot)
    assert app.return_code == 0
    assert run.read_status().state == "running"


async def test_failed_run_shows_the_advice_and_its_keys(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "oom", "failed", 41, checkpoints=(20,), oom=True))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await show_dashboard(app, pilot, run)
        banner = static_text(screen.query_one("#run-problem"))
        assert "x FAILED: out of memory at step 41" in banner
        assert "1. halve the micro-batch to 2" in banner and "saves about 3.1 GB" in banner
        assert screen.check_action("apply_advice", ()) is True
        assert screen.check_action("resume_picker", ()) is True
        assert screen.check_action("stop", ()) is False
        assert screen.check_action("results", ()) is False


async def test_resume_picker_lists_checkpoints_and_shows_the_advice_as_a_diff(
    tmp_path: Path,
) -> None:
    run = RunFolder(
        record_run(tmp_path, "oom", "failed", 41, checkpoints=(20, 40), incomplete=(40,), oom=True)
    )
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(ResumeScreen(run))
        await settle(pilot)
        table = app.screen.query_one("#checkpoints", DataTable)
        kinds = {table.get_row_at(i)[0]: table.get_row_at(i)[4] for i in range(table.row_count)}
        assert kinds["20"] == "resumable"
        assert kinds["40"] == "incomplete"  # why is said below the table, where it fits
        assert table.get_row_at(table.cursor_row)[0] == "20"  # the newest resumable one
        diff = static_text(app.screen.query_one("#resume-diff"))
        assert "Resumes from checkpoint-20" in diff
        assert "- training.per_device_train_batch_size" in diff
        assert "+ training.per_device_train_batch_size: 2" in diff

        app.screen.query_one("#use-advice", Switch).value = False
        await settle(pilot)
        assert "unchanged" in static_text(app.screen.query_one("#resume-diff"))

        typed = app.screen.query_one("#resume-set", Input)
        typed.value = "training.num_train_epochs=5"
        await settle(pilot)
        diff = static_text(app.screen.query_one("#resume-diff"))
        assert "+ training.num_train_epochs: 5" in diff and "cannot change" not in diff
        typed.value = "training.learning_rate=0.1"
        await settle(pilot)
        diff = static_text(app.screen.query_one("#resume-diff"))
        assert "x training.learning_rate cannot change on resume" in diff
        typed.value = ""
        await settle(pilot)

        table.move_cursor(row=table.get_row_index("40"))
        await settle(pilot)
        diff = static_text(app.screen.query_one("#resume-diff"))
        assert "x checkpoint-40" in diff and "adapter_model.safetensors is empty" in diff
        await pilot.press("enter")  # refused: the picker stays, nothing is launched
        await settle(pilot)
        assert isinstance(app.screen, ResumeScreen)
        assert run.read_status().state == "failed"


async def test_done_screen_shows_results_and_starts_a_new_run_from_the_config(
    tmp_path: Path,
) -> None:
    run = RunFolder(record_run(tmp_path, "done", "finished", 120))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(DoneScreen(run))
        await settle(pilot)
        status = run.read_status()
        summary = static_text(app.screen.query_one("#done-summary"))
        assert f"{status.final_loss:.4f}" in summary
        assert str(run.final_dir) in summary
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ModelScreen)
        assert app.state.model_id == run.read_config().model.model_name_or_path
        assert app.state.model_facts is not None  # resolved again from the old config
        assert app.state.config.output.run_name is None
        assert app.state.data_path == run.read_config().data.path


async def test_a_grpo_run_plots_its_reward_and_shows_its_completions(tmp_path: Path) -> None:
    from ftwizard.core.runs.completions import (
        LatestCompletions,
        ScoredCompletion,
        write_completions,
    )

    run = RunFolder(record_run(tmp_path, "grpo", "running", 3))
    base = {"type": "log", "max_steps": 120, "learning_rate": 1e-5, "loss": 0.0, "ram_gb": 2.0}
    times = {
        "steps": 1, "step_s": 2.0, "data_s": 0.01, "forward_backward_s": 0.5,
        "generation_s": 1.3, "optimizer_s": 0.1, "ftwizard_s": 0.01, "other_s": 0.08,
    }  # fmt: skip
    for step, reward in ((4, 0.25), (5, 0.75)):
        metrics = {"reward": reward, "reward_std": 0.4, "rewards/format/mean": reward}
        event = {**base, "time": T0 + 100 + step, "step": step, "metrics": metrics}
        _append(run, {**event, "step_times": times})
    completions = (
        ScoredCompletion(text="7 + 5 = 13", rewards={"format": 1.0}),
        ScoredCompletion(text="7 + 5 = 12", rewards={"format": 1.0, "answer": 1.0}),
    )
    write_completions(
        run, LatestCompletions(step=5, prompt="What is 7 + 5?", completions=completions)
    )
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_dashboard(app, pilot, run)
        chart = screen.query_one("#main-chart", ChartView)
        assert chart.chart.lines[0].points == [(4, 0.25), (5, 0.75)]  # the reward, not the loss
        assert chart.border_title == "Reward"
        assert "reward" in static_text(screen.query_one("#run-stats"))
        # Online RL's keys (completions and step time too) fit in 80 columns.
        assert cut_text(app) == []
        panel = screen.query_one("#completions")
        assert not panel.display
        await pilot.press("g")
        await settle(pilot)
        assert panel.display and not screen.query_one("#event-log").display
        shown = static_text(panel)
        assert "What is 7 + 5?" in shown
        assert shown.index("7 + 5 = 12") < shown.index("7 + 5 = 13")  # the best first
        await pilot.press("g")
        await settle(pilot)
        assert screen.query_one("#event-log").display and not panel.display


async def test_t_shows_where_a_step_goes_and_a_gpu_runs_wait_on_the_host(
    tmp_path: Path,
) -> None:
    run = RunFolder(record_run(tmp_path, "timed", "running", 3))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_dashboard(app, pilot, run)
        assert "2.00 s/step" in static_text(screen.query_one("#run-stats"))
        panel = screen.query_one("#step-times")
        await pilot.press("t")
        await settle(pilot)
        assert panel.display and not screen.query_one("#event-log").display
        shown = static_text(panel)
        assert "forward+backward" in shown and "90%" in shown and "1.80 s" in shown
        assert "GPU" not in shown  # a CPU run: no profiled step
        # A GPU run's next log carries a profiled step: the panel says how long it waited.
        times = {
            "steps": 5, "step_s": 0.3, "data_s": 0.001, "forward_backward_s": 0.25,
            "optimizer_s": 0.02, "ftwizard_s": 0.001, "other_s": 0.028,
            "device_busy": 0.38, "profiled_step": 4,
        }  # fmt: skip
        _append(
            run,
            {
                "type": "log", "time": T0 + 500, "step": 4, "max_steps": 120, "loss": 0.5,
                "learning_rate": 1e-4, "ram_gb": 2.0, "gpu_allocated_gb": 3.0,
                "step_times": times,
            },
        )  # fmt: skip
        run.write_status(step=4)
        await pilot.pause(0.8)
        shown = static_text(panel)
        assert "waits on the host 62%" in shown and "300 ms" in shown
        assert "GPU busy 38%" in static_text(screen.query_one("#run-stats"))
        await pilot.press("t")
        await settle(pilot)
        assert screen.query_one("#event-log").display and not panel.display
