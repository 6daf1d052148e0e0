"""Built-in presets: run configurations saved as YAML in the package's ``presets/`` folder.

They ship inside the package with the files they use (the demo data in
``presets/data/``), so ``ftwizard --preset demo-cpu`` works from any folder: a relative
path in a built-in preset that names one of those files is read from beside the preset.
Every other relative path (a user's ``data/train.jsonl``) stays relative to the
working folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ftwizard.core.errors import UserError
from ftwizard.core.files import load_yaml, read_small_text

PRESETS_ENV = "FTWIZARD_PRESETS"
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "presets"
# The keys of a preset that name files.
PATH_KEYS = (("data", "path"), ("evaluation", "val_path"))


@dataclass(frozen=True)
class PresetInfo:
    name: str
    path: Path
    description: str


def preset_dirs() -> list[Path]:
    """``$FTWIZARD_PRESETS`` (path-separated) first, then the built-in ones."""
    extra = [Path(p) for p in os.environ.get(PRESETS_ENV, "").split(os.pathsep) if p]
    return [*extra, BUILTIN_DIR]


def _description(path: Path) -> str:
    # Listing must stay fast: read the one key with plain YAML, no validation.
    try:
        data = load_yaml(read_small_text(path, "a preset"), str(path))
    except (UserError, yaml.YAMLError):
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


def resolve_shipped_files(preset: Path, data: dict[str, Any]) -> None:
    """In a built-in preset, relative paths to files shipped beside it become absolute."""
    if preset.resolve().parent != BUILTIN_DIR:
        return
    places: list[tuple[object, str]] = [(data.get(section), key) for section, key in PATH_KEYS]
    stages = data.get("stages")
    if isinstance(stages, list):  # each stage's own data file
        places += [(stage, "data") for stage in stages]
    section = data.get("data")
    mix = section.get("mix") if isinstance(section, dict) else None
    if isinstance(mix, list):  # each mixed-in source's file
        places += [(source, "path") for source in mix]
    for values, key in places:
        value = values.get(key) if isinstance(values, dict) else None
        if isinstance(values, dict) and isinstance(value, str) and not Path(value).is_absolute():
            shipped = BUILTIN_DIR / value
            if shipped.is_file():
                values[key] = str(shipped)
