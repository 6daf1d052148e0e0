"""A plan's stages: SFT, then DPO on preference pairs, where the tables call for it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli

IDENTITY = ROOT / "data" / "demo" / "wizard-identity.jsonl"
PAIRS = ROOT / "data" / "demo" / "wizard-pairs.jsonl"
# The card stands still: the stages' figures must not follow this machine's free memory.
ON_A_CARD = ("--gpu", "RTX 4090")


def _plan(*flags: str) -> dict[str, Any]:
    result = run_cli(
        "plan", "--model", "smollm2-135m-instruct", "--data", str(IDENTITY), *flags, "--json"
    )
    assert result.returncode == 0, result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)
    return plan


def test_a_chat_plan_with_pairs_lists_both_stages_with_their_figures() -> None:
    plan = _plan("--purpose", "chat", "--pairs", str(PAIRS), *ON_A_CARD)
    first, second = plan["stages"]
    assert (first["stage"], first["objective"], first["data"]) == (1, "sft", str(IDENTITY))
    assert first["eta_seconds"] == pytest.approx(plan["eta_seconds"], abs=0.1)
    assert (second["stage"], second["objective"], second["rows"]) == (2, "dpo", 30)
    assert second["starts_from"] == 1 and second["waiting"] is None
    assert second["eta_seconds"] > 0 and second["estimate_gb"] > 0
    # Planned on its own data: the gentle learning rate of DPO, the pairs as its data.
    assert second["config"]["data"]["path"] == str(PAIRS)
    assert (
        second["config"]["training"]["learning_rate"] < first["config"]["training"]["learning_rate"]
    )
    total = first["eta_seconds"] + second["eta_seconds"]
    assert plan["total_eta_seconds"] == pytest.approx(total, abs=0.2)


def test_without_pairs_the_second_stage_waits_and_says_for_what() -> None:
    plan = _plan("--purpose", "chat", *ON_A_CARD)
    first, second = plan["stages"]
    assert second["config"] is None and second["eta_seconds"] is None
    assert "needs preference pairs" in second["waiting"]
    assert plan["total_eta_seconds"] == pytest.approx(first["eta_seconds"], abs=0.1)
    shown = run_cli(
        "plan", "--model", "smollm2-135m-instruct", "--data", str(IDENTITY),
        "--purpose", "chat", *ON_A_CARD,
    )  # fmt: skip
    assert "Stages" in shown.stdout and "plan stage 2 with --pairs FILE" in shown.stdout


def test_pairs_that_are_not_pairs_and_purposes_of_one_stage() -> None:
    plan = _plan("--purpose", "chat", "--pairs", str(IDENTITY), *ON_A_CARD)
    assert "holds chat examples, not preference pairs" in plan["stages"][1]["waiting"]
    assert len(_plan("--purpose", "domain", *ON_A_CARD)["stages"]) == 1


async def test_the_wizards_purpose_step_shows_the_stage_that_waits_for_pairs() -> None:
    from textual.widgets import Static

    from tests.tui_helpers import make_app, open_step, settle, static_text, wait_for

    app = make_app("runs", gpus=(24,))
    async with app.run_test(size=(120, 40)) as pilot:
        app.state.purpose = "chat"
        await open_step(pilot, "purpose", data=IDENTITY)
        panel = app.screen.query_one("#plan-decisions", Static)
        await wait_for(pilot, lambda: not panel.loading, 60, "the plan")
        await settle(pilot)
        text = " ".join(static_text(panel).split())
        assert "stage 2: dpo from stage 1's result - waits: needs preference pairs" in text
        assert "give pairs below, or later f on the done screen" in text
