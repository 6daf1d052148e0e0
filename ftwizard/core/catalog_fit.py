"""Every model ftwizard knows offline (built-in and catalog), each with whether every
method fits a target: the wizard's model list, from the same fitting as ``plan``."""

from __future__ import annotations

from dataclasses import dataclass

from ftwizard.core import catalog
from ftwizard.core.builtin_models import BUILTIN_MODELS
from ftwizard.core.config import RunConfig
from ftwizard.core.fit import fit_method
from ftwizard.core.gpus import Target
from ftwizard.core.model_facts import ModelFacts
from ftwizard.core.model_source import resolve_model_facts
from ftwizard.core.recommend import METHODS


@dataclass(frozen=True)
class CatalogFit:
    model_id: str
    facts: ModelFacts
    verdicts: dict[str, str]
    """method -> "fits 3.1 GB" / "tight 7.9 GB" / "no 41.0 GB" (the fastest fitting setting)."""


def catalog_fits(config: RunConfig, target: Target) -> list[CatalogFit]:
    rows = []
    for model_id in list(BUILTIN_MODELS) + catalog.catalog_ids():
        facts = resolve_model_facts(model_id) if model_id in BUILTIN_MODELS else None
        facts = facts or catalog.lookup(model_id)
        if facts is None:
            continue
        verdicts: dict[str, str] = {}
        for adapter in METHODS:
            option = fit_method(facts, config, adapter, target)
            word = "no" if option.verdict == "does not fit" else option.verdict
            verdicts[adapter] = f"{word} {option.estimate.device_total_gib:.1f} GB"
        rows.append(CatalogFit(model_id, facts, verdicts))
    return rows
