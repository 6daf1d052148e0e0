"""Checks before a run starts: the same for ``ftwizard --preset`` and the wizard's launch."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.data.mix import mix_words, plan_mix, repeat_warnings
from ftwizard.core.data.templates import check_objective
from ftwizard.core.data.validate import detect_path, validate_path
from ftwizard.core.errors import UserError
from ftwizard.core.hardware.gpus import Target, Verdict, target_from_report, verdict
from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.core.models.builtin import BUILTIN_MODELS
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.models.source import resolve_model_facts
from ftwizard.core.planning.cpu_memory import cpu_peak
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.distributed import check_hardware
from ftwizard.core.planning.estimator import estimate, targeted_modules
from ftwizard.core.planning.kernels import check_kernels
from ftwizard.core.planning.precision import cpu_base_dtype
from ftwizard.core.planning.throughput import training_time
from ftwizard.core.runs.folder import RunFolder, create_run
from ftwizard.core.runs.launch import launch
from ftwizard.core.runs.machines import Machines, check_machines
from ftwizard.core.runs.model_card import save_decisions
from ftwizard.core.runs.rewards import with_rewards
from ftwizard.core.runs.stages import check_stages
from ftwizard.core.runs.start import with_start
from ftwizard.core.runs.watch import duration
from ftwizard.core.trainer_calls import TokenStatsRequest, prepare_builtin_model, token_stats


def check_before_launch(
    config: RunConfig, prepare: Callable[[str], object] | None = prepare_builtin_model
) -> tuple[ModelFacts, DatasetFacts]:
    """Everything that can be wrong with the input, found before any weight is loaded.

    ``prepare`` converts a built-in model that is not converted yet (``None``: skip,
    for dry runs); the CLI passes one with a spinner.
    """
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
        config.data.path,  # as written: a leading ./ says it is no Hub id
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
    if prepare is not None and builtin is not None and not builtin.prepared:
        prepare(builtin.short_name)
    tokens = report.chars_total / 4 / max(1, report.rows_valid)
    return facts, DatasetFacts(rows=report.rows_valid, tokens_mean=tokens, source="characters / 4")


@dataclass(frozen=True)
class LaunchSummary:
    """The one-line plan shown before a run starts (headless and wizard alike)."""

    where: str
    memory_label: str
    estimate_gib: float
    free_gib: float
    verdict: Verdict
    eta_s: float
    rows: int
    processes: int = 1
    seconds_per_step: float | None = None

    @property
    def per_gpu(self) -> str:
        return " per GPU" if self.processes > 1 and self.memory_label != "RAM" else ""

    def words(self) -> str:
        return (
            f"{self.memory_label}{self.per_gpu}: about {self.estimate_gib:.1f} GB of "
            f"{self.free_gib:.1f} GB free - {self.verdict}; ETA {duration(self.eta_s)} "
            "(an estimate)"
        )


def with_machine_precision(config: RunConfig, target: Target) -> tuple[RunConfig, str | None]:
    """``model.dtype: auto`` made concrete for this machine (on the CPU: a bf16 base for
    LoRA where the CPU has bf16 instructions), and a line saying so when it changed."""
    if not target.cpu or config.model.dtype != "auto":
        return config, None
    cpu = cpu_base_dtype(config.method.adapter, target, "auto")
    if cpu.dtype == "float32":
        return config, None  # what "auto" already loads on the CPU
    note = f"precision: {cpu.choice} - {cpu.reason}"
    return config.with_sections(model={"dtype": cpu.dtype}), note


# Tokenising this many rows takes seconds; bigger datasets keep characters / 4.
TOKEN_COUNT_ROWS = 20_000
# "chars": count characters / 4 instead, at once (the test suite's many launches).
TOKEN_COUNT_ENV = "FTWIZARD_ETA_TOKENS"


def with_token_counts(config: RunConfig, data: DatasetFacts) -> DatasetFacts:
    """The examples' token lengths from the run's tokenizer, for the ETA: characters / 4
    misses the chat template's own tokens (SmolLM2's default system prompt alone is ~30)
    and says nothing of the spread that padding costs. Unchanged when the tokenizer is
    not at hand or the data is large."""
    if data.rows > TOKEN_COUNT_ROWS or os.environ.get(TOKEN_COUNT_ENV) == "chars":
        return data
    d = config.data
    request = TokenStatsRequest(
        path=d.path,
        model=config.model.model_name_or_path,
        max_length=config.training.max_length,
        data_format=d.format,
        column_map=d.column_map,
        split=d.split,
        name=d.name,
        train_on=d.train_on,
    )
    try:
        stats = token_stats(request).stats
    except Exception:  # noqa: BLE001 - an ETA is not worth refusing a launch for
        return data
    return replace(
        data,
        tokens_mean=stats.tokens_mean,
        tokens_p95=stats.tokens_p95,
        tokens_max=stats.tokens_max,
        source="tokenizer",
    )


def summarise(
    config: RunConfig, facts: ModelFacts, data: DatasetFacts, target: Target
) -> LaunchSummary:
    if target.cpu:  # the whole trainer process, as its RSS peaks
        needed = cpu_peak(facts, config, data).total_gib
    else:
        needed = estimate(facts, config).device_total_gib
    planned = training_time(facts, config, data, target)
    return LaunchSummary(
        where=where(config, target),
        memory_label="RAM" if target.cpu else "GPU memory",
        estimate_gib=needed,
        free_gib=target.free_gib,
        verdict=verdict(needed, target),
        eta_s=planned.eta_seconds,
        rows=data.rows,
        processes=config.distributed.world_size,
        seconds_per_step=planned.seconds_per_step,
    )


def where(config: RunConfig, target: Target) -> str:
    """Which hardware trains, in words: "2 of 4 x NVIDIA H100 80GB HBM3 (FSDP)"."""
    processes = config.distributed.num_processes
    if target.cpu:
        extra = f", {processes} processes (DDP over gloo)" if processes > 1 else ""
        text = f"CPU (no NVIDIA GPU){extra}"
    else:
        used = f"{processes} of {target.count}" if processes < target.count else str(target.count)
        strategy = (
            f" ({config.distributed.strategy.upper()})" if config.distributed.world_size > 1 else ""
        )
        text = f"{used} x {target.label}{strategy}"
    machines = config.distributed.num_machines
    return text if machines < 2 else f"{machines} machines, each {text}"


@dataclass(frozen=True)
class LaunchPlan:
    """What a launch starts, as every way in shows it and the run folder records it."""

    config: RunConfig
    """The configuration the trainer runs: ``model.dtype: auto`` made concrete here."""
    facts: ModelFacts
    data: DatasetFacts
    summary: LaunchSummary
    notes: tuple[str, ...] = ()
    """Lines said before training: the precision chosen, the remote-code warning."""


def launch_figures(
    config: RunConfig, facts: ModelFacts, data: DatasetFacts, target: Target
) -> LaunchPlan:
    """The plan's figures for ``config`` on ``target``: the settings screen shows them as
    they change, and ``prepare_launch`` ends with them."""
    config, precision = with_machine_precision(config, target)
    notes = tuple(n for n in (precision, config.model.remote_code_warning()) if n)
    return LaunchPlan(config, facts, data, summarise(config, facts, data, target), notes)


def prepare_launch(
    config: RunConfig,
    report: HardwareReport,
    prepare: Callable[[str], object] | None = prepare_builtin_model,
    on_step: Callable[[str], None] = lambda _: None,
) -> LaunchPlan:
    """Everything before a run starts, in one order for the headless command, the
    wizard and resume: the hardware and input checks, the examples' token lengths from
    the run's tokenizer, the machine's precision, the memory estimate and the ETA.
    ``on_step`` hears each slow step's name (the CLI shows it on a spinner)."""
    check_hardware(config, report)
    on_step("Checking the model and the data...")
    config, start = with_start(config)
    config, rewards = with_rewards(config)
    if config.stages:
        plan = _staged_launch(config, target_from_report(report), prepare, on_step)
    else:
        facts, data = check_before_launch(config, prepare)
        check_kernels(config, facts, target_from_report(report))
        mixed = _mix_notes(config, data.rows, on_step)
        data = replace(data, rows=data.rows + mixed[0])
        on_step("Counting the examples' tokens for the ETA...")
        data = with_token_counts(config, data)
        plan = launch_figures(config, facts, data, target_from_report(report))
        plan = replace(plan, notes=(*mixed[1], *plan.notes))
    plan = replace(plan, notes=(*rewards, *plan.notes))
    return replace(plan, notes=(start, *plan.notes)) if start else plan


def _mix_notes(
    config: RunConfig, rows: int, on_step: Callable[[str], None]
) -> tuple[int, tuple[str, ...]]:
    """With ``data.mix``: the rows the other sources add, and the lines said before
    training (the shares, and any source too small for its share, which repeats)."""
    if not config.data.mix:
        return 0, ()
    on_step("Reading the mixed-in sources...")
    d = config.data
    shape = detect_path(d.path, d.format, d.column_map, "auto", d.name, d.split).trainer_shape
    share = 0.0 if config.evaluation.val_path else config.evaluation.val_size
    parts = plan_mix(rows, list(d.mix), config.training.seed, share, shape, d.path)
    added = sum(p.train + p.validation for p in parts[1:])
    return added, (mix_words(parts), *(f"warning: {w}" for w in repeat_warnings(parts)))


def _staged_launch(
    config: RunConfig,
    target: Target,
    prepare: Callable[[str], object] | None,
    on_step: Callable[[str], None],
) -> LaunchPlan:
    """The launch of a run in stages: every stage's input checked now, before stage 1
    trains for hours; the memory of the largest stage and the time of all of them."""
    config, precision = with_machine_precision(config, target)
    plans = []
    for number, stage in enumerate(check_stages(config), 1):
        on_step(f"Checking stage {number}'s model and data...")
        facts, data = check_before_launch(stage, prepare)
        check_kernels(stage, facts, target)
        plans.append(launch_figures(stage, facts, with_token_counts(stage, data), target))
    first = plans[0]
    peak = max(p.summary.estimate_gib for p in plans)
    summary = replace(
        first.summary,
        estimate_gib=peak,
        verdict=verdict(peak, target),
        eta_s=sum(p.summary.eta_s for p in plans),
        seconds_per_step=None,
    )
    notes = [
        f"stage {number} of {len(plans)}: {p.config.method.objective} on "
        f"{p.config.data.path} ({p.summary.rows:,} examples), about "
        f"{p.summary.estimate_gib:.1f} GB, ETA {duration(p.summary.eta_s)}"
        for number, p in enumerate(plans, 1)
    ]
    notes += [n for n in (precision, config.model.remote_code_warning()) if n]
    return LaunchPlan(config, first.facts, first.data, summary, tuple(notes))


def start_run(
    plan: LaunchPlan,
    decisions: list[tuple[str, str, str]] | None = None,
    machines: Machines | None = None,
) -> RunFolder:
    """Create the run folder, note the plan's figures in its status and its decisions
    (for the model card), start the trainer (machine 0's part, with ``machines``)."""
    check_machines(plan.config, machines)
    run = create_run(plan.config)
    if decisions:
        save_decisions(run, decisions)
    record_plan(run, plan.summary)
    launch(run, machines=machines)
    return run


def record_plan(run: RunFolder, summary: LaunchSummary) -> None:
    """The plan's memory and time in the run's status: the dashboard shows them beside
    the measured ones, and bench/ compares the step time with the prediction."""
    run.write_status(
        estimate_gb=round(summary.estimate_gib, 2),
        estimate_eta_s=summary.eta_s,
        estimate_s_per_step=summary.seconds_per_step,
    )
