"""What the models answer when a run is evaluated or judged: its validation rows (the
same rows the trainer held out), a separate validation file, or any file given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftwizard.core.data.split import in_validation
from ftwizard.core.data.validate import validate_path
from ftwizard.core.errors import UserError
from ftwizard.core.evaluation.messages import EvalExample
from ftwizard.core.runs.folder import RunFolder


def _turns(side: Any, role: str) -> list[dict[str, str]]:
    if isinstance(side, str):
        return [{"role": role, "content": side}]
    return [{"role": str(t["role"]), "content": str(t["content"])} for t in side]


def example_of(row: dict[str, Any], number: int) -> EvalExample | None:
    """A normalised row as a prompt and its reference answer; None for a row with no
    answer to compare with (plain text, a KTO row marked undesirable)."""
    if "messages" in row:
        messages = _turns(row["messages"], "user")
        last = max((i for i, t in enumerate(messages) if t["role"] == "assistant"), default=0)
        if last == 0:
            return None
        return EvalExample(prompt=messages[:last], reference=messages[last]["content"], row=number)
    if "chosen" in row and "prompt" in row:
        answer = _turns(row["chosen"], "assistant")[-1]["content"]
        return EvalExample(prompt=_turns(row["prompt"], "user"), reference=answer, row=number)
    if "completion" in row and row.get("label", True) is True:
        answer = _turns(row["completion"], "assistant")[-1]["content"]
        return EvalExample(prompt=_turns(row["prompt"], "user"), reference=answer, row=number)
    return None


def _examples(rows: list[dict[str, Any]], keep: list[int], where: str) -> list[EvalExample]:
    examples = [e for i in keep if (e := example_of(rows[i], i)) is not None]
    if not examples:
        raise UserError(
            f"{where}: no row with an answer to score (plain text has none).",
            hint="Give --data FILE with conversations, prompt/completion rows or pairs.",
        )
    return examples


def eval_examples(
    run: RunFolder, data_path: str | None, limit: int | None
) -> tuple[str, list[EvalExample]]:
    """Where the examples come from, in words, and the examples (at most ``limit``)."""
    config = run.read_config()
    rows: list[dict[str, Any]] = []
    if data_path or config.evaluation.val_path:
        path = data_path or config.evaluation.val_path
        assert path is not None
        validate_path(path, on_row=rows.append)
        where, keep = Path(path).name, list(range(len(rows)))
    else:
        data = config.data
        if config.evaluation.val_size <= 0:
            raise UserError(
                f"{run.name} held no validation rows out (evaluation.val_size is 0).",
                hint="Give the rows to score with --data FILE.",
            )
        validate_path(
            data.path,
            data.format,
            data.column_map,
            on_row=rows.append,
            name=data.name,
            split=data.split,
        )
        seed, share = config.training.seed, config.evaluation.val_size
        keep = [i for i in range(len(rows)) if in_validation(i, seed, share)]
        where = f"the validation split of {Path(data.path).name}"
    examples = _examples(rows, keep, where)
    return where, examples[:limit] if limit else examples


def judging_examples(
    run: RunFolder, data_path: str | None, limit: int | None
) -> tuple[str, list[EvalExample]]:
    """``eval_examples``, or for a run that held nothing out, its training prompts: a
    person judging answers needs no unseen reference, only prompts."""
    config = run.read_config()
    if data_path or config.evaluation.val_path or config.evaluation.val_size > 0:
        return eval_examples(run, data_path, limit)
    _, examples = eval_examples(run, config.data.path, limit)
    return f"the training prompts of {Path(config.data.path).name} (none held out)", examples
