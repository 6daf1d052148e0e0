"""When a plan would take too long here: what a rented card or a smaller model would take.

A plan can fit in memory and still be no plan at all: an 8B QLoRA of 5,000 examples on a
laptop's CPU fits, and takes weeks. Past a day here, or past an hour and ten times longer
here than on the first cards of the table that fit, the plan leads with the time, the ETA on the
smallest table cards it fits (``--which-gpu``'s order: by memory, a stand-in for price),
and the smaller catalog models that would finish here in hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.hardware.gpus import GPU_TABLE, Target, target_from_spec
from ftwizard.core.models import catalog
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts
from ftwizard.core.planning.plan import Plan
from ftwizard.core.planning.recommend import recommend
from ftwizard.core.units import about

if TYPE_CHECKING:
    from ftwizard.core.planning.tables import Purpose

TOO_LONG_S = 86_400.0  # a day
SLOWER_THAN_A_CARD = 10.0
WORTH_SAYING_S = 3600.0  # under an hour here, ten times slower still is not worth a warning
HOURS_S = TOO_LONG_S  # "in hours": a smaller model worth naming finishes within a day
CARDS_SHOWN = 3
MODELS_SHOWN = 3


@dataclass(frozen=True)
class TimeWarning:
    eta_here_s: float
    cards: list[tuple[str, float]] = field(default_factory=list)
    """(card, ETA seconds) on the smallest table cards the run fits."""
    smaller_models: list[tuple[str, float]] = field(default_factory=list)
    """(catalog model, ETA seconds here) of smaller models that finish in hours."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "eta_here_seconds": round(self.eta_here_s, 1),
            "cards": [{"gpu": n, "eta_seconds": round(s, 1)} for n, s in self.cards],
            "smaller_models": [
                {"model": n, "eta_seconds": round(s, 1)} for n, s in self.smaller_models
            ],
        }


def time_warning(
    target: Target,
    model: ModelFacts,
    data: DatasetFacts,
    purpose: Purpose,
    base: RunConfig | None,
    eta_here_s: float | None,
) -> TimeWarning | None:
    """A warning when the run is too slow here (see the module's rule); else None."""
    if eta_here_s is None or eta_here_s <= WORTH_SAYING_S:
        return None  # nothing to say, and no other plans to make
    cards: list[tuple[str, float]] = []
    for spec in sorted(GPU_TABLE, key=lambda s: (s.memory_gib, s.tflops)):
        if len(cards) == CARDS_SHOWN:
            break
        there = recommend(target_from_spec(spec), model, data, purpose, base)
        if there.fits and there.eta_seconds is not None and spec.name != target.label:
            cards.append((spec.name, there.eta_seconds))
    fastest = min((s for _, s in cards), default=None)
    slow = eta_here_s > TOO_LONG_S or (
        fastest is not None and eta_here_s > max(WORTH_SAYING_S, SLOWER_THAN_A_CARD * fastest)
    )
    if not slow:
        return None
    smaller: list[tuple[str, float]] = []
    candidates = [catalog.lookup(name) for name in catalog.catalog_ids()]
    for other in sorted(
        (m for m in candidates if m is not None and m.params_total < model.params_total),
        key=lambda m: -m.params_total,  # the largest that is fast enough first
    ):
        if len(smaller) == MODELS_SHOWN:
            break
        here = recommend(target, other, data, purpose, base)
        if here.fits and here.eta_seconds is not None and here.eta_seconds <= HOURS_S:
            smaller.append((other.name, here.eta_seconds))
    return TimeWarning(eta_here_s, cards, smaller)


def with_time_advice(
    plan: Plan,
    target: Target,
    model: ModelFacts,
    data: DatasetFacts,
    purpose: Purpose,
    base: RunConfig | None = None,
) -> Plan:
    """``plan`` with its time warning when it fits but would take too long here: the
    plan command and the wizard's purpose step ask this of the plan they show."""
    if not plan.fits:
        return plan
    warning = time_warning(target, model, data, purpose, base, plan.eta_seconds)
    return replace(plan, time_warning=warning)


def warning_words(warning: TimeWarning) -> str:
    """The plan's first line when it is too slow here."""
    words = f"This run would take {about(warning.eta_here_s)} here."
    if warning.cards:
        each = ", ".join(f"on an {n} {about(s)}" if n[0] in "AEHIL" else f"on a {n} {about(s)}"
                         for n, s in warning.cards)  # fmt: skip
        words += f" With a GPU it takes {each} (plan for one with --gpu NAME)."
    if warning.smaller_models:
        each = ", ".join(f"{n} ({about(s)})" for n, s in warning.smaller_models)
        words += f" Smaller models that would finish here within a day: {each}."
    return words
