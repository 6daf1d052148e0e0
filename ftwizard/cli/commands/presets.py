"""``ftwizard presets``: list, show and validate run configurations."""

from __future__ import annotations

import argparse

from rich.table import Table

from ftwizard.cli.console import out, print_json, write_text
from ftwizard.core.config.presets import find_preset, list_presets
from ftwizard.core.config.yaml_io import dump_config, load_config


def list_command(as_json: bool) -> int:
    presets = list_presets()
    if as_json:
        print_json(
            [{"name": p.name, "path": str(p.path), "description": p.description} for p in presets]
        )
        return 0
    table = Table("name", "description", title="Presets", title_justify="left")
    for preset in presets:
        table.add_row(preset.name, preset.description)
    out.print(table)
    out.print("Show one with `ftwizard presets show NAME`; run it with `ftwizard --preset NAME`.")
    return 0


def show_command(name: str, overrides: list[str], as_json: bool) -> int:
    config = load_config(find_preset(name), overrides)
    if as_json:
        print_json(config.to_dict())
    else:
        write_text(dump_config(config, comments=True))
    return 0


def validate_command(name: str, overrides: list[str], as_json: bool) -> int:
    path = find_preset(name)
    load_config(path, overrides)  # raises ConfigError listing every problem
    if as_json:
        print_json({"path": str(path), "valid": True})
    else:
        out.print(f"{path}: valid")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    if args.action in (None, "list"):
        return list_command(as_json=getattr(args, "json", False))
    if args.action == "show":
        return show_command(args.name, args.overrides, args.json)
    return validate_command(args.name, args.overrides, args.json)
