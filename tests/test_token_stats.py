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
from ftwizard.trainer.data_stats import LossSample
from tests.conftest import ROOT, TEST_CACHE


def test_the_loss_sample_is_spread_over_the_whole_stream() -> None:
    """A reservoir: rows late in a long file are as likely to be sampled as early ones."""
    sample = LossSample(size=1_000)
    for index in range(100_000):
        sample.offer(index, [f"answer {index}"], conversation=True)
    indices = sorted(index for index, _, _ in sample.rows)
    assert len(indices) == 1_000 and len(set(indices)) == 1_000
    last_tenth = sum(1 for index in indices if index >= 90_000)
    first_tenth = sum(1 for index in indices if index < 10_000)
    assert 60 < last_tenth < 140 and 60 < first_tenth < 140  # about 100 each


def test_a_short_stream_is_sampled_whole() -> None:
    sample = LossSample(size=10)
    for index in range(7):
        sample.offer(index, ["a", "b"], conversation=index % 2 == 0)
    assert [index for index, _, _ in sample.rows] == list(range(7))


def _stats(model: Path | str, data: Path) -> tuple[dict, bool]:
    """``data_stats`` in a fresh interpreter: its reply, and whether torch was imported."""
    code = (
        "import sys\n"
        "from ftwizard.trainer.data_stats import main\n"
        f"main(['--path', {str(data)!r}, '--model', {str(model)!r}, '--max-length', '256'])\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FTWIZARD_CACHE": str(TEST_CACHE)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
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
def test_several_answers_follow_what_the_template_can_mask(
    demo_model_folder: Path, tmp_path: Path
) -> None:
    """SmolLM2's own template trains the final answer; the same tokenizer with a
    template that marks assistant turns trains every answer, and counts more loss."""
    path = _conversations(tmp_path / "d.jsonl", 3)
    final, imported_torch = _stats("smollm2-135m-instruct", path)
    assert imported_torch  # the question had to be asked
    assert final["preview"]["loss"] == "the final answer"
    assert len(final["preview"]["loss_spans"]) == 1

    marked = tmp_path / "marked"
    marked.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(demo_model_folder / name, marked / name)
    (marked / "chat_template.jinja").write_text(CHATML_TRAINING_TEMPLATE)
    every, _ = _stats(marked, path)
    assert every["preview"]["loss"] == "every answer"
    assert len(every["preview"]["loss_spans"]) == 3
    assert every["stats"]["loss_token_share"] > final["stats"]["loss_token_share"]
