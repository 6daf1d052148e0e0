"""``ftwizard --preset FILE``: check, plan, launch the detached trainer, and follow it."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from ftwizard.cli.console import err, out, print_json, write_text
from ftwizard.cli.follow import duration, follow
from ftwizard.core.builtin_models import BUILTIN_MODELS
from ftwizard.core.config import RunConfig
from ftwizard.core.config_io import dump_config, load_config
from ftwizard.core.data.templates import check_objective
from ftwizard.core.data.validate import validate_path
from ftwizard.core.dataset_facts import DatasetFacts
from ftwizard.core.errors import UserError
from ftwizard.core.estimator import estimate, targeted_modules
from ftwizard.core.fit import eta_seconds
from ftwizard.core.gpus import target_from_report, verdict
from ftwizard.core.hardware import probe
from ftwizard.core.launch import launch
from ftwizard.core.model_facts import ModelFacts
from ftwizard.core.model_source import resolve_model_facts
from ftwizard.core.presets import find_preset
from ftwizard.core.runs import create_run


def check_before_launch(config: RunConfig, prepare: bool = True) -> tuple[ModelFacts, DatasetFacts]:
    """Everything that can be wrong with the input, found before any weight is loaded."""
    facts = resolve_model_facts(config.model.model_name_or_path, config.model.revision)
    if config.method.adapter != "full":
        targeted_modules(facts, config.lora.target_modules)
    if not config.data.path:
        raise UserError(
            "data.path is empty: say what to train on.",
            hint="Add `data: {path: my-data.jsonl}` to the preset, or "
            "--set data.path=my-data.jsonl",
        )
    report = validate_path(
        Path(config.data.path),
        config.data.format,
        config.data.column_map,
        name=config.data.name,
        split=config.data.split,
    )
    problem = check_objective(
        config.method.objective, report.detection.trainer_shape, report.detection.format
    )
    if problem:
        raise UserError(
            f"{config.data.path}: {problem}.",
            hint="Set method.objective to match the data, or use other data.",
        )
    if report.rows_invalid and not config.data.skip_invalid:
        shown = "; ".join(f"{p.where}: {p.message}" for p in report.problems if p.blocking)[:600]
        raise UserError(
            f"{config.data.path}: {report.rows_invalid} invalid rows ({shown}).",
            hint=f"See them all with `ftwizard data {config.data.path}`, fix them, or "
            "set data.skip_invalid: true to train without them (they are counted).",
        )
    # Converting a built-in model takes a while: only once the input is known good.
    builtin = BUILTIN_MODELS.get(config.model.model_name_or_path)
    if prepare and builtin is not None and not builtin.prepared:
        from ftwizard.cli.commands.models import prepare_command

        if prepare_command(builtin.short_name, force=False) != 0:
            raise UserError(f"Could not prepare the built-in model {builtin.short_name}.")
    tokens = report.chars_total / 4 / max(1, report.rows_valid)
    return facts, DatasetFacts(rows=report.rows_valid, tokens_mean=tokens, source="characters / 4")


def print_plan(config: RunConfig, facts: ModelFacts, data: DatasetFacts) -> None:
    report = probe(runs_root=config.output.runs_root)
    target = target_from_report(report)
    result = estimate(facts, config, device="cpu" if target.cpu else "cuda")
    where = "CPU (no NVIDIA GPU)" if target.cpu else f"{target.count} x {target.label}"
    word = verdict(result.device_total_gib, target)
    style = {"fits": "green", "tight": "yellow"}.get(word, "red")
    memory = "RAM" if target.cpu else "GPU memory"
    eta = eta_seconds(facts, config, data, target)
    err.print(
        Text.assemble(
            ("plan: ", "bold"),
            f"{config.method.objective} + "
            f"{config.method.adapter} of {config.model.model_name_or_path} on "
            f"{where}; {data.rows:,} examples",
        )
    )
    err.print(
        Text.assemble(
            f"  {memory}: about {result.device_total_gib:.1f} GB of "
            f"{target.free_gib:.1f} GB free - ",
            (word, style),
            f"; ETA {duration(eta)} (an estimate)",
        )
    )
    if config.model.trust_remote_code:
        err.print(
            "  trust_remote_code is on: the model's own Python code will run.", style="bold yellow"
        )
    if word == "does not fit":
        err.print(
            "  It may run out of memory; `ftwizard estimate --preset ...` shows the breakdown.",
            style="yellow",
        )


def run_preset(
    preset: str, overrides: list[str], dry_run: bool, as_json: bool, detach: bool = False
) -> int:
    path = find_preset(preset)
    config = load_config(path, overrides)
    if dry_run and as_json:
        print_json(config.to_dict())
        return 0
    if dry_run:
        note = f" with {len(overrides)} --set override(s)" if overrides else ""
        err.print(f"Resolved configuration from {path}{note}:", style="bold")
        write_text(dump_config(config))
    facts, data = check_before_launch(config, prepare=not dry_run)
    print_plan(config, facts, data)
    if dry_run:
        return 0
    run = create_run(config)
    launch(run)
    out.print(f"run {run.name} started: {run.path}")
    if detach:
        out.print(
            f"Detached. Follow it with `ftwizard attach {run.name}`, stop it with "
            f"`ftwizard stop {run.name}`."
        )
        return 0
    return follow(run)
