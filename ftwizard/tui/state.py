"""What the wizard has learned so far, step by step.

Screens read and fill one :class:`WizardState`; every figure they show comes
from the core functions the headless commands use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.data.validate import ReportSummary
from ftwizard.core.hardware.gpus import Target, target_from_report
from ftwizard.core.hardware.probe import HardwareReport
from ftwizard.core.models.facts import ModelFacts
from ftwizard.core.planning.dataset_facts import DatasetFacts, facts_from_report
from ftwizard.core.planning.plan import Plan
from ftwizard.core.planning.stages import Stage
from ftwizard.core.planning.tables import Purpose
from ftwizard.core.trainer_calls import TokenStatsReply


@dataclass
class WizardState:
    runs_root: str = "runs"
    report: HardwareReport | None = None
    model_id: str | None = None
    model_facts: ModelFacts | None = None
    data_path: str | None = None
    data_report: ReportSummary | None = None
    data_stats: TokenStatsReply | None = None
    purpose: Purpose = "domain"
    pairs_path: str | None = None
    """Preference pairs for the DPO stage the purpose may add after SFT."""
    pairs_facts: DatasetFacts | None = None
    plan: Plan | None = None
    stages: list[Stage] = field(default_factory=list)
    """The plan's stages; one when the purpose trains in one."""
    config: RunConfig = field(default_factory=RunConfig)

    @property
    def target(self) -> Target:
        if self.report is None:
            raise RuntimeError("the hardware has not been probed yet")
        return target_from_report(self.report)

    @property
    def data_facts(self) -> DatasetFacts | None:
        if self.data_report is None:
            return None
        stats = self.data_stats.stats if self.data_stats else None
        return facts_from_report(self.data_report, stats)

    def base_config(self) -> RunConfig:
        """The configuration so far: model and data chosen, the runs root kept."""
        return self.config.with_sections(
            model={"model_name_or_path": self.model_id or self.config.model.model_name_or_path},
            data={"path": self.data_path or self.config.data.path},
            output={"runs_root": self.runs_root},
        )
