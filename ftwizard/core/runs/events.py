"""The lines of ``events.jsonl``: one type per kind of event, what each carries.

The trainer writes them (``RunFolder.append_event``) and every viewer reads them back
as these types (``RunFolder.read_events``). A line that cannot be its kind, cut by a
full disk or edited by hand, comes back as a :class:`Damaged` event saying where; a
kind this version does not know comes back as :class:`OtherEvent`, so a viewer shows
it and goes on. Field names are the JSON keys, as older run folders have them.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError
from typing_extensions import Self

from ftwizard.core.data.mix import MixPart
from ftwizard.core.files import load_json, shorten
from ftwizard.core.planning.oom import Advice


class Record(BaseModel):
    """What the run folder holds. Read back with strict JSON types (``read_json``: a step
    of "3" or true is damage); keys from other versions are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def read_json(cls, text: str | bytes) -> Self:
        return cls.model_validate_json(text, strict=True)


class Memory(Record):
    """One process's memory at a step: its RSS, and on CUDA what torch allocated."""

    ram_gb: float = 0.0
    ram_peak_gb: float | None = None
    """The process's highest RSS since the step logged before (the kernel's high-water
    mark, reset at each log): a peak inside a step or an evaluation, freed before the
    step's end, shows here and not in ``ram_gb``."""
    gpu_allocated_gb: float | None = None
    gpu_reserved_gb: float | None = None
    gpu_peak_gb: float | None = None
    gpu_utilization: float | None = None
    """Percent of the last sample period the GPU ran kernels (NVML's), read by the
    trainer itself: the card it trains on, on its own machine."""


class RankMemory(Memory):
    rank: int


class Event(Record):
    """Every event: its kind and when (seconds since the epoch)."""

    type: str
    time: float = 0.0


class Launch(Event):
    type: Literal["launch"] = "launch"
    pid: int
    resume_from: str | None = None
    machines: int | None = None
    launch_id: str | None = None


class StatusChange(Event):
    """The trainer's state changed: starting (and why, a phase), stopping, stopped..."""

    type: Literal["status"] = "status"
    state: str
    phase: str | None = None
    reason: str | None = None
    note: str | None = None
    step: int | None = None
    output: str | None = None
    resume_from: str | None = None


class StageChange(Event):
    """A stage of a run in stages started or finished (``core/runs/stages.py``)."""

    type: Literal["stage"] = "stage"
    stage: int
    stages: int
    objective: str
    state: str
    """"starting" or "finished"."""
    path: str
    """The stage's own run folder."""
    from_run: str | None = None
    """The result it starts from: the stage before's folder."""


class Unmaskable(Record):
    """Conversations left out because their assistant turns cannot be located."""

    count: int
    validation: int = 0
    reason: str = ""
    examples: tuple[int, ...] = ()


class SourceShare(Record):
    """One source of mixed training data (``data.mix``), ``data.path`` first."""

    label: str
    weight: float
    """The share asked for."""
    rows_train: int
    share: float
    """Its share of the training rows."""
    repeated: bool = False


def source_shares(parts: list[MixPart]) -> tuple[SourceShare, ...]:
    """The parts of mixed data as the ``data`` event records them (none without a mix)."""
    total = sum(part.train for part in parts)
    return tuple(
        SourceShare(
            label=part.label,
            weight=part.weight,
            rows_train=part.train,
            share=part.train / total if total else 0.0,
            repeated=part.repeated,
        )
        for part in parts
    )


class DataRead(Event):
    type: Literal["data"] = "data"
    rows_train: int
    rows_eval: int
    format: str
    skipped_invalid: int = 0
    source_sha256: str | None = None
    loss: str = "all"
    """data.train_on, or the data shape's only choice ("completion", "all")."""
    masks: str | None = None
    loss_token_share: float | None = None
    unmaskable: Unmaskable | None = None
    sources: tuple[SourceShare, ...] = ()
    """With ``data.mix``: each source's part of the training rows."""


class TrainBegin(Event):
    type: Literal["train_begin"] = "train_begin"
    step: int
    max_steps: int
    epochs: float | None = None
    memory_limit_gb: float | None = None
    """The training device's memory: the GPU's total, or the machine's RAM on a CPU."""
    ram_peak_gb: float | None = None
    """The trainer's highest RSS while it loaded the tokenizer, the data and the model."""


class StepTimes(Record):
    """Where the optimizer steps since the last log went, in seconds per step, by the
    trainer process's clock (``trainer/components/step_clock.py``). A step runs from one
    step's end to the next, so it holds the previous step's logging. On a GPU the host
    only queues the kernels: these are the host's times, and ``device_busy`` says how
    much of a profiled step the GPU itself was running kernels."""

    steps: int
    step_s: float
    data_s: float
    """Fetching and collating the micro-batches."""
    forward_backward_s: float
    """The micro-batches' forward and backward (online RL: without writing completions)."""
    generation_s: float = 0.0
    """Online RL: writing and scoring the completions."""
    optimizer_s: float
    """Clipping the gradients and the optimizer's step."""
    ftwizard_s: float
    """ftwizard's own callbacks: events, status, stop requests."""
    other_s: float
    """The rest: the schedule, zeroing gradients, the libraries' logging, checkpoints."""
    device_busy: float | None = None
    """Share of the profiled step during which the GPU ran kernels (None on a CPU)."""
    profiled_step: int | None = None


class Log(Event, Memory):
    """One logged step: the loss, the schedule, the speed and each process's memory."""

    type: Literal["log"] = "log"
    step: int
    max_steps: int
    loss: float
    learning_rate: float
    epoch: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    ranks: tuple[RankMemory, ...] = ()
    """Every GPU's (rank's) memory, in a run of several processes."""
    metrics: dict[str, float] = {}
    """The objective's own numbers under trl's names: DPO's ``rewards/margins`` and
    ``logps/chosen``, SFT's ``mean_token_accuracy``..."""
    step_times: StepTimes | None = None


class Evaluation(Event):
    type: Literal["eval"] = "eval"
    step: int
    eval_loss: float
    perplexity: float
    metrics: dict[str, float] = {}
    """The objective's own held-out numbers under trl's names, without ``eval_``: a
    reward model's ``accuracy`` (chosen scored above rejected), GRPO's ``reward``."""
    ram_peak_gb: float | None = None
    """The trainer's highest RSS since the step logged before, the evaluation's included."""


class CheckpointSaved(Event):
    type: Literal["checkpoint"] = "checkpoint"
    step: int
    path: str | None = None
    loss: float | None = None


class Failure(Event, Memory):
    """The run failed: ``kind`` is "oom", "input", "disk_full" or the exception's name."""

    type: Literal["error"] = "error"
    message: str = ""
    kind: str | None = None
    step: int | None = None
    advice: tuple[Advice, ...] = ()
    traceback: str | None = None
    rank: int | None = None


class WarningNote(Event):
    """Something the person should know that did not stop the run."""

    type: Literal["warning"] = "warning"
    message: str


class ConfigChanged(Event):
    type: Literal["config_changed"] = "config_changed"
    changes: dict[str, list[JsonValue]]
    """Each changed dotted key: [before, after]."""


class Damaged(Event):
    """Made by the reader for a line that cannot be its kind of event."""

    type: Literal["damaged"] = "damaged"
    where: str
    message: str


class OtherEvent(Event):
    """A kind this version does not know (a newer trainer's): shown by its type."""

    model_config = ConfigDict(extra="allow")


AnyEvent = (
    Launch
    | StatusChange
    | DataRead
    | TrainBegin
    | Log
    | Evaluation
    | CheckpointSaved
    | Failure
    | WarningNote
    | ConfigChanged
    | StageChange
    | Damaged
    | OtherEvent
)
KINDS: dict[str, type[Event]] = {
    kind.model_fields["type"].default: kind
    for kind in (
        Launch,
        StatusChange,
        DataRead,
        TrainBegin,
        Log,
        Evaluation,
        CheckpointSaved,
        Failure,
        WarningNote,
        ConfigChanged,
        StageChange,
    )
}


def parse_event(line: bytes, where: str) -> AnyEvent:
    """One line of events.jsonl as its kind of event, or a Damaged event saying ``where``."""
    try:
        raw = load_json(line)
    except (ValueError, UnicodeDecodeError):
        return Damaged(where=where, message=f"{where}: is not JSON")
    if not isinstance(raw, dict):
        return Damaged(where=where, message=f"{where}: holds {type(raw).__name__}, not an event")
    kind = raw.get("type")
    if not isinstance(kind, str):
        return Damaged(where=where, message=f"{where}: has no `type`")
    model = KINDS.get(kind, OtherEvent)
    try:
        return model.read_json(line)  # type: ignore[return-value]
    except ValidationError as error:
        return Damaged(where=where, message=f"{where}: a `{kind}` event: {problem(error)}")


def problem(error: ValidationError) -> str:
    """The first thing wrong with a record, in words: "`step` is 'a', not an integer"."""
    first = error.errors(include_url=False)[0]
    if not first["loc"]:  # the whole text: not JSON, or not an object
        if first["type"] == "json_invalid":
            return f"is not JSON ({str(first['msg']).removeprefix('Invalid JSON: ')})"
        found = first.get("input")
        return f"holds {'null' if found is None else type(found).__name__}, not an object"
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"`{key}` is missing"
    wanted = str(first["msg"]).removeprefix("Input should be ")
    return f"`{key}` is {shorten(first.get('input'))}, not {wanted}"


def stamped(event: Event) -> dict[str, Any]:
    """The JSON object of an event as written: its type and time first; fields with
    nothing in them (None, an empty list) left out."""
    data = event.model_dump(mode="json", exclude_none=True)
    data = {k: v for k, v in data.items() if v != [] and k not in ("time", "type")}
    return {"time": event.time or round(time.time(), 3), "type": event.type, **data}
