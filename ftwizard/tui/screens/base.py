"""What every ftwizard screen shares: typed access to the app and its wizard state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from ftwizard.tui.app import FtwizardApp
    from ftwizard.tui.state import WizardState


class WizardScreen(Screen[None]):
    @property
    def wizard(self) -> FtwizardApp:
        return self.app  # type: ignore[return-value]

    @property
    def state(self) -> WizardState:
        return self.wizard.state
