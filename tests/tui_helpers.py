"""Driving the wizard in tests: a fixed machine, a fixed clock, and the steps by keys."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static

from ftwizard.core.hardware.fake_nvml import fixed_report
from ftwizard.tui.app import FtwizardApp
from tests.recorded_runs import T0

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data" / "demo" / "wizard-identity.jsonl"


def make_app(
    runs_root: str = "runs",
    gpus: tuple[float, ...] = (24,),
    clock: Callable[[], float] = lambda: T0 + 400,
) -> FtwizardApp:
    """The app on a fixed machine (RTX 4090s, or CPU mode for no GPUs), by default at a
    fixed time (pass ``time.time`` when a real trainer runs)."""
    return FtwizardApp(hardware_probe=lambda: fixed_report(*gpus), runs_root=runs_root, clock=clock)


def static_text(widget: Static, width: int = 400) -> str:
    """What a Static shows, as plain text (all of it, scrolled into view or not)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def settle(pilot: Pilot[int]) -> None:
    """Wait for workers (probe, catalog, validation, tokenising) and the redraw after them."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)


async def wait_for(
    pilot: Pilot[int], condition: Callable[[], bool], timeout: float = 120, what: str = ""
) -> None:
    """Poll ``condition`` while the app keeps running (for things a real trainer writes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.2)
        await asyncio.sleep(0)


async def type_into(pilot: Pilot[int], selector: str, text: str) -> None:
    """Replace a field's text as a person would (select all, type, Enter)."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text, "enter")
    await settle(pilot)


async def to_model_step(pilot: Pilot[int], model: str = "smollm2-135m-instruct") -> None:
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    await type_into(pilot, "#model-input", model)


async def to_data_step(pilot: Pilot[int], data: str, model: str = "smollm2-135m-instruct") -> None:
    await to_model_step(pilot, model)
    await pilot.press("ctrl+n")
    await settle(pilot)
    await type_into(pilot, "#data-path", data)


async def to_settings_step(
    pilot: Pilot[int], data: str, model: str = "smollm2-135m-instruct"
) -> None:
    await to_data_step(pilot, data, model)
    await pilot.press("ctrl+n")  # purpose
    await settle(pilot)
    await pilot.press("ctrl+n")  # settings
    await settle(pilot)


async def open_step(
    pilot: Pilot[int],
    step: str,
    data: Path = DEMO_DATA,
    model: str = "smollm2-135m-instruct",
) -> None:
    """Open the purpose, settings or review step directly, the state filled in by the
    same core functions the earlier steps call (no tokenising: quicker tests)."""
    from ftwizard.core.data.validate import validate_path
    from ftwizard.core.models.source import resolve_model_facts
    from ftwizard.core.planning.recommend import recommend
    from ftwizard.tui.screens.params import ParamsScreen
    from ftwizard.tui.screens.purpose import PurposeScreen
    from ftwizard.tui.screens.review import ReviewScreen

    await settle(pilot)
    app: FtwizardApp = pilot.app  # type: ignore[assignment]
    state = app.state
    state.model_id, state.model_facts = model, resolve_model_facts(model)
    state.data_path, state.data_report = str(data), validate_path(data).summary()
    assert state.model_facts is not None and state.data_facts is not None
    state.plan = recommend(
        state.target, state.model_facts, state.data_facts, state.purpose, state.base_config()
    )
    state.config = state.plan.config
    screen = {"purpose": PurposeScreen, "settings": ParamsScreen, "review": ReviewScreen}[step]
    app.push_screen(screen())
    await settle(pilot)


def cut_text(app: FtwizardApp) -> list[str]:
    """What the current screen cuts off: a widget whose content is wider than its box
    (it would need a sideways scroll), or a line where Rich cropped text with an ellipsis.

    An Input scrolls its own text by design; a model id shortened to "…/name" on purpose
    is not a cut.
    """
    problems = []
    for widget in app.screen.query("*"):
        if not widget.display or not widget.is_scrollable or isinstance(widget, Input):
            continue
        extra = widget.virtual_size.width - widget.scrollable_content_region.width
        if extra > 0:
            problems.append(f"{widget!r} is {extra} columns too wide")
    for row, strip in enumerate(app.screen._compositor.render_strips()):
        line = strip.text.rstrip()
        if "…" in line.replace("…/", ""):
            problems.append(f"line {row + 1} is cropped: {line}")
    return problems
