"""The wizard's steps with good and bad input: every problem is shown beside its field
in words, Next stays off until the step is usable, and nothing crashes the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Label, RadioButton, Static

from ftwizard.core.config.yaml_io import load_config
from ftwizard.tui.screens.data import DataScreen
from ftwizard.tui.screens.model import ModelScreen
from ftwizard.tui.screens.params import ParamsScreen
from ftwizard.tui.screens.purpose import PurposeScreen
from ftwizard.tui.screens.review import ReviewScreen
from ftwizard.tui.widgets.config_form import FIXED, ConfigForm, FieldRow, field_keys
from tests.tui_helpers import (
    DEMO_DATA,
    ROOT,
    make_app,
    open_step,
    settle,
    static_text,
    to_data_step,
    to_model_step,
    type_into,
)

BAD = ROOT / "tests" / "data_bad"


def _text(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return static_text(app.screen.query_one(selector, Static))


def _next_enabled(app) -> bool:  # type: ignore[no-untyped-def]
    return not app.screen.query_one("#next", Button).disabled


async def test_model_step_filters_the_catalog_and_marks_fit_in_words(tmp_path: Path) -> None:
    app = make_app(str(tmp_path), gpus=(24,))
    async with app.run_test(size=(120, 40)) as pilot:
        await to_model_step(pilot, "Llama-3.1-8B-Instruct")
        assert isinstance(app.screen, ModelScreen)
        table = app.screen.query_one("#catalog")
        cells = table.get_row("meta-llama/Llama-3.1-8B-Instruct")  # type: ignore[attr-defined]
        # full does not fit a 24 GB card, QLoRA does: said by a mark (the legend above
        # the list explains it), not by colour alone, with the least memory in GB.
        assert cells[2].plain.startswith("✗ ") and cells[4].plain.startswith("✓ ")
        assert float(cells[4].plain.split()[1]) < 24 < float(cells[2].plain.split()[1])
        assert app.state.model_id == "meta-llama/Llama-3.1-8B-Instruct"
        assert app.state.model_facts is not None
        assert app.state.model_facts.params_billions > 7
        assert _next_enabled(app)


async def test_model_step_says_why_an_id_cannot_be_resolved_offline(tmp_path: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_model_step(pilot, "nobody/no-such-model-xyz")
        message = _text(app, "#model-error")
        assert message.startswith("x nobody/no-such-model-xyz")
        assert "not found" in message
        assert not _next_enabled(app)
        await type_into(pilot, "#model-input", str(tmp_path / "missing.gguf"))
        assert "x " in _text(app, "#model-error")
        assert not _next_enabled(app)


async def test_model_step_reads_a_local_folder(tmp_path: Path, tiny_model: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_model_step(pilot, str(tiny_model))
        assert app.state.model_facts is not None
        assert app.state.model_facts.num_layers == 2
        assert _next_enabled(app)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("no/such/file.jsonl", "no such file"),
        (str(BAD / "binary.jsonl"), "binary"),
        (str(BAD / "empty.jsonl"), "empty"),
    ],
    ids=["missing", "binary", "empty"],
)
async def test_data_step_shows_unreadable_paths_beside_the_field(
    tmp_path: Path, path: str, expected: str
) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data_step(pilot, path)
        assert isinstance(app.screen, DataScreen)
        message = _text(app, "#data-error")
        assert message.startswith("x ") and expected in message.lower()
        assert not _next_enabled(app)


async def test_data_step_refuses_a_folder_without_dataset_files(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("not a dataset")
    app = make_app(str(tmp_path / "runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data_step(pilot, str(tmp_path))
        assert "holds no dataset files" in _text(app, "#data-error")
        assert not _next_enabled(app)


async def test_data_step_refuses_a_file_without_read_permission(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    locked = tmp_path / "locked.jsonl"
    locked.write_text(DEMO_DATA.read_text())
    locked.chmod(0)
    app = make_app(str(tmp_path / "runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data_step(pilot, str(locked))
        assert _text(app, "#data-error").startswith("x ")
        assert not _next_enabled(app)


async def test_data_step_lists_invalid_rows_until_skipping_is_chosen(tmp_path: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await to_data_step(pilot, str(BAD / "broken_line.jsonl"))
        report = _text(app, "#data-report")
        assert "3 valid, 1 invalid - NOT usable" in report
        assert "x broken_line.jsonl, line" in report  # the blocking row with its location
        assert not _next_enabled(app)
        app.screen.query_one("#skip-invalid").value = True  # type: ignore[attr-defined]
        await settle(pilot)
        assert "3 valid, 1 invalid - usable" in _text(app, "#data-report")
        label = app.screen.query_one("#skip-invalid").parent.query_one(Label)  # type: ignore[union-attr]
        assert str(label.content).startswith("on: skip invalid rows")
        assert _next_enabled(app)
        assert app.state.config.data.skip_invalid


async def test_data_step_with_no_valid_row_never_goes_on(tmp_path: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await to_data_step(pilot, str(BAD / "bad_conversations.jsonl"))
        report = _text(app, "#data-report")
        assert "0 valid, 5 invalid - NOT usable" in report
        assert "role 'robot'" in report
        app.screen.query_one("#skip-invalid").value = True  # type: ignore[attr-defined]
        await settle(pilot)
        assert not _next_enabled(app)


async def test_data_step_completes_paths(tmp_path: Path) -> None:
    (tmp_path / "train-set.jsonl").write_text(DEMO_DATA.read_text())
    app = make_app(str(tmp_path / "runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_model_step(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        field = app.screen.query_one("#data-path", Input)
        field.focus()
        await pilot.press(*f"{tmp_path}/tra")
        await settle(pilot)
        await pilot.press("right")  # accept the suggestion
        assert field.value == f"{tmp_path}/train-set.jsonl"


@pytest.mark.slow
async def test_data_step_shows_token_statistics_and_pages_the_preview(
    tmp_path: Path, demo_model_folder: Path
) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await to_data_step(pilot, str(DEMO_DATA))
        tokens = _text(app, "#data-tokens")
        assert "tokens per example" in tokens and "max_length" in tokens
        stats = app.state.data_stats
        rows = len(DEMO_DATA.read_text().splitlines())
        assert stats is not None and sum(stats.stats.length_histogram.counts) == rows
        assert "(every answer, data.train_on: assistant)" in tokens
        assert stats.preview is not None
        first = stats.preview.text
        assert app.screen.focused is app.screen.query_one("#next")  # Enter again goes on
        await pilot.press("n")
        await settle(pilot)
        now = app.state.data_stats
        assert now is not None and now.preview is not None
        assert now.preview.example == 1 and now.preview.text != first
        assert _next_enabled(app)


async def test_purpose_step_recomputes_the_plan_and_takes_a_picked_method(
    tmp_path: Path,
) -> None:
    app = make_app(str(tmp_path), gpus=(24,))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "purpose")
        assert isinstance(app.screen, PurposeScreen)
        assert app.state.plan is not None
        assert app.state.plan.config.method.adapter == "lora"  # domain: LoRA first
        # The demo data (over 100 rows) gets a validation split, and the step says why.
        assert app.state.plan.config.evaluation.val_size > 0
        assert any(d.topic == "validation" for d in app.state.plan.decisions)
        assert "validation" in _text(app, "#plan-decisions")
        methods = app.screen.query_one("#methods")
        assert methods.row_count == 3  # type: ignore[attr-defined]
        methods.focus()
        methods.move_cursor(row=methods.get_row_index("qlora"))  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert app.state.plan.config.method.adapter == "qlora"
        assert any(d.reason.startswith("your choice") for d in app.state.plan.decisions)

        app.screen.query_one("#purpose").focus()
        await pilot.press("down", "down", "enter")  # prototype
        await settle(pilot)
        assert app.state.purpose == "prototype"
        labels = {b.name: str(b.label) for b in app.screen.query(RadioButton)}
        assert labels["prototype"].startswith("* prototype") and labels["domain"].startswith("  ")
        assert app.state.plan.config.method.adapter == "qlora"  # prototype: QLoRA first


async def test_settings_form_has_every_field_with_its_description(tmp_path: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "settings")
        assert isinstance(app.screen, ParamsScreen)
        rows = {row.key: row for row in app.screen.query(FieldRow)}
        assert set(rows) == set(field_keys())
        assert not set(FIXED) & set(rows)
        help_text = static_text(rows["training.learning_rate"].query_one(".field-help", Static))
        assert "Peak learning rate" in help_text and "<= 1" in help_text


@pytest.mark.parametrize(
    ("key", "typed", "expected"),
    [
        ("training.learning_rate", "5", "<= 1"),
        ("training.per_device_train_batch_size", "0", ">= 1"),
        ("training.max_length", "long", "valid integer"),
        ("lora.r", "-3", ">= 1"),
        ("output.run_name", "bad name!", "letters, digits"),
    ],
)
async def test_settings_marks_bad_values_beside_the_field(
    tmp_path: Path, key: str, typed: str, expected: str
) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "settings")
        assert _next_enabled(app)
        field = app.screen.query_one("#f-" + key.replace(".", "-"), Input)
        field.value = typed
        await settle(pilot)
        row = next(r for r in app.screen.query(FieldRow) if r.key == key)
        assert row.has_class("-invalid")
        error = static_text(row.query_one(".field-error", Static))
        assert error.startswith("x ") and expected in error
        assert not _next_enabled(app)
        assert "need fixing" in _text(app, "#estimate")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ParamsScreen)  # Next does nothing while invalid


async def test_settings_estimate_follows_the_batch_size(tmp_path: Path) -> None:
    app = make_app(str(tmp_path), gpus=(24,))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "settings")
        field = app.screen.query_one("#f-training-per_device_train_batch_size", Input)
        estimates = []
        for batch in ("1", "16"):
            field.value = batch
            await settle(pilot)
            text = _text(app, "#estimate")
            estimates.append(float(text.split("about ")[1].split(" GB")[0]))
        assert estimates[0] < estimates[1]


async def test_settings_save_and_load_a_preset(tmp_path: Path) -> None:
    app = make_app(str(tmp_path / "runs"))
    preset = tmp_path / "mine.yaml"
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "settings")
        app.screen.query_one("#f-training-max_steps", Input).value = "7"
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await type_into(pilot, "#answer", str(preset))
        assert load_config(preset).training.max_steps == 7
        app.screen.query_one("#f-training-max_steps", Input).value = "9"
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        await type_into(pilot, "#answer", str(preset))
        assert app.screen.query_one("#f-training-max_steps", Input).value == "7"
        assert app.state.config.training.max_steps == 7
        await pilot.press("ctrl+o")
        await settle(pilot)
        await type_into(pilot, "#answer", str(tmp_path / "nope.yaml"))
        assert isinstance(app.screen, ParamsScreen)  # a notification, not a crash
        form = app.screen.query_one(ConfigForm)
        assert form.validate_now()[0] is not None


async def test_review_shows_the_yaml_and_the_command_that_repeats_it(tmp_path: Path) -> None:
    app = make_app("runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "settings")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        config = app.screen.config
        command = _text(app, "#headless-command")
        assert f"--preset runs/{config.output.run_name}/config.yaml" in command
        assert f"--set output.run_name={config.output.run_name}-again" in command


async def test_settings_keep_text_fields_as_typed_and_read_lists(tmp_path: Path) -> None:
    app = make_app(str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "settings")
        app.screen.query_one("#f-output-run_name", Input).value = "2024"
        app.screen.query_one("#f-lora-target_modules", Input).value = "[q_proj, v_proj]"
        await settle(pilot)
        assert _next_enabled(app)
        assert app.state.config.output.run_name == "2024"  # a name, not the number 2024
        assert app.state.config.lora.target_modules == ["q_proj", "v_proj"]
        app.screen.query_one("#f-lora-target_modules", Input).value = "[q_proj, nope]"
        await settle(pilot)
        assert not _next_enabled(app)
        assert "lora.target_modules" in _text(app, "#estimate")  # the model has no `nope`


async def test_purpose_step_shows_the_gpu_plan_of_a_multi_gpu_machine(tmp_path: Path) -> None:
    # The same plan as `ftwizard plan` on this machine: one GPU fits, DDP on both is faster.
    app = make_app(str(tmp_path), gpus=(24, 24))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_step(pilot, "purpose")
        assert app.state.plan is not None
        gpus = next(d for d in app.state.plan.decisions if d.topic == "GPUs")
        assert gpus.choice == "1 of 2" and "DDP on all 2" in gpus.reason
        shown = static_text(app.screen.query_one("#plan-decisions", Static))
        assert "DDP on all 2" in shown
