"""A path field that completes file and folder names (accept with the Right arrow)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester

from ftwizard.core.data.sources import SUFFIXES


class PathSuggester(Suggester):
    """Completes the last part of a path from what is on disk: folders first, then
    dataset files (the suffixes the reader knows)."""

    def __init__(self, suffixes: tuple[str, ...] = SUFFIXES) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.suffixes = suffixes

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        head, _, stem = value.rpartition("/")
        folder = (
            Path(os.path.expanduser(head or "."))
            if head or not value.startswith("/")
            else Path("/")
        )
        try:
            entries = sorted(os.scandir(folder), key=lambda e: (not e.is_dir(), e.name))
        except OSError:
            return None
        for entry in entries:
            if not entry.name.startswith(stem) or entry.name.startswith(".") and not stem:
                continue
            if entry.is_dir():
                return (
                    f"{head}/{entry.name}/" if head or value.startswith("/") else f"{entry.name}/"
                )
            if entry.name.endswith(self.suffixes):
                return f"{head}/{entry.name}" if head or value.startswith("/") else entry.name
        return None
