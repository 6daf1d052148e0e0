"""The stages of a plan: the guides' path where the tables call for more than one run.

The planning tables give two-stage recipes: "chat: SFT first, then DPO on preference
pairs", "production: DPO + LoRA", "checkable: SFT, then GRPO". A plan for such a purpose
is then SFT on the person's examples, and a second stage that starts from the SFT result
(``model.from_run``): DPO on preference pairs, or GRPO on prompts with checkable
answers. Each stage is planned on its own data, with its own memory estimate and ETA;
the plan's total is their sum. Without its data the second stage waits, saying what it
needs, and the plan stops after stage 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ftwizard.core.config.parts import StageSection
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.hardware.gpus import Target
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.plan import Plan
from ftwizard.core.planning.recommend import recommend
from ftwizard.core.planning.tables import Purpose

PAIRS_NEEDED = (
    "needs preference pairs (rows with a prompt, a chosen and a rejected answer), e.g. your "
    "own file; until then the plan stops after stage 1"
)
PROMPTS_NEEDED = (
    "needs prompts with checkable answers (rows with a prompt and an answer), e.g. your own "
    "file; until then the plan stops after stage 1"
)
# The purposes whose table recipe has a second stage after SFT: its objective, the kind
# of data it trains on, and what to say while that data is missing.
SECOND_STAGE: dict[Purpose, tuple[str, str, str]] = {
    "chat": ("dpo", "preference", PAIRS_NEEDED),
    "production": ("dpo", "preference", PAIRS_NEEDED),
    "checkable": ("grpo", "prompts", PROMPTS_NEEDED),
}


@dataclass(frozen=True)
class Stage:
    """One run of the path: what it trains on and its plan, or why it waits."""

    number: int
    plan: Plan | None
    """None while the stage's data is missing."""
    objective: str
    data: str | None
    rows: int | None = None
    waiting: str | None = None
    """What the stage needs before it can be planned, and where that can come from."""
    starts_from: int | None = None
    """The stage whose result it trains on (``--from`` that stage's run)."""

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "stage": self.number,
            "objective": self.objective,
            "data": self.data,
            "rows": self.rows,
            "waiting": self.waiting,
            "estimate_gb": None
            if plan is None or plan.estimate is None
            else round(plan.estimate.device_total_gib, 2),  # fmt: skip
            "eta_seconds": None
            if plan is None or plan.eta_seconds is None
            else round(plan.eta_seconds, 1),  # fmt: skip
            "starts_from": self.starts_from,
            "config": None if plan is None else plan.config.to_dict(),
        }


def wants_second_stage(purpose: Purpose, first: Plan) -> bool:
    return purpose in SECOND_STAGE and first.config.method.objective == "sft"


def plan_stages(
    first: Plan,
    purpose: Purpose,
    target: Target,
    model: ModelFacts,
    pairs: DatasetFacts | None = None,
    pairs_path: str | None = None,
) -> list[Stage]:
    """The plan's stages: ``first`` alone, or with the second stage its purpose calls
    for (DPO, GRPO), planned on ``pairs`` (the facts of ``pairs_path``: preference
    pairs, or prompts for GRPO) when they are given."""
    config = first.config
    stages = [Stage(1, first, config.method.objective, config.data.path or None)]
    if not wants_second_stage(purpose, first):
        return stages
    objective, kind, needed = SECOND_STAGE[purpose]
    if pairs is None or pairs_path is None:
        return [*stages, Stage(2, None, objective, None, waiting=needed, starts_from=1)]
    if pairs.kind != kind:
        what = "preference pairs" if kind == "preference" else "prompts"
        return [
            *stages,
            Stage(
                2,
                None,
                objective,
                pairs_path,
                pairs.rows,
                waiting=f"{pairs_path} holds {pairs.kind} examples, not {what}: {needed}",
                starts_from=1,
            ),
        ]
    # After stage 1 the model answers in its chat template: DPO, not the ORPO a base
    # model with pairs would get.
    tuned = replace(model, is_chat=True)
    second = recommend(target, tuned, pairs, purpose, base=_second_base(config, pairs_path))
    objective = second.config.method.objective
    return [*stages, Stage(2, second, objective, pairs_path, pairs.rows, starts_from=1)]


def _second_base(first: RunConfig, pairs_path: str) -> RunConfig:
    """Stage 2 keeps stage 1's model settings; the plan chooses the rest for the pairs."""
    return RunConfig().with_sections(
        model=first.model.model_dump(),
        data={"path": pairs_path, "format": "auto"},
        output={"runs_root": first.output.runs_root},
    )


def total_eta(stages: list[Stage]) -> float | None:
    """The planned stages' time together (the waiting ones are not counted)."""
    etas = [s.plan.eta_seconds for s in stages if s.plan is not None]
    return None if not etas or any(e is None for e in etas) else sum(e for e in etas if e)


STAGE_SECTIONS = ("method", "training", "lora", "evaluation", "checkpointing")


def staged_config(stages: list[Stage]) -> RunConfig:
    """The configuration that trains the planned stages one after another: the first
    stage's, with each later stage's data and the settings its plan chose differently in
    ``stages:``. A stage still waiting for its data is left out."""
    first = stages[0].plan
    if first is None:
        raise ValueError("the first stage is always planned")
    planned = [s for s in stages[1:] if s.plan is not None]
    if not planned:
        return first.config
    entries = [StageSection(objective=first.config.method.objective)]
    for stage in planned:
        assert stage.plan is not None
        config = stage.plan.config
        own = {
            section: {
                key: value
                for key, value in getattr(config, section).model_dump(mode="json").items()
                if value != getattr(first.config, section).model_dump(mode="json")[key]
                and key != "objective"
            }
            for section in STAGE_SECTIONS
        }
        entries.append(
            StageSection(objective=config.method.objective, data=config.data.path, **own)
        )
    return first.config.model_copy(update={"stages": entries})
