"""Which template a run's conversations are rendered with, and who masks their loss.

trl's SFT trainer masks assistant turns itself (``assistant_only_loss``) for templates
with ``{% generation %}`` markers, patching about twenty known families with the
``_training`` twins it ships; for the rest, and for ``data.train_on: last_assistant``,
ftwizard's own masks (:mod:`ftwizard.trainer.components.masks`) are used. No torch here: trl's
templates are read as files, so the token statistics need no trl import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ftwizard.core.config.choices import TrainOn
from ftwizard.core.data.templates import CHATML_TRAINING_TEMPLATE
from ftwizard.core.runs.watch import LOSS_WORDS

_GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")


def _trl_templates_folder() -> Path | None:
    """trl's ``chat_templates/`` folder, found without importing trl (which imports torch)."""
    spec = find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "chat_templates"
    return folder if folder.is_dir() else None


@lru_cache(maxsize=1)
def _trl_training_twins() -> dict[str, str]:
    """Template text -> its ``_training`` twin, for every template trl ships with one."""
    folder = _trl_templates_folder()
    if folder is None:
        return {}
    twins: dict[str, str] = {}
    for training in folder.glob("*_training.jinja"):
        original = training.with_name(training.name.replace("_training.jinja", ".jinja"))
        if original.is_file():
            twins[original.read_text()] = training.read_text()
    return twins


def has_generation_markers(template: str) -> bool:
    return bool(_GENERATION_MARKER.search(template))


def trl_training_template(template: str) -> str | None:
    """The template trl's ``SFTTrainer`` renders with ``assistant_only_loss``, or None when
    trl cannot mark this template's assistant turns.

    The same answer as trl's ``get_training_chat_template`` as the trainer calls it
    (``tests/test_masks.py`` checks every template trl ships), read from trl's files so
    the token statistics do not pay trl's torch import.
    """
    if has_generation_markers(template):
        return template
    return _trl_training_twins().get(template)


def chat_template_of(tokenizer: Any) -> str:
    """The tokenizer's chat template (its default variant), or ChatML for a model
    without one (the trainer installs it; see ``trainer.data.install_chat_template``)."""
    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    return str(template) if template else CHATML_TRAINING_TEMPLATE


@dataclass(frozen=True)
class LossPlan:
    """How the loss of conversations is masked, decided once for a run."""

    train_on: TrainOn
    template: str
    """The template the text is rendered with (trl's training twin when trl masks)."""
    trl_masks: bool
    """trl marks the assistant turns (``assistant_only_loss``); else ftwizard's masks."""

    @property
    def covers(self) -> str:
        return LOSS_WORDS[self.train_on]


def loss_plan(tokenizer: Any, train_on: TrainOn) -> LossPlan:
    template = chat_template_of(tokenizer)
    twin = trl_training_template(template) if train_on == "assistant" else None
    return LossPlan(train_on, twin or template, twin is not None)
