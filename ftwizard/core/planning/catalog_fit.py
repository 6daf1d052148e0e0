"""Every model ftwizard knows offline (built-in and catalog), each with whether every
method can train on a target: the wizard's model list, from the same fitting as ``plan``."""

from __future__ import annotations

from dataclasses import dataclass

from ftwizard.core.config.choices import Adapter
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.hardware.gpus import Target
from ftwizard.core.models import catalog
from ftwizard.core.models.builtin import BUILTIN_MODELS
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.models.source import resolve_model_facts
from ftwizard.core.planning.fit import MethodOption, least_memory, method_options
from ftwizard.core.planning.tables import METHODS


@dataclass(frozen=True)
class CatalogFit:
    model_id: str
    facts: ModelFacts
    least: dict[Adapter, MethodOption]
    """method -> its setting of least memory (in practice micro-batch 1 with gradient
    checkpointing): whether the method can train here at all, and in how much memory.
    The plan then picks the fastest setting that fits, which may take more."""


def catalog_fits(config: RunConfig, target: Target) -> list[CatalogFit]:
    rows = []
    for model_id in list(BUILTIN_MODELS) + catalog.catalog_ids():
        facts = resolve_model_facts(model_id) if model_id in BUILTIN_MODELS else None
        facts = facts or catalog.lookup(model_id)
        if facts is None:
            continue
        least = {
            adapter: least_memory(method_options(facts, config, adapter, target))
            for adapter in METHODS
        }
        rows.append(CatalogFit(model_id, facts, least))
    return rows
