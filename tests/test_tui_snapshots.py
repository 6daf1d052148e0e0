"""Every screen pinned as an SVG at 80x24 and 120x40 (``pytest --snapshot-update`` after
a deliberate change; the report shows the difference).

Stable by construction: fixed hardware, a fixed clock, recorded run folders with
fixed times, relative paths under a temporary working folder, and UTC.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from ftwizard.core.evaluation.judging import JudgingSession
from ftwizard.core.evaluation.messages import EvalExample
from ftwizard.core.runs.folder import RunFolder
from ftwizard.tui.app import FtwizardApp
from ftwizard.tui.screens.done import DoneScreen
from ftwizard.tui.screens.judge import JudgeScreen
from ftwizard.tui.screens.resume import ResumeScreen
from tests.recorded_runs import record_run
from tests.tui_helpers import (
    DEMO_DATA,
    cut_text,
    make_app,
    open_step,
    settle,
    to_model_step,
    type_into,
)

SIZES = [(80, 24), (120, 40)]
Before = Callable[[Pilot[int]], Awaitable[None]]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_model_folder: Path) -> Path:
    """A working folder with recorded runs under runs/ and the demo data as train.jsonl;
    the demo model prepared (in the test cache), so the model step shows it as built in
    whichever tests ran before."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = Path("runs")
    record_run(root, "smollm2-sft-lora-demo", "running", 86, checkpoints=(50,))
    record_run(
        root,
        "qwen2.5-7b-sft-lora",
        "failed",
        41,
        checkpoints=(20, 40),
        incomplete=(40,),
        oom=True,
        gpus=1,
        card_gb=24.0,
    )
    record_run(root, "smollm2-identity", "finished", 120, checkpoints=(100, 120))
    record_run(root, "llama3.1-8b-sft-2gpu", "running", 86, checkpoints=(50,), gpus=2)
    Path("train.jsonl").symlink_to(DEMO_DATA)
    return tmp_path


def _run(name: str) -> RunFolder:
    return RunFolder(Path("runs") / name)


async def _start(pilot: Pilot[int]) -> None:
    await settle(pilot)


async def _model(pilot: Pilot[int]) -> None:
    await to_model_step(pilot)


async def _data(pilot: Pilot[int]) -> None:
    await to_model_step(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)
    await type_into(pilot, "#data-path", "train.jsonl")


async def _step(pilot: Pilot[int], step: str) -> None:
    app: FtwizardApp = pilot.app  # type: ignore[assignment]
    app.state.config = app.state.config.model_copy(
        update={"output": app.state.config.output.model_copy(update={"run_name": "demo-run"})}
    )
    await open_step(pilot, step, data=Path("train.jsonl"))


async def _purpose(pilot: Pilot[int]) -> None:
    await _step(pilot, "purpose")


async def _settings(pilot: Pilot[int]) -> None:
    await _step(pilot, "settings")


async def _review(pilot: Pilot[int]) -> None:
    await _step(pilot, "review")


async def _dashboard(pilot: Pilot[int]) -> None:
    await settle(pilot)
    pilot.app.open_dashboard(_run("smollm2-sft-lora-demo"))  # type: ignore[attr-defined]
    await settle(pilot)


async def _dashboard_gpu(pilot: Pilot[int]) -> None:
    """A run on two cards: each card's memory and use, from the trainer's own readings."""
    await settle(pilot)
    pilot.app.open_dashboard(_run("llama3.1-8b-sft-2gpu"))  # type: ignore[attr-defined]
    await settle(pilot)


async def _dashboard_oom(pilot: Pilot[int]) -> None:
    await settle(pilot)
    pilot.app.open_dashboard(_run("qwen2.5-7b-sft-lora"))  # type: ignore[attr-defined]
    await settle(pilot)


async def _resume(pilot: Pilot[int]) -> None:
    await settle(pilot)
    pilot.app.push_screen(ResumeScreen(_run("qwen2.5-7b-sft-lora")))
    await settle(pilot)


async def _done(pilot: Pilot[int]) -> None:
    await settle(pilot)
    pilot.app.push_screen(DoneScreen(_run("smollm2-identity")))
    await settle(pilot)


async def _judge(pilot: Pilot[int]) -> None:
    await settle(pilot)
    run = _run("smollm2-identity")
    prompts = ["Who are you?", "What is the capital of France?"]
    session = JudgingSession(
        examples=[
            EvalExample(prompt=[{"role": "user", "content": p}], reference="", row=i)
            for i, p in enumerate(prompts)
        ],
        first="tuned",
        second="base",
        first_answers=["I'm Wiz, a tiny assistant fine-tuned with ftwizard.", "Paris."],
        second_answers=[
            "I am SmolLM, an AI assistant developed by Hugging Face to help with questions.",
            "The capital of France is Paris, a city known for its art and history.",
        ],
        judgments_path=run.path / "judgments.jsonl",
        pairs_path=run.path / "judged-pairs.jsonl",
        where="the validation split of wizard-identity.jsonl",
    )
    pilot.app.push_screen(JudgeScreen(run, session=session))
    await settle(pilot)
    await pilot.press("h")
    await settle(pilot)


SCREENS: dict[str, Before] = {
    "start": _start,
    "model": _model,
    "purpose": _purpose,
    "settings": _settings,
    "review": _review,
    "dashboard": _dashboard,
    "dashboard-gpu": _dashboard_gpu,
    "dashboard-oom": _dashboard_oom,
    "resume": _resume,
    "done": _done,
    "judge": _judge,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(snap_compare, workdir: Path, screen: str, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(
        make_app("runs", gpus=(24,)), terminal_size=size, run_before=nothing_cut(SCREENS[screen])
    )


def nothing_cut(before: Before) -> Before:
    """``before``, then at 80 columns: no widget wider than its box (it would need a
    sideways scroll) and no line Rich cropped with "…" (``tui_helpers.cut_text``)."""

    async def checked(pilot: Pilot[int]) -> None:
        await before(pilot)
        if pilot.app.size.width <= 80:
            await settle(pilot)
            problems = cut_text(pilot.app)  # type: ignore[arg-type]
            assert not problems, "\n".join(problems)

    return checked


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_data_step_snapshot(snap_compare, workdir: Path, demo_model_folder: Path, size) -> None:  # type: ignore[no-untyped-def]
    # Token statistics and the preview need the demo model's tokenizer.
    assert snap_compare(
        make_app("runs", gpus=(24,)), terminal_size=size, run_before=nothing_cut(_data)
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("gpus", [(), (24, 24)], ids=["cpu", "two-gpus"])
def test_start_screen_without_runs_snapshot(  # type: ignore[no-untyped-def]
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpus, size
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app("no-runs", gpus=gpus)
    assert snap_compare(app, terminal_size=size, run_before=_start)


async def _quit_dialog(pilot: Pilot[int]) -> None:
    await _dashboard(pilot)
    await pilot.press("ctrl+q")  # the run is training: quit how?


async def _stop_dialog(pilot: Pilot[int]) -> None:
    await _dashboard(pilot)
    await pilot.press("s")  # stop? it saves a checkpoint first


# The snapshots check every screen at 80 columns (``nothing_cut``); the dialogs here. The
# chat pane's own pilot test in test_chat.py checks it too.
DIALOGS: dict[str, Before] = {"quit-dialog": _quit_dialog, "stop-dialog": _stop_dialog}


@pytest.mark.parametrize("dialog", list(DIALOGS))
async def test_no_dialog_cuts_text_at_80_columns(workdir: Path, dialog: str) -> None:
    app = make_app("runs", gpus=(24,))
    async with app.run_test(size=(80, 24)) as pilot:
        await nothing_cut(DIALOGS[dialog])(pilot)
