"""Built-in presets: run configurations saved as YAML in ``presets/``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from ftwizard.core.errors import UserError
from ftwizard.core.paths import project_root

PRESETS_ENV = "FTWIZARD_PRESETS"


@dataclass(frozen=True)
class PresetInfo:
    name: str
    path: Path
    description: str


def preset_dirs() -> list[Path]:
    """``$FTWIZARD_PRESETS`` (path-separated) first, then the checkout's ``presets/``."""
    extra = [Path(p) for p in os.environ.get(PRESETS_ENV, "").split(os.pathsep) if p]
    return [*extra, project_root() / "presets"]


def _description(path: Path) -> str:
    # Listing must stay fast: read the one key with plain YAML, no validation.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "(unreadable: run `ftwizard presets validate` on it)"
    text = data.get("description") if isinstance(data, dict) else None
    return str(text) if text else ""


def list_presets() -> list[PresetInfo]:
    seen: dict[str, PresetInfo] = {}
    for folder in preset_dirs():
        for path in sorted(folder.glob("*.yaml")):
            seen.setdefault(path.stem, PresetInfo(path.stem, path, _description(path)))
    return sorted(seen.values(), key=lambda p: p.name)


def find_preset(name_or_path: str) -> Path:
    """A preset by name (``demo-cpu``) or by path (``presets/demo-cpu.yaml``)."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path  # a path; load_config reports it if missing
    for preset in list_presets():
        if preset.name == name_or_path:
            return preset.path
    names = ", ".join(p.name for p in list_presets()) or "none found"
    raise UserError(f"No preset named `{name_or_path}`. Built-in presets: {names}.")
