"""Starting a run from another run's result: ``model.from_run``.

The guides' path is SFT, then DPO on what SFT made. A finished run's result is the
starting model of the next: its base with its adapter folded in, or its fully
fine-tuned weights. The trainer loads that model and trains a fresh adapter (or every
weight) on it, and preference objectives compare against it: with LoRA the reference
is the starting model with the new adapter switched off, with a full fine-tune a
frozen copy of it. The first DPO loss is then ln 2, as it is only when the reference
is the model the stage starts from.

The source's base stays ``model.model_name_or_path``: the estimator and the tokenizer
read its facts, and every later command (merge, export, chat) folds the chain of
adapters from it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder, find_run, runs_root


@dataclass(frozen=True)
class Start:
    """The finished run a run starts from."""

    run: RunFolder
    config: RunConfig
    """The source run's configuration."""

    @property
    def adapter(self) -> bool:
        """Its result is an adapter (folded into its own starting model when loaded)."""
        return (self.run.final_dir / "adapter_config.json").exists()

    def words(self) -> str:
        what = "its adapter folded into the base" if self.adapter else "its trained weights"
        return (
            f"run {self.run.name} ({self.config.method.objective} + "
            f"{self.config.method.adapter} of {self.config.model.model_name_or_path}), "
            f"{what}"
        )


def source_of(config: RunConfig) -> Start | None:
    """The finished run ``model.from_run`` names (a name under the runs root, or a
    folder); None when the run starts from ``model.model_name_or_path`` alone."""
    name = config.model.from_run
    if not name:
        return None
    run = find_run(name, runs_root(config))
    state = run.read_status().state
    if state != "finished" or not run.final_dir.is_dir():
        raise UserError(
            f"model.from_run: run {run.name} has no finished result to start from "
            f"(state: {state}).",
            hint=f"Finish it first (`ftwizard resume {run.name}`), or start from another "
            "run (`ftwizard runs` lists them).",
        )
    return Start(run, run.read_config())


def with_start(config: RunConfig) -> tuple[RunConfig, str | None]:
    """``model.from_run`` made concrete: the source's folder as an absolute path and its
    base as ``model.model_name_or_path``; and the line that says so before training.
    Unchanged (and None) for a run that starts from a base model."""
    start = source_of(config)
    if start is None:
        return config, None
    base = start.config.model
    replaced = (
        f" (its base replaces model.model_name_or_path {config.model.model_name_or_path})"
        if config.model.model_name_or_path != base.model_name_or_path
        else ""
    )
    resolved = config.with_sections(
        model={
            "from_run": str(Path(start.run.path).resolve()),
            "model_name_or_path": base.model_name_or_path,
            "revision": base.revision,
            "trust_remote_code": base.trust_remote_code or config.model.trust_remote_code,
        }
    )
    reference = (
        "; it is also the reference model" if config.method.objective in ("dpo", "kto") else ""
    )
    return resolved, f"starts from {start.words()}{replaced}{reference}"
