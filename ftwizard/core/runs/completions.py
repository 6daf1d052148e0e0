"""``completions.json``: the latest prompt of an online-RL run, its completions and
their rewards, written by the trainer at each logged step and shown by the dashboard
and ``attach``. Only the latest group is kept: the events carry the numbers, this
file what they were given for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from ftwizard.core.errors import UserError
from ftwizard.core.files import read_small_text
from ftwizard.core.runs.folder import RunFolder, write_atomic

COMPLETIONS_FILE = "completions.json"
COMPLETIONS_FILE_BYTES = 4 * 1024 * 1024
SHOWN_CHARACTERS = 2000  # of each prompt and completion: a panel, not an archive


class ScoredCompletion(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str
    rewards: dict[str, float | None]
    """By reward function, as trl names them; None where a function skipped the row."""
    advantage: float | None = None


class LatestCompletions(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    step: int
    prompt: str
    completions: tuple[ScoredCompletion, ...]

    def total(self, completion: ScoredCompletion) -> float:
        """A completion's rewards summed (unweighted), what the panel sorts by."""
        return sum(value for value in completion.rewards.values() if value is not None)


def write_completions(run: RunFolder, latest: LatestCompletions) -> None:
    write_atomic(run.path / COMPLETIONS_FILE, latest.model_dump_json())


def read_completions(run: RunFolder) -> LatestCompletions | None:
    """The latest group, or None when there is none (yet) or the file is damaged: a
    panel shows nothing rather than failing the dashboard."""
    path = run.path / COMPLETIONS_FILE
    if not path.exists():
        return None
    try:
        text = read_small_text(path, "completions.json", COMPLETIONS_FILE_BYTES)
        return LatestCompletions.model_validate_json(text, strict=True)
    except (UserError, ValidationError):
        return None
