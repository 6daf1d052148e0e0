"""The runs under the runs root, with what Enter does for each in words."""

from __future__ import annotations

import time

from textual.widgets import DataTable

from ftwizard.core.runs.folder import RunFolder, list_runs
from ftwizard.core.runs.status import ACTIVE
from ftwizard.core.runs.watch import duration

NEXT_ACTION = {"finished": "results", "stopped": "resume", "failed": "resume", "damaged": "why"}


def next_action(state: str) -> str:
    """What opening a run does: attach to a live one, resume a stopped one..."""
    if state in ACTIVE:
        return "attach"
    return NEXT_ACTION.get(state, "inspect")


class RunsTable(DataTable[str]):
    """One row per run folder, newest last; the row key is the run's path."""

    def __init__(self, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.runs: dict[str, RunFolder] = {}

    def on_mount(self) -> None:
        self.add_columns("run", "state", "Enter", "progress", "last loss", "age")

    def fill(self, root: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.clear()
        self.runs = {}
        for run in list_runs(root):
            status = run.read_status()
            state = status.state
            loss = status.last_loss
            age = now - run.config_path.stat().st_mtime
            self.runs[str(run.path)] = run
            self.add_row(
                run.name,
                str(state),
                next_action(state),
                f"{status.step}/{status.max_steps or '?'}",
                "n/a" if loss is None else f"{loss:.4f}",
                duration(age) + " ago",
                key=str(run.path),
            )
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
