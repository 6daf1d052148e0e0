"""Token statistics: what the loss share is measured on, and what the count costs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.data.templates import CHATML_TRAINING_TEMPLATE
from ftwizard.core.trainer_calls import TokenStatsRequest
from ftwizard.trainer.components.masks import RowSample
from tests.conftest import ROOT, TEST_CACHE


def test_the_loss_sample_is_spread_over_the_whole_stream() -> None:
    """A reservoir: rows late in a long file are as likely to be sampled as early ones."""
    sample = RowSample(size=1_000)
    for index in range(100_000):
        sample.offer(index, {"text": f"row {index}"})
    indices = sorted(index for index, _ in sample.rows)
    assert len(indices) == 1_000 and len(set(indices)) == 1_000
    last_tenth = sum(1 for index in indices if index >= 90_000)
    first_tenth = sum(1 for index in indices if index < 10_000)
    assert 60 < last_tenth < 140 and 60 < first_tenth < 140  # about 100 each


def test_a_short_stream_is_sampled_whole() -> None:
    sample = RowSample(size=10)
    for index in range(7):
        sample.offer(index, {"text": str(index)})
    assert [index for index, _ in sample.rows] == list(range(7))


def _stats(model: Path | str, data: Path, train_on: str = "assistant") -> tuple[dict, bool]:
    """``data_stats`` in a fresh interpreter: its reply, and whether torch was imported."""
    request = TokenStatsRequest(path=str(data), model=str(model), max_length=256, train_on=train_on)
    code = (
        "import sys\n"
        "from ftwizard.trainer.data_stats import main\n"
        "main()\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FTWIZARD_CACHE": str(TEST_CACHE)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=request.model_dump_json(),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    return reply.get("data", reply), result.stderr.strip().splitlines()[-1] == "True"


def _conversations(path: Path, answers: int) -> Path:
    rows = []
    for i in range(12):
        messages = []
        for turn in range(answers):
            messages += [
                {"role": "user", "content": f"question {turn} of conversation {i}"},
                {"role": "assistant", "content": f"answer number {turn}, " * (3 + turn)},
            ]
        rows.append({"messages": messages})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.slow
def test_single_answer_conversations_are_counted_without_torch(
    demo_model_folder: Path, tmp_path: Path
) -> None:
    """trl's template check imports torch (about 5 s); with one answer per conversation
    every loss mode trains the same tokens, so the count never pays for it."""
    data, imported_torch = _stats("smollm2-135m-instruct", _conversations(tmp_path / "d.jsonl", 1))
    assert not imported_torch
    assert data["stats"]["rows"] == 12
    assert data["preview"]["loss"] == "one answer per example"
    assert 0 < data["stats"]["loss_token_share"] < 1


@pytest.mark.slow
def test_several_answers_train_every_answer_on_any_template(
    demo_model_folder: Path, tmp_path: Path
) -> None:
    """SmolLM2's own template (which trl cannot mark) trains every answer, through
    ftwizard's masks, without a torch import; ``--train-on last_assistant`` the final
    one; a template trl marks gets trl's masks, and the same three answers."""
    path = _conversations(tmp_path / "d.jsonl", 3)
    every, imported_torch = _stats("smollm2-135m-instruct", path)
    assert not imported_torch
    assert every["preview"]["loss"] == "every answer"
    assert every["preview"]["masks"] == "ftwizard"
    text = every["preview"]["text"]
    assert [text[a:b] for a, b in every["preview"]["loss_spans"]] == [
        f"{'answer number 0, ' * 3}<|im_end|>",
        f"{'answer number 1, ' * 4}<|im_end|>",
        f"{'answer number 2, ' * 5}<|im_end|>",
    ]

    final, _ = _stats("smollm2-135m-instruct", path, "last_assistant")
    assert final["preview"]["loss"] == "the final answer"
    assert len(final["preview"]["loss_spans"]) == 1
    assert final["stats"]["loss_token_share"] < every["stats"]["loss_token_share"]

    whole, _ = _stats("smollm2-135m-instruct", path, "all")
    assert whole["stats"]["loss_token_share"] == 1.0

    marked = tmp_path / "marked"
    marked.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(demo_model_folder / name, marked / name)
    (marked / "chat_template.jinja").write_text(CHATML_TRAINING_TEMPLATE)
    by_trl, _ = _stats(marked, path)
    assert by_trl["preview"]["loss"] == "every answer"
    assert by_trl["preview"]["masks"] == "trl"
    assert len(by_trl["preview"]["loss_spans"]) == 3
