"""No viewer outlives its terminal: the wizard, driven through a pseudo-terminal as over
SSH, is gone after `d` and after its terminal goes, whatever it was doing, and so are
the processes it started; only a trainer is meant to survive (tests/test_faults.py and
tests/test_fault_injection.py check that it does).

Every case starts the wizard with SIGHUP inherited as ignored (as under ``nohup``), the
case where the hang-up once went unheard and Textual's input thread spun on a dead
terminal. Waits are on the events that matter, with bounds meant for a loaded machine.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from ftwizard.core.lifetime import EXIT_HANGUP
from tests.recorded_runs import record_run
from tests.terminal import Terminal
from tests.tui_helpers import DEMO_DATA

GONE_S = 60.0  # a viewer leaves in well under a second; the bound is for a loaded machine
WIZARD = [sys.executable, "-m", "ftwizard.cli.main"]
CTRL_N = b"\x0e"


def _gone(terminal: Terminal, process: psutil.Process | None = None) -> int:
    """The wizard (and ``process``, one it started) end within GONE_S; its exit code."""
    code = terminal.wait_exit(GONE_S)
    if process is not None:
        process.wait(timeout=GONE_S)  # raises psutil.TimeoutExpired if it lives on
    return code


def _dashboard(terminal: Terminal) -> None:
    terminal.wait_for("Welcome to ftwizard")
    terminal.press(b"\r")  # Enter on the running run: its dashboard
    terminal.wait_for("Save now")  # the footer: the dashboard of a running run


def _data_step(terminal: Terminal, data: Path) -> None:
    terminal.wait_for(r"GiB free")  # the hardware is read: `n` starts the wizard
    terminal.press(b"n")
    terminal.wait_for(r"Step 1 of 5")
    terminal.type("smollm2-135m-instruct")
    terminal.wait_for("chosen: smollm2-135m-instruct")
    terminal.press(CTRL_N)
    terminal.wait_for(r"Step 2 of 5")
    terminal.type(str(data))


@pytest.fixture
def workdir(tmp_path: Path, demo_model_folder: Path) -> Path:
    """runs/ with a run that is training (its pid is this test's), and a dataset big
    enough that tokenising it takes a while."""
    record_run(tmp_path / "runs", "smollm2-sft-lora-demo", "running", 40)
    rows = [json.loads(line) for line in DEMO_DATA.read_text().splitlines()]
    with (tmp_path / "big.jsonl").open("w") as handle:
        for index in range(20_000):
            handle.write(json.dumps(rows[index % len(rows)]) + "\n")
    return tmp_path


@pytest.fixture
def wizard(workdir: Path) -> Iterator[Callable[..., Terminal]]:
    """Starts the wizard in ``workdir`` on an 80x24 pty, SIGHUP inherited as ignored;
    whatever is still running at the end is killed."""
    started: list[Terminal] = []

    def start(controlling: bool = False) -> Terminal:
        started.append(
            Terminal(
                WIZARD,
                workdir,
                rows=24,
                columns=80,
                hangup_ignored=True,
                controlling=controlling,
            )
        )
        return started[-1]

    yield start
    for terminal in started:
        terminal.close()


def test_d_on_the_dashboard_leaves_no_wizard_behind(wizard: Callable[..., Terminal]) -> None:
    terminal = wizard()
    _dashboard(terminal)
    terminal.press(b"d")
    assert _gone(terminal) == 0


@pytest.mark.slow
def test_d_leaves_no_wizard_behind_while_a_tokeniser_still_runs(
    workdir: Path, wizard: Callable[..., Terminal]
) -> None:
    """Back from the data step to the runs while the big file is still tokenised, then
    the dashboard and `d`: the worker waiting on the tokeniser must not hold the exit."""
    terminal = wizard()
    _data_step(terminal, workdir / "big.jsonl")
    [tokeniser] = terminal.wait_for_child("ftwizard.trainer.data_stats")
    terminal.press(b"\x1b")  # Esc: back to the model step
    terminal.wait_for(r"Step 1 of 5")
    terminal.press(b"\x1b")  # and to the start screen
    terminal.wait_for("Welcome to ftwizard")
    terminal.press(b"\r")
    terminal.wait_for("Save now")  # the footer: the dashboard of a running run
    assert tokeniser.is_running()  # still tokenising: the case this test is about
    terminal.press(b"d")
    assert _gone(terminal, tokeniser) == 0


def _hangup_signal(terminal: Terminal) -> None:
    terminal.process.send_signal(signal.SIGHUP)


def _terminal_closed(terminal: Terminal) -> None:
    terminal.hang_up()


@pytest.mark.parametrize(
    ("how", "controlling"),
    [(_hangup_signal, False), (_terminal_closed, True), (_terminal_closed, False)],
    ids=["sighup", "pty-closed-controlling", "pty-closed-no-signal"],
)
def test_the_wizard_ends_with_its_terminal_on_the_dashboard(
    wizard: Callable[..., Terminal], how: Callable[[Terminal], None], controlling: bool
) -> None:
    terminal = wizard(controlling)
    _dashboard(terminal)
    how(terminal)
    assert _gone(terminal) == EXIT_HANGUP


@pytest.mark.slow
def test_a_hangup_while_tokenising_ends_the_wizard_and_its_tokeniser(
    workdir: Path, wizard: Callable[..., Terminal]
) -> None:
    terminal = wizard()
    _data_step(terminal, workdir / "big.jsonl")
    [tokeniser] = terminal.wait_for_child("ftwizard.trainer.data_stats")
    _hangup_signal(terminal)
    assert _gone(terminal, tokeniser) == EXIT_HANGUP


@pytest.mark.slow
def test_a_hangup_on_the_settings_form_ends_the_wizard(wizard: Callable[..., Terminal]) -> None:
    terminal = wizard()
    _data_step(terminal, DEMO_DATA)
    terminal.wait_for("checked: ")
    terminal.wait_for(r"tokens per example")  # the token statistics are in
    terminal.press(CTRL_N)
    terminal.wait_for(r"Step 3 of 5")
    terminal.wait_for(r"Recommendation")  # the plan is made
    terminal.press(CTRL_N)
    terminal.wait_for(r"Step 4 of 5")
    terminal.wait_for(r"GB")  # the live estimate is shown
    _hangup_signal(terminal)
    assert _gone(terminal) == EXIT_HANGUP
