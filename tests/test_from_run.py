"""A run that starts from another run's result: DPO on what an SFT run made.

The stage's model and its DPO reference are the SFT model (so the first DPO loss is
ln 2); its merge and its GGUF export are the whole chain, checked against peft folding
the two adapters by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder, create_run
from ftwizard.core.runs.start import with_start
from tests.conftest import ROOT, TEST_CACHE, run_cli
from tests.test_faults import wait_for
from tests.test_gguf_export import _logits
from tests.test_training import events

PAIRS = ROOT / "data" / "demo" / "wizard-pairs.jsonl"
DPO_PRESET = ROOT / "presets" / "demo-dpo-cpu.yaml"
# The stage's own settings: a learning rate that moves the adapter in two steps.
DPO_SETTINGS = (
    "model.dtype=float32",
    "training.max_steps=2",
    "training.learning_rate=0.005",
    "checkpointing.save_steps=2",
)


def _sets(*pairs: str) -> list[str]:
    return [part for pair in pairs for part in ("--set", pair)]


def _finished(run: RunFolder) -> bool:
    return run.read_status().state in ("finished", "failed")


@pytest.fixture(scope="module")
def dpo_run(lora_run: Any, tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    """``ftwizard --preset demo-dpo-cpu.yaml --from <the SFT run>``, trained to the end."""
    root = tmp_path_factory.mktemp("dpo-from") / "runs"
    started = run_cli(
        "--preset",
        str(DPO_PRESET),
        "--from",
        str(lora_run.path),
        *_sets(*DPO_SETTINGS, f"output.runs_root={root}", "output.run_name=dpo"),
        "--detach",
        env={"FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    assert started.returncode == 0, started.stderr
    assert f"starts from run {lora_run.name}" in started.stderr
    assert "it is also the reference model" in started.stderr
    run = RunFolder(root / "dpo")
    wait_for(lambda: _finished(run), timeout=600, what="the DPO stage to finish")
    assert run.read_status().state == "finished", (run.path / "trainer.log").read_text()[-3000:]
    return run


@pytest.mark.slow
def test_dpo_from_an_sft_run_starts_from_it_and_compares_against_it(
    dpo_run: RunFolder, lora_run: Any, demo_model_folder: Path
) -> None:
    config = dpo_run.read_config()
    assert config.model.from_run == str(lora_run.path.resolve())
    assert config.model.model_name_or_path == str(demo_model_folder)
    [first, *_] = events(dpo_run, "log")
    # Before the first update the policy is the starting model (a fresh adapter is
    # zero): the loss is -log sigmoid(0) only when the reference is that same model.
    assert abs(first.loss - math.log(2)) <= 0.01, first.loss

    # The same first step from the bare base: another policy, so another log-likelihood
    # of the chosen answers. Equal figures would mean the SFT result never loaded.
    bare = create_run(
        load_config(
            DPO_PRESET,
            [
                *DPO_SETTINGS,
                f"model.model_name_or_path={demo_model_folder}",
                f"output.runs_root={dpo_run.path.parent}",
                "output.run_name=bare",
                "training.max_steps=1",
            ],
        )
    )
    from tests.test_training import train

    assert train(bare) == 0
    [bare_first] = events(bare, "log")
    from_sft, from_base = first.metrics["logps/chosen"], bare_first.metrics["logps/chosen"]
    assert abs(from_sft - from_base) > 1.0, (from_sft, from_base)


def _chain(demo_model_folder: Path, adapters: list[Path]) -> Any:
    """The oracle: the base with each adapter folded in order, by peft alone."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(demo_model_folder, dtype=torch.float32)
    for adapter in adapters:
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.eval()


@pytest.mark.slow
def test_the_result_merges_and_exports_as_the_stage_2_model(
    dpo_run: RunFolder, lora_run: Any, demo_model_folder: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(dpo_run.final_dir)
    stage_1 = _logits(_chain(demo_model_folder, [lora_run.final_dir]), tokenizer)
    stage_2 = _logits(_chain(demo_model_folder, [lora_run.final_dir, dpo_run.final_dir]), tokenizer)
    scale = float(stage_2.abs().max())
    assert float((stage_2 - stage_1).abs().max()) > 0.01 * scale  # the DPO stage moved it

    root = str(dpo_run.path.parent)
    merged = run_cli("merge", "dpo", "--root", root)
    assert merged.returncode == 0, merged.stderr
    model = AutoModelForCausalLM.from_pretrained(dpo_run.path / "merged")
    assert float((_logits(model, tokenizer) - stage_2).abs().max()) <= 1e-4 * scale

    exported = run_cli("export", "dpo", "--root", root, "--outtype", "q8_0", "--json")
    assert exported.returncode == 0, exported.stderr
    gguf = Path(json.loads(exported.stdout)["path"])
    q8 = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    answers = _logits(q8, tokenizer).argmax(-1)
    assert float((answers == stage_2.argmax(-1)).float().mean()) >= 0.95

    card = (dpo_run.final_dir / "README.md").read_text()
    assert f"Started from the result of run `{lora_run.name}`" in card
    assert "this adapter applies to that run's result, not to the bare base" in card
    assert "base_model:adapter:" not in card
    alone = run_cli("export", "dpo", "--root", root, "--to", "hub", "me/x", "--dry-run")
    assert alone.returncode == 2 and "add --merged" in alone.stderr


# --- resolving model.from_run, no training ----------------------------------------


def _finished_run(root: Path, name: str, state: str = "finished") -> RunFolder:
    run = create_run(
        load_config(
            None,
            [
                "model.model_name_or_path=org/base-model",
                "model.revision=abc123",
                f"output.runs_root={root}",
                f"output.run_name={name}",
            ],
        )
    )
    run.final_dir.mkdir()
    (run.final_dir / "adapter_config.json").write_text("{}")
    run.write_status(state=state)
    return run


def test_from_run_takes_the_source_runs_base_and_its_folder(tmp_path: Path) -> None:
    source = _finished_run(tmp_path / "runs", "sft")
    config = load_config(
        DPO_PRESET, [f"output.runs_root={tmp_path / 'runs'}", "model.from_run=sft"]
    )
    resolved, note = with_start(config)
    assert resolved.model.from_run == str(source.path.resolve())
    assert resolved.model.model_name_or_path == "org/base-model"
    assert resolved.model.revision == "abc123"
    assert note is not None and "starts from run sft" in note
    assert "its adapter folded into the base" in note and "reference model" in note
    assert "replaces model.model_name_or_path smollm2-135m-instruct" in note
    assert with_start(resolved)[0] == resolved  # resolving twice changes nothing


@pytest.mark.parametrize(
    ("state", "message"),
    [("stopped", r"run sft has no finished result .*\(state: stopped\)"), (None, "No run `sft`")],
)
def test_from_run_refuses_a_run_without_a_finished_result(
    tmp_path: Path, state: str | None, message: str
) -> None:
    if state is not None:
        _finished_run(tmp_path / "runs", "sft", state=state)
    config = load_config(
        DPO_PRESET, [f"output.runs_root={tmp_path / 'runs'}", "model.from_run=sft"]
    )
    with pytest.raises(UserError, match=message):
        with_start(config)


def test_from_needs_a_preset() -> None:
    result = run_cli("--from", "sft")
    assert result.returncode == 2 and "--from" in result.stderr and "need --preset" in result.stderr


@pytest.mark.slow
async def test_the_done_screen_starts_the_next_stage_from_its_model(lora_run: Any) -> None:
    import time

    from textual.widgets import Static

    from ftwizard.tui.screens.done import DoneScreen
    from ftwizard.tui.screens.model import ModelScreen
    from ftwizard.tui.screens.params import ParamsScreen
    from ftwizard.tui.screens.review import ReviewScreen
    from tests.tui_helpers import make_app, settle, static_text, type_into
    from tests.tui_helpers import wait_for as wait_in_app

    app = make_app(str(lora_run.path.parent), gpus=(), clock=time.time)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(DoneScreen(lora_run))
        await settle(pilot)
        await pilot.press("f")
        await wait_in_app(pilot, lambda: isinstance(app.screen, ModelScreen), 30, "the model step")
        chosen = app.screen.query_one("#model-error", Static)
        await wait_in_app(pilot, lambda: "chosen" in static_text(chosen), 60, "the model")
        assert f"starting from run {lora_run.name}'s result" in static_text(chosen)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await type_into(pilot, "#data-path", str(PAIRS))
        await wait_in_app(pilot, lambda: app.state.data_report is not None, 120, "the pairs")
        await pilot.press("ctrl+n")  # purpose: the plan for preference pairs
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ParamsScreen)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        config = app.screen.config
        assert config.method.objective == "dpo"
        assert config.model.from_run == str(lora_run.path.resolve())
        assert "from_run" in static_text(app.screen.query_one("#yaml", Static))


def test_the_estimate_says_what_starting_from_a_run_costs() -> None:
    from ftwizard.core.models.source import resolve_model_facts
    from ftwizard.core.planning.estimator import estimate

    facts = resolve_model_facts("smollm2-135m-instruct")
    plain = load_config(None, ["method.adapter=qlora"])
    staged = load_config(None, ["method.adapter=qlora", "model.from_run=sft"])
    before, after = estimate(facts, plain, device="cuda"), estimate(facts, staged, device="cuda")
    assert after.peak_allocated_gib == before.peak_allocated_gib  # folded as it loads
    [note] = [n for n in after.notes if "another run's result" in n]
    assert "written to the run's start/" in note
