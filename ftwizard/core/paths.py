"""Where ftwizard keeps things on disk."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FTWIZARD_CACHE"


def cache_dir() -> Path:
    """``$FTWIZARD_CACHE``, else ``$XDG_CACHE_HOME/ftwizard``, else ``~/.cache/ftwizard``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ftwizard"


# Files people name by path: a name ending so is never asked of the Hub.
LOCAL_SUFFIXES = (
    *(".json", ".jsonl", ".csv", ".tsv", ".parquet", ".txt", ".gguf"),
    *(".yaml", ".yml", ".safetensors", ".bin", ".pt"),
)


def looks_local(text: str) -> bool:
    """Whether ``text`` is meant as a path on this machine, existing or not: it starts
    with ``.``, ``/`` or ``~``, ends in a file suffix, or its parent folder exists.
    Such a name is never sent to the Hub, where a mistyped path would be a request
    naming a private file."""
    if text.startswith((".", "/", "~")):
        return True
    path = Path(text)
    if path.suffix.lower() in LOCAL_SUFFIXES:
        return True
    return path.parent != Path(".") and path.parent.expanduser().is_dir()


def project_root() -> Path:
    """The source checkout this package runs from (holds ``presets/``)."""
    return Path(__file__).resolve().parents[2]
