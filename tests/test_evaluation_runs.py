"""``eval``, ``judge`` and ``compare`` on a real run: the session's LoRA run of the demo
model, its answers generated and scored, the harness run offline, A/B judged by keys
through a pseudo-terminal, the pairs trained on by DPO, and a data mix trained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ftwizard.core.runs.folder import RunFolder
from tests.conftest import ROOT, run_cli
from tests.recorded_runs import record_run
from tests.terminal import Terminal
from tests.test_training import events, make_run, train

DEMO_DATA = ROOT / "data" / "demo" / "wizard-identity.jsonl"


@pytest.mark.slow
def test_eval_scores_both_models_and_shows_in_card_runs_and_compare(
    lora_run: RunFolder, tmp_path: Path
) -> None:
    refused = run_cli("eval", str(lora_run.path))
    assert refused.returncode == 2  # val_size 0: nothing held out to score
    assert "held no validation rows out" in refused.stderr and "--data" in refused.stderr

    done = run_cli(
        "eval", str(lora_run.path), "--data", str(DEMO_DATA), "--limit", "3",
        "--max-new-tokens", "8", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [m["label"] for m in report["models"]] == ["base", "tuned"]
    for model in report["models"]:
        assert 0 <= model["rouge_l"] <= 1 and 0 <= model["exact_match"] <= 1
        assert model["loss"] > 0 and model["perplexity"] > 1
    assert len(report["examples"]) == 3
    assert all(set(e["answers"]) == {"base", "tuned"} for e in report["examples"])
    assert (lora_run.path / "eval.json").exists()
    card = (lora_run.final_dir / "README.md").read_text()
    assert "model-index:" in card and "## Evaluation" in card

    listed = run_cli("runs", "--root", str(lora_run.path.parent))
    assert "R-L" in listed.stdout

    other = record_run(tmp_path, "recorded-other", "finished", 120)
    compared = run_cli("compare", str(lora_run.path), str(other))
    assert compared.returncode == 0, compared.stderr
    assert lora_run.name in compared.stdout and "recorded-other" in compared.stdout
    assert "not evaluated" in compared.stdout and "ROUGE-L" in compared.stdout
    assert "wizard-identity.jsonl" in compared.stdout  # what the scores were measured on
    assert "training loss" in compared.stdout


@pytest.mark.slow
def test_the_harness_runs_a_local_task_offline_before_and_after(lora_run: RunFolder) -> None:
    done = run_cli(
        "eval", str(lora_run.path), "--tasks", "ftwizard_facts", "--limit", "6", "--json"
    )
    assert done.returncode == 0, done.stderr
    [task] = json.loads(done.stdout)["scores"]
    assert (task["task"], task["metric"], task["samples"]) == ("ftwizard_facts", "acc", 6)
    assert 0 <= task["base"] <= 1 and 0 <= task["tuned"] <= 1
    assert task["base_stderr"] > 0 and task["tuned_stderr"] > 0
    missing = run_cli("eval", str(lora_run.path), "--tasks", "arc_easy", "--limit", "2")
    assert missing.returncode == 2
    assert "not on this machine" in missing.stderr and "--include-path" in missing.stderr


@pytest.mark.slow
def test_judging_by_keys_makes_pairs_dpo_trains_on_and_a_model_judge_agrees_or_not(
    lora_run: RunFolder, demo_model_folder: Path, tiny_model: Path, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    kept = lora_run.path / "judgments.jsonl"
    before = len(kept.read_text().splitlines()) if kept.exists() else 0  # other tests judge too
    command = [
        sys.executable, "-m", "ftwizard.cli.main", "judge", str(lora_run.path),
        "--data", str(DEMO_DATA), "--limit", "4", "--max-new-tokens", "6",
        "--pairs", str(pairs),
    ]  # fmt: skip
    terminal = Terminal(command, tmp_path)
    try:
        for number, keys in enumerate([b"ha", b"b", b"t", b"a"], start=1):
            terminal.wait_for(rf"prompt {number} of 4")
            terminal.wait_for("marks: none")
            terminal.press(keys)  # single keys, no Enter
            terminal.wait_for(r"→ (tuned|base|tie)")
        summary = terminal.wait_for(r"win rate \d+%")
        assert "2 won, 1 lost, 1 tied" in summary or "1 won, 2 lost, 1 tied" in summary
        assert terminal.wait_exit(60) == 0
    finally:
        terminal.close()
    judged = [json.loads(line) for line in kept.read_text().splitlines()[before:]]
    assert judged[0]["marks"] == ["helpful"] and judged[2]["winner"] is None

    checked = run_cli("data", str(pairs), "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)["report"]
    assert (report["trainer_shape"], report["rows_valid"]) == ("preference", 3)

    dpo = make_run(tmp_path, tiny_model, pairs, "method.objective=dpo", "training.max_steps=2")
    assert train(dpo) == 0
    [data] = events(dpo, "data")
    assert data.rows_train == 3
    assert len(events(dpo, "log")) >= 1

    judged_by_model = run_cli(
        "judge", str(lora_run.path), "--data", str(DEMO_DATA), "--limit", "2",
        "--max-new-tokens", "6", "--pairs", str(tmp_path / "model-pairs.jsonl"),
        "--judge", str(demo_model_folder), "--json",
    )  # fmt: skip
    assert judged_by_model.returncode == 0, judged_by_model.stderr
    summary = json.loads(judged_by_model.stdout)
    assert summary["wins"] + summary["losses"] + summary["ties"] == 2
    assert summary["agreement_with_people"]["shared"] == 2  # people judged these two too


@pytest.mark.slow
def test_a_mixed_run_records_its_sources_and_shares(tiny_model: Path, tmp_path: Path) -> None:
    general = tmp_path / "general.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Say {i}."},
                {"role": "assistant", "content": f"{i}."},
            ]
        }
        for i in range(400)
    ]
    general.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = make_run(
        tmp_path, tiny_model, DEMO_DATA, "training.max_steps=1",
        f"data.mix=[{{path: {general}, weight: 0.25}}]", "evaluation.val_size=0.1",
    )  # fmt: skip
    assert train(run) == 0
    [data] = events(run, "data")
    labels = [s.label for s in data.sources]
    assert labels == ["wizard-identity.jsonl", "general.jsonl"]
    for source, weight in zip(data.sources, (0.75, 0.25), strict=True):
        assert abs(source.share - weight) < 0.02
    assert sum(s.rows_train for s in data.sources) == data.rows_train
    card = (run.final_dir / "README.md").read_text()
    assert "mixed (`data.mix`): 75% `wizard-identity.jsonl`" in card
    shown = run_cli("runs", run.name, "--root", str(run.path.parent))
    assert shown.returncode == 0


@pytest.mark.slow
async def test_the_done_screens_eval_and_judging_panes(lora_run: RunFolder, tmp_path: Path) -> None:
    from textual.widgets import Static

    from ftwizard.tui.screens.done import DoneScreen
    from ftwizard.tui.screens.judge import JudgeScreen
    from tests.tui_helpers import make_app, settle, static_text, wait_for

    pairs = lora_run.path / "judged-pairs.jsonl"
    before = len(pairs.read_text().splitlines()) if pairs.exists() else 0
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(DoneScreen(lora_run))
        await settle(pilot)
        await pilot.press("e")  # the run held nothing out: said, not crashed
        output = app.screen.query_one("#done-output", Static)
        await wait_for(pilot, lambda: "x eval failed" in static_text(output), what="eval")
        assert "held no validation rows out" in static_text(output)

        judge = JudgeScreen(lora_run, prompts=2, max_new_tokens=8)
        app.push_screen(judge)
        await wait_for(pilot, lambda: judge.session is not None, what="both models' answers")
        status = judge.query_one("#judge-status", Static)
        assert "1 of 2" in static_text(status)
        assert "training prompts" in static_text(judge.query_one("#judge-prompt", Static))
        await pilot.press("h", "a")
        assert "2 of 2" in static_text(status)
        await pilot.press("t")
        assert "win rate" in static_text(status) and "tied 1" in static_text(status)
    assert len(pairs.read_text().splitlines()) == before + 1  # the tie is no pair
