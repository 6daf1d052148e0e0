"""The model card a finished run leaves in ``final/README.md``, in the Hub's layout.

A YAML header the Hub reads (``base_model`` as a Hub id, never a local path;
``library_name``; ``tags``; ``datasets`` when the data is a Hub id), then what a reader
needs to judge and reuse the model: objective and method, every hyperparameter, the
data, the losses, the plan's decisions when the run has them, the hardware and the time.
Everything comes from the run folder (configuration, events, status), so the card can
be written again from a finished run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.files import load_json, read_small_text
from ftwizard.core.models.source import hub_id_of
from ftwizard.core.runs.events import AnyEvent, DataRead, Event, Launch, TrainBegin
from ftwizard.core.runs.folder import RunFolder, write_atomic
from ftwizard.core.runs.score_card import evaluation_lines, model_index
from ftwizard.core.runs.status import RunStatus
from ftwizard.core.runs.watch import duration
from ftwizard.core.trainer_calls import SampleRow

E = TypeVar("E", bound=Event)
PLAN_FILE = "plan.json"
"""The plan's decisions, written into the run folder by whoever planned the run."""
SAMPLES_FILE = "samples.json"
LOSS_IMAGE = "training_loss.png"
"""The loss curve the trainer draws into final/ beside the card (``ftwizard plot``'s)."""
"""The last ``ftwizard sample``'s base and fine-tuned answers, for the card."""

OBJECTIVES = {
    "sft": "supervised fine-tuning (SFT)",
    "dpo": "direct preference optimisation (DPO)",
    "orpo": "odds-ratio preference optimisation (ORPO)",
    "kto": "Kahneman-Tversky optimisation (KTO)",
    "cpt": "continued pre-training",
    "reward": "a reward model (a scalar score head, trained on preference pairs)",
    "grpo": "group relative policy optimisation (GRPO, online RL)",
    "rloo": "REINFORCE leave-one-out (RLOO, online RL)",
}
METHODS = {
    "lora": "LoRA adapter",
    "qlora": "QLoRA adapter (4-bit base)",
    "full": "full fine-tune (every weight)",
}


def _last(events: list[AnyEvent], kind: type[E]) -> E | None:
    found = [e for e in events if isinstance(e, kind)]
    return found[-1] if found else None


def _number(value: float | str | None) -> str:
    return "n/a" if value is None else value if isinstance(value, str) else f"{value:.4f}"


def front_matter(config: RunConfig, merged: bool = False) -> dict[str, Any]:
    header: dict[str, Any] = {}
    base = hub_id_of(config.model.model_name_or_path)
    if base:
        header["base_model"] = base
    adapter = config.method.adapter != "full" and not merged
    header["library_name"] = "peft" if adapter else "transformers"
    header["pipeline_tag"] = "text-generation"
    tags = ["ftwizard", config.method.objective, config.method.adapter]
    # An adapter trained on another run's result applies to that model, not to the base.
    if adapter and base and not config.model.from_run:
        tags.insert(0, f"base_model:adapter:{base}")
    header["tags"] = tags
    dataset = hub_id_of(config.data.path)
    if dataset:
        header["datasets"] = [dataset]
    return header


def _results(status: RunStatus, events: list[AnyEvent]) -> list[str]:
    launch = next((e for e in events if isinstance(e, Launch)), None)
    begin = _last(events, TrainBegin)
    finished = status.finished_at

    def since(event: Event | None) -> str:
        return duration(finished - event.time if finished and event else None)

    eval_loss = "no validation" if status.final_eval_loss is None else status.final_eval_loss
    return [
        "## Results",
        "",
        "| | |",
        "| --- | --- |",
        f"| final training loss | {_number(status.final_loss)} |",
        f"| final evaluation loss | {_number(eval_loss)} |",
        f"| steps | {status.step} |",
        f"| training time | {since(begin)} |",
        f"| wall time (loading, training, saving) | {since(launch)} |",
        f"| hardware | {status.hardware or 'n/a'} |",
    ]


def _started_from(config: RunConfig, merged: bool) -> list[str]:
    """The run this one started from, when it did: its result was this run's model before
    training (and the reference of a preference objective)."""
    if not config.model.from_run:
        return []
    source = Path(config.model.from_run).name
    folded = (
        "every adapter of the chain is folded into these weights"
        if merged or config.method.adapter == "full"
        else "this adapter applies to that run's result, not to the bare base: "
        "merge it (`ftwizard merge`) to use it alone"
    )
    return [f"Started from the result of run `{source}` ({folded}).", ""]


def _data_lines(config: RunConfig, data: DataRead | None, status: RunStatus) -> list[str]:
    split = f" (split `{config.data.split}`)" if config.data.split != "train" else ""
    source = data_words(config.data.path, data.source_sha256 if data else None)
    lines = ["## Data", "", f"- source: {source}{split}"]
    if data is not None:
        lines.append(
            f"- format: {data.format}; {data.rows_train} training rows, "
            f"{data.rows_eval} validation rows"
        )
    if status.tokens_seen:
        lines.append(f"- {status.tokens_seen:,} tokens seen in training (padding included)")
    if data is not None and data.loss_token_share is not None:
        lines.append(
            f"- loss on {data.loss_token_share:.0%} of the tokens "
            f"(`data.train_on: {config.data.train_on}`)"
        )
    if data is not None and data.sources:
        shares = ", ".join(f"{s.share:.0%} `{s.label}` ({s.rows_train} rows)" for s in data.sources)
        lines.append(f"- mixed (`data.mix`): {shares} of the training rows")
    if data is not None and data.skipped_invalid:
        lines.append(f"- {data.skipped_invalid} invalid rows skipped")
    return lines


def model_card(run: RunFolder, merged: bool = False) -> str:
    """The card's text for the finished run in ``run``; ``merged``: for its merged model."""
    config = run.read_config()
    events, _ = run.read_events()
    status = run.read_status()
    base = hub_id_of(config.model.model_name_or_path)
    base_words = f"[{base}](https://huggingface.co/{base})" if base else "a local model"
    what = METHODS[config.method.adapter]
    if merged:
        what = f"merged model ({what} folded into the base)"
    header = front_matter(config, merged)
    header.update(model_index(run))
    lines = ["---", yaml.safe_dump(header, sort_keys=False).strip(), "---", ""]
    lines += [
        f"# {run.name}",
        "",
        f"A {what} of {base_words}, trained with "
        f"{OBJECTIVES[config.method.objective]} by ftwizard on {status.hardware or 'n/a'}.",
        "",
        *_started_from(config, merged),
        *_results(status, events),
        *_loss_image(run, merged),
        "",
        *_data_lines(config, _last(events, DataRead), status),
    ]
    lines += ["", "## What the plan decided", ""]
    lines += _decisions(run.path / PLAN_FILE)
    lines += ["", "## Hyperparameters", "", "| setting | value |", "| --- | --- |"]
    for key, value in hyperparameters(config):
        lines.append(f"| `{key}` | {json.dumps(value)} |")
    lines += evaluation_lines(run)
    lines += _samples(run.path / SAMPLES_FILE)
    lines += ["", "## Use it", "", "```sh"]
    lines += [
        f"ftwizard sample {run.name} --prompt 'Who are you?'   # base and fine-tuned answers",
        f"ftwizard export {run.name} --outtype q8_0            # one GGUF for llama.cpp / Ollama",
        "```",
        "",
    ]
    return "\n".join(lines)


def _loss_image(run: RunFolder, merged: bool) -> list[str]:
    """The loss curve, where the trainer drew it beside the card (a merged model's
    folder has no copy: its card goes without)."""
    if merged or not (run.final_dir / LOSS_IMAGE).is_file():
        return []
    return ["", f"![Training and eval loss by step]({LOSS_IMAGE})"]


def data_words(path: str, sha256: object) -> str:
    """A dataset as a card names it: a Hub id as it is; a local file by its name and the
    hash of its content, never by where it lies on this machine."""
    dataset = hub_id_of(path)
    if dataset:
        return f"[{dataset}](https://huggingface.co/datasets/{dataset})"
    name = f"`{Path(path).name}` (a local file"
    if isinstance(sha256, str):
        return f"{name}, SHA-256 `{sha256}`)"
    return f"{name})"


def hyperparameters(config: RunConfig) -> list[tuple[str, Any]]:
    """Every setting that shaped this training, as dotted keys (none that did not apply:
    no 4-bit settings without QLoRA, no beta without a preference objective)."""
    settings = config.to_dict()
    rows: list[tuple[str, Any]] = [("model.dtype", config.model.dtype)]
    method = config.method
    for key, value in settings["method"].items():
        if key.startswith(("bits", "bnb_")) and method.adapter != "qlora":
            continue
        if key == "beta" and method.objective not in ("dpo", "orpo", "kto", "grpo", "rloo"):
            continue
        rows.append((f"method.{key}", value))
    sections = ["training", "evaluation"]
    if method.adapter != "full":
        sections.insert(0, "lora")
    if method.objective in ONLINE_RL:
        sections.append("rl")
    for section in sections:
        rows += [(f"{section}.{key}", value) for key, value in settings[section].items()]
    # A separate validation file, a reward model run and a reward function's file are
    # named as the data is: by their names, not their paths on this machine.
    return [(key, _by_name(key, value)) for key, value in rows]


def _by_name(key: str, value: Any) -> Any:
    if key in ("evaluation.val_path", "rl.reward_model_run") and value:
        return Path(value).name
    if key == "rl.reward_funcs":
        return [Path(entry).name for entry in value]
    return value


def save_samples(run: RunFolder, rows: list[SampleRow]) -> None:
    """Keep sampled answers with the run and show them in its card (when it has one)."""
    text = json.dumps([row.model_dump() for row in rows], indent=2)
    write_atomic(run.path / SAMPLES_FILE, text)  # 0600: they hold the prompts
    refresh_card(run)


def refresh_card(run: RunFolder) -> None:
    """Write the card again (when the run has one) after something it shows changed."""
    card = run.final_dir / "README.md"
    if card.exists():
        card.write_text(model_card(run), encoding="utf-8")


def _samples(path: Path) -> list[str]:
    rows = _rows(path, ("prompt", "base", "fine_tuned"))
    if not rows:
        return []
    lines = [
        "",
        "## Base and fine-tuned answers",
        "",
        "Greedy decoding, from `ftwizard sample`.",
        "",
    ]
    lines += ["| prompt | base model | fine-tuned |", "| --- | --- | --- |"]
    for row in rows:
        cells = (row["prompt"], row["base"], row["fine_tuned"])
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _rows(path: Path, keys: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a JSON list the run folder keeps (samples, decisions); what a
    damaged file holds of them (rows without every key as text are left out)."""
    try:
        rows = load_json(read_small_text(path, "a JSON list", limit=16 << 20))
    except (UserError, json.JSONDecodeError):
        return []
    if not isinstance(rows, list):
        return []
    return [r for r in rows if isinstance(r, dict) and all(isinstance(r.get(k), str) for k in keys)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def save_decisions(run: RunFolder, decisions: list[tuple[str, str, str]]) -> None:
    """Keep the plan's (topic, choice, reason) list with the run, for its model card."""
    rows = [{"topic": t, "choice": c, "reason": r} for t, c, r in decisions]
    write_atomic(run.path / PLAN_FILE, json.dumps(rows, indent=2))


def _decisions(path: Path) -> list[str]:
    decisions = _rows(path, ("topic", "choice", "reason"))
    if not decisions:
        return ["Run from a preset: the settings below are as configured."]
    lines = [
        "Settings changed after the plan show in the hyperparameters below.",
        "",
        "| decision | choice | why |",
        "| --- | --- | --- |",
    ]
    for d in decisions:
        lines.append(f"| {_cell(d['topic'])} | {_cell(d['choice'])} | {_cell(d['reason'])} |")
    return lines
