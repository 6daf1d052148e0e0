"""The parts a run configuration can hold more than once: a data source mixed into the
training data, and a stage of a run that trains in several. ``schema.py`` holds the rest."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ftwizard.core.config.choices import DataFormat, Objective


class Section(BaseModel):
    """Shared settings: unknown keys are errors and edits are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MixSource(Section):
    """Another dataset mixed into ``data.path``: its share of the training rows, e.g.
    general chat beside domain data so the model keeps what it knew."""

    path: str = Field(min_length=1, description="Dataset file, folder or Hub id.")
    weight: float = Field(
        gt=0, lt=1, description="Its share of the training rows; data.path has the rest."
    )
    name: str | None = Field(None, description="Configuration name of a Hub dataset, if any.")
    split: str = Field("train", min_length=1, description="Split to read.")
    format: DataFormat = Field("auto", description="Its layout; auto detects it.")


Settings = dict[str, str | int | float | bool | list[str] | None]


class StageSection(Section):
    """One stage of a run that trains in several, one after another (SFT, then DPO):
    its objective and data, and the settings it changes. Everything else is the run's;
    each stage after the first starts from the one before (``model.from_run``)."""

    objective: Objective = Field(description="What this stage trains: sft, dpo, orpo, kto, cpt.")
    data: str | None = Field(
        None, description="This stage's data file (default: the run's data.path)."
    )
    format: DataFormat = Field("auto", description="Its layout; auto detects it.")
    method: Settings = Field({}, description="method.* settings of this stage, e.g. beta.")
    training: Settings = Field({}, description="training.* settings of this stage.")
    lora: Settings = Field({}, description="lora.* settings of this stage.")
    evaluation: Settings = Field({}, description="evaluation.* settings of this stage.")
    checkpointing: Settings = Field({}, description="checkpointing.* settings of this stage.")
