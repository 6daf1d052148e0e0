"""The Textual application. Kept small: behaviour lives in screens and widgets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App

from ftwizard import __version__
from ftwizard.core.hardware import HardwareReport, probe
from ftwizard.tui.screens.start import StartScreen

HardwareProbe = Callable[[], HardwareReport]


class FtwizardApp(App[int]):
    """ftwizard's wizard, from the hardware report to a trained adapter."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "ftwizard"
    SUB_TITLE = f"fine-tuning wizard {__version__}"

    def __init__(self, hardware_probe: HardwareProbe = probe) -> None:
        super().__init__()
        # Injected so tests and screenshots can show any hardware.
        self.hardware_probe = hardware_probe

    def on_mount(self) -> None:
        self.push_screen(StartScreen(self.hardware_probe))


def run_app() -> int:
    """Open the wizard; returns the exit code."""
    result = FtwizardApp().run()
    return result if isinstance(result, int) else 0
