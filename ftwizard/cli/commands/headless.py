"""``ftwizard --preset FILE``: check, plan, launch the detached trainer, and follow it."""

from __future__ import annotations

from rich.text import Text

from ftwizard.cli.console import err, out, print_json, write_text
from ftwizard.cli.follow import follow
from ftwizard.core.config.presets import find_preset
from ftwizard.core.config.yaml_io import Override, dump_config, load_config
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.probe import probe
from ftwizard.core.runs.folder import runs_root
from ftwizard.core.runs.launch import join
from ftwizard.core.runs.machines import Machines, check_machines
from ftwizard.core.runs.preflight import LaunchPlan, prepare_launch, start_run


def print_plan(plan: LaunchPlan) -> None:
    config, summary = plan.config, plan.summary
    objectives = " then ".join(s.objective for s in config.stages) or config.method.objective
    examples = "" if config.stages else f"; {summary.rows:,} examples"
    err.print(
        Text.assemble(
            ("plan: ", "bold"),
            f"{objectives} + "
            f"{config.method.adapter} of {config.model.model_name_or_path} on "
            f"{summary.where}{examples}",
        )
    )
    style = {"fits": "green", "tight": "yellow"}.get(summary.verdict, "red")
    err.print(Text("  " + summary.words(), style=style))
    for note in plan.notes:
        err.print(f"  {note}", style="bold yellow" if "trust_remote_code" in note else "")
    if summary.verdict == "does not fit":
        err.print(
            "  It may run out of memory; `ftwizard estimate --preset ...` shows the breakdown.",
            style="yellow",
        )


def _prepare_with_spinner(name: str) -> None:
    from ftwizard.cli.commands.models import prepare_command

    if prepare_command(name, force=False) != 0:
        raise UserError(f"Could not prepare the built-in model {name} (its log is above).")


def run_preset(
    preset: str,
    overrides: list[Override],
    dry_run: bool,
    as_json: bool,
    detach: bool = False,
    machines: Machines | None = None,
) -> int:
    path = find_preset(preset)
    if machines is not None:
        overrides = [*overrides, machines.override]
    config = load_config(path, overrides)
    check_machines(config, machines)
    if dry_run and as_json:
        print_json(config.to_dict())
        return 0
    if dry_run:
        note = f" with {len(overrides)} --set override(s)" if overrides else ""
        err.print(f"Resolved configuration from {path}{note}:", style="bold")
        write_text(dump_config(config))
    report = probe(runs_root=config.output.runs_root)
    with err.status("Checking...") as spinner:
        plan = prepare_launch(
            config,
            report,
            prepare=None if dry_run else _prepare_with_spinner,
            on_step=spinner.update,
        )
    config = plan.config
    print_plan(plan)
    if machines is not None:
        err.print(
            f"  machine {machines.rank} of {machines.count}; rendezvous at {machines.endpoint}"
        )
    if dry_run:
        return 0
    if machines is not None and not machines.first:
        with err.status(f"Waiting for machine 0's launch of {config.output.run_name}..."):
            run = join(runs_root(config) / str(config.output.run_name), machines, config)
        out.print(f"machine {machines.rank} joined run {run.name}: {run.path}")
    else:
        run = start_run(plan, machines=machines)
        out.print(f"run {run.name} started: {run.path}")
        if machines is not None:
            err.print(
                f"  Start the other machines with the same command and --node-rank "
                f"{machines.others}; this one waits for them."
            )
    if detach:
        out.print(
            f"Detached. Follow it with `ftwizard attach {run.name}`, stop it with "
            f"`ftwizard stop {run.name}`."
        )
        return 0
    return follow(run)
