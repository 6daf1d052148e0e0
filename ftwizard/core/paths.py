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


def project_root() -> Path:
    """The source checkout this package runs from (holds ``presets/``)."""
    return Path(__file__).resolve().parents[2]
