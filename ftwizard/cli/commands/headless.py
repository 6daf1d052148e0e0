"""``ftwizard --preset FILE``: the headless run."""

from __future__ import annotations

from ftwizard.cli.console import err, print_json, write_text
from ftwizard.core.config_io import dump_config, load_config
from ftwizard.core.errors import UserError
from ftwizard.core.presets import find_preset


def run_preset(preset: str, overrides: list[str], dry_run: bool, as_json: bool) -> int:
    path = find_preset(preset)
    config = load_config(path, overrides)
    if as_json:
        print_json(config.to_dict())
    else:
        note = f" with {len(overrides)} --set override(s)" if overrides else ""
        err.print(f"Resolved configuration from {path}{note}:", style="bold")
        write_text(dump_config(config))
    if dry_run:
        return 0
    raise UserError(
        "Training is not part of this version yet; only --dry-run is available.",
        hint="Add --dry-run to validate a preset and print its resolved configuration.",
    )
