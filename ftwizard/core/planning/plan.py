"""What a plan is: the configuration it recommends, each decision with its reason, every
method's verdict, the estimate and the time. ``recommend.py`` makes one; the plan
command, the wizard's purpose step and ``--json`` show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftwizard.core.config.schema import RunConfig
from ftwizard.core.planning.estimator import Estimate
from ftwizard.core.planning.fit import MethodOption
from ftwizard.core.planning.throughput import TrainingTime

if TYPE_CHECKING:  # time_advice makes plans of its own to compare with
    from ftwizard.core.planning.time_advice import TimeWarning


@dataclass(frozen=True)
class Decision:
    topic: str
    choice: str
    reason: str


@dataclass
class Plan:
    config: RunConfig
    decisions: list[Decision]
    methods: list[MethodOption]
    estimate: Estimate | None
    fits: bool
    time: TrainingTime | None
    changes_needed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    time_warning: TimeWarning | None = None
    """Set by ``time_advice.with_time_advice`` when the run would take too long here."""

    @property
    def eta_seconds(self) -> float | None:
        return None if self.time is None else self.time.eta_seconds

    def to_dict(self) -> dict[str, Any]:
        time = self.time
        return {
            "fits": self.fits,
            "decisions": [vars(d) for d in self.decisions],
            "methods": [
                {
                    "method": m.adapter,
                    "verdict": m.verdict,
                    "micro_batch": m.micro_batch,
                    "gradient_checkpointing": m.gradient_checkpointing,
                    "peak_allocated_gb": m.estimate.peak_allocated_gib,
                    "device_total_gb": m.estimate.device_total_gib,
                }
                for m in self.methods
            ],
            "estimate": None if self.estimate is None else self.estimate.to_dict(),
            "eta_seconds": None if time is None else round(time.eta_seconds, 1),
            "seconds_per_step": None if time is None else round(time.seconds_per_step, 3),
            "tokens_per_second": None if time is None else round(time.tokens_per_second, 1),
            "steps": None if time is None else time.steps,
            "eta_is_estimate": True,
            "time_warning": None if self.time_warning is None else self.time_warning.to_dict(),
            "changes_needed": self.changes_needed,
            "notes": self.notes,
            "config": self.config.to_dict(),
        }
