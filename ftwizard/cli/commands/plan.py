"""``ftwizard plan``: the recommendation with its reasons, every method's estimate, the config."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from ftwizard.cli.commands.data import parse_map
from ftwizard.cli.console import confirm_target, err, out, print_json, write_text
from ftwizard.cli.targets import resolve_target
from ftwizard.core.config.presets import find_preset
from ftwizard.core.config.yaml_io import (
    Override,
    config_from_dict,
    dump_config,
    load_config,
    save_config,
)
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import GPU_TABLE, Target, target_from_spec
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.models.source import resolve_model_facts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.fit import least_memory, method_options
from ftwizard.core.planning.plan import Plan
from ftwizard.core.planning.recommend import recommend
from ftwizard.core.planning.stages import Stage, plan_stages, total_eta
from ftwizard.core.planning.tables import METHODS
from ftwizard.core.planning.time_advice import warning_words, with_time_advice
from ftwizard.core.runs.machines import node_commands
from ftwizard.core.units import about


def smallest_cards(facts: ModelFacts, plan: Plan) -> dict[str, list[str]]:
    """For each method, the smallest table cards (by memory) on which it fits."""
    cards = sorted(GPU_TABLE, key=lambda spec: spec.memory_gib)
    result: dict[str, list[str]] = {}
    for adapter in METHODS:
        fitting: list[str] = []
        smallest: float | None = None
        for spec in cards:
            if smallest is not None and spec.memory_gib > smallest + 1.0:
                break  # only the cards of the smallest size that works ("80 GB" is 79.6-80)
            option = least_memory(
                method_options(facts, plan.config, adapter, target_from_spec(spec))
            )
            if option.verdict == "fits":
                fitting.append(spec.name)
                smallest = smallest or spec.memory_gib
        result[adapter] = fitting
    return result


def render(plan: Plan, target_label: str) -> list[Any]:
    decisions = Table("decision", "choice", "why", title="Recommendation", title_justify="left")
    for decision in plan.decisions:
        decisions.add_row(decision.topic, decision.choice, decision.reason)
    methods = Table(
        "method",
        "verdict",
        "card total GB",
        "micro-batch",
        "checkpointing",
        title=f"Every method on {target_label}",
        title_justify="left",
    )
    for option in plan.methods:
        style = {"fits": "green", "tight": "yellow"}.get(option.verdict, "red")
        methods.add_row(
            option.adapter,
            Text(option.verdict, style=style),
            f"{option.estimate.device_total_gib:.1f}",
            str(option.micro_batch),
            "on" if option.gradient_checkpointing else "off",
        )
    parts: list[Any] = []
    if plan.time_warning is not None:  # the first thing a person reads
        parts.append(Text(warning_words(plan.time_warning), style="bold yellow"))
    parts += [decisions, methods]
    parts.append(Text(f"ETA: {about(plan.eta_seconds)} (an estimate from a throughput model)"))
    for change in plan.changes_needed:
        parts.append(Text(f"to fit: {change}", style="yellow"))
    for note in plan.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    return parts


def run(args: argparse.Namespace) -> int:
    if args.rows is not None and args.rows < 1:
        raise UserError(f"--rows {args.rows}: a dataset needs at least one example.")
    if args.save_preset:  # before the planning: a refusal costs nothing
        confirm_target(Path(args.save_preset), "the plan's preset", args.force)
    preset = find_preset(args.preset) if args.preset else None
    overrides: list[Override] = [
        (f"--model {args.model}", f"model.model_name_or_path={json.dumps(args.model)}"),
        *args.overrides,
    ]
    base = load_config(preset, overrides)
    facts = resolve_model_facts(base.model.model_name_or_path, base.model.revision)
    target = resolve_target(args)
    if args.data:
        from ftwizard.cli.commands.data import dataset_facts

        data = dataset_facts(args, base.model.model_name_or_path, base.training.max_length)
    else:
        data = DatasetFacts(rows=args.rows, kind=args.data_kind)
    pairs = None
    if args.pairs:
        from ftwizard.cli.commands.data import pairs_facts

        pairs = pairs_facts(args, base.model.model_name_or_path, base.training.max_length)
    plan = recommend(target, facts, data, args.purpose, base=base, method=args.method)
    plan = with_time_advice(plan, target, facts, data, args.purpose, base)
    if args.data:  # the plan trains on this dataset
        resolved = plan.config.to_dict()
        resolved["data"].update(
            path=args.data,
            format=args.format,
            column_map=parse_map(args.map),
            skip_invalid=args.skip_invalid,
            name=args.name,
            split=args.split,
        )
        plan.config = config_from_dict(resolved, "the plan")
    cards = smallest_cards(facts, plan) if args.which_gpu else None
    machines = plan.config.distributed.num_machines
    commands: list[str] = []
    if args.save_preset and machines > 1:
        if not plan.config.output.run_name:  # every machine must open the same run folder
            plan.config = plan.config.with_sections(
                output={"run_name": _run_name(args.save_preset)}
            )
        commands = node_commands(args.save_preset, machines)
    if args.save_preset:
        save_config(plan.config, args.save_preset)

    stages = plan_stages(plan, args.purpose, target, facts, pairs, args.pairs)
    if args.json:
        _print_json(plan, data, target, stages, cards, commands)
        return 0
    _print_text(plan, data, target, stages, cards)
    if commands:
        err.print(
            f"Saved to {args.save_preset}. Set output.runs_root (now "
            f"{plan.config.output.runs_root}) to a folder on storage all {machines} machines "
            "see, at the same path; copy the preset to each and run, machine 0 first "
            "(FIRST_MACHINE: its address as the others reach it):"
        )
        for rank, command in enumerate(commands):
            err.print(f"  machine {rank}: {command}", soft_wrap=True)
    elif args.save_preset:
        err.print(
            f"Saved to {args.save_preset}; run it with `ftwizard --preset {args.save_preset}`."
        )
    return 0


def _print_json(
    plan: Plan,
    data: DatasetFacts,
    target: Target,
    stages: list[Stage],
    cards: dict[str, list[str]] | None,
    commands: list[str],
) -> None:
    data_out = plan.to_dict()
    data_out["data"] = data.to_dict()
    data_out["target"] = {
        "name": target.label,
        "count": target.count,
        "free_gb": round(target.free_gib, 3),
        "source": target.source,
    }
    data_out["stages"] = [stage.to_dict() for stage in stages]
    eta = total_eta(stages)
    data_out["total_eta_seconds"] = None if eta is None else round(eta, 1)
    if cards is not None:
        data_out["which_gpu"] = cards
    if commands:
        data_out["commands"] = commands
    print_json(data_out)


def _print_text(
    plan: Plan,
    data: DatasetFacts,
    target: Target,
    stages: list[Stage],
    cards: dict[str, list[str]] | None,
) -> None:
    tokens = (
        f", about {data.tokens_mean:,.0f} tokens each ({data.source})" if data.tokens_mean else ""
    )
    out.print(Text(f"data: {data.rows:,} {data.kind} examples{tokens}", style="bold"))
    for part in render(plan, target.label):
        out.print(part)
    if len(stages) > 1:
        out.print(stages_table(stages))
    if cards is not None:
        table = Table(
            "method", "smallest cards where it fits", title="Which GPU", title_justify="left"
        )
        for adapter, names in cards.items():
            table.add_row(adapter, ", ".join(names) or "none in the table")
        out.print(table)
    err.print("Resulting run configuration:", style="bold")
    write_text(dump_config(plan.config))


def stages_table(stages: list[Stage]) -> Table:
    """The plan's stages, one row each: what it trains on, its memory and ETA, or what it
    waits for; the total below."""
    table = Table(
        "stage", "objective", "data", "memory", "ETA", title="Stages", title_justify="left"
    )
    for stage in stages:
        plan = stage.plan
        data = stage.data or "-"
        if stage.rows is not None:
            data = f"{data} ({stage.rows:,} rows)"
        if plan is None:
            waits = Text(f"waits: {stage.waiting}", "yellow")
            table.add_row(str(stage.number), stage.objective, data, waits, "")
            continue
        memory = "" if plan.estimate is None else f"{plan.estimate.device_total_gib:.1f} GB"
        table.add_row(str(stage.number), stage.objective, data, memory, about(plan.eta_seconds))
    eta = total_eta(stages)
    waiting = any(s.plan is None for s in stages)
    table.caption = f"total ETA {about(eta)}" + (" for the planned stages" if waiting else "")
    if len(stages) > 1 and stages[1].plan is not None:
        table.caption += "; run stage 2 with `ftwizard --preset STAGE_2.yaml --from STAGE_1_RUN`"
    elif waiting:
        table.caption += "; plan stage 2 with --pairs FILE"
    return table


def _run_name(preset_path: str) -> str:
    """A run name from the preset's file name, as output.run_name accepts it."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(preset_path).stem).strip("-._")
    return stem or "run"
