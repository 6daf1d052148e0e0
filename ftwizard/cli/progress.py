"""Progress of the models' answers in a trainer-package process (``eval``, ``judge``):
a bar per model on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from ftwizard.cli.console import err
from ftwizard.core.evaluation import messages


@contextmanager
def answer_progress(what: str) -> Iterator[Callable[[messages.Progress], None]]:
    """A bar per model on stderr, moved by the trainer process's progress lines."""
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}
    loading = bars.add_task(f"{what}: loading the models", total=None)

    def moved(progress: messages.Progress) -> None:
        if loading in bars.task_ids:
            bars.remove_task(loading)
        if progress.label not in tasks:
            tasks[progress.label] = bars.add_task(progress.label, total=progress.total)
        bars.update(tasks[progress.label], completed=progress.done)

    with bars:
        yield moved
