"""The run configuration: round trips, layering, and messages for people."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ftwizard.core.config.presets import list_presets
from ftwizard.core.config.schema import SECTIONS, RunConfig
from ftwizard.core.config.yaml_io import (
    allowed_values,
    config_from_dict,
    dump_config,
    load_config,
    parse_override,
    save_config,
)
from ftwizard.core.errors import ConfigError, UserError


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path | None, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return caught.value.problems


@pytest.mark.parametrize("preset", list_presets(), ids=lambda p: p.name)
def test_every_builtin_preset_validates_and_round_trips(preset, tmp_path: Path) -> None:
    config = load_config(preset.path)
    assert preset.description, "every preset says what it is for"
    saved = tmp_path / "saved.yaml"
    save_config(config, saved)
    again = load_config(saved)
    assert again == config
    assert dump_config(again) == saved.read_text()  # byte-for-byte stable


def test_commented_yaml_loads_back_to_the_same_config(tmp_path: Path) -> None:
    config = load_config(
        None, ["lora.target_modules=q_proj,v_proj", "data.column_map={instruction: question}"]
    )
    text = dump_config(config, comments=True)
    assert "# Adapter rank" in text
    assert load_config(write(tmp_path, text)) == config


def test_required_presets_exist() -> None:
    names = {p.name for p in list_presets()}
    assert {"demo-cpu", "qlora-8gb", "lora-24gb", "full-80gb", "dpo-chat"} <= names
    methods = {load_config(p.path).method.adapter for p in list_presets()}
    assert methods == {"full", "lora", "qlora"}


def test_every_field_is_documented() -> None:
    for section_name, section in SECTIONS.items():
        assert section.__doc__, section_name
        for name, info in section.model_fields.items():
            assert info.description, f"{section_name}.{name} has no description"
            assert "\n" not in info.description


def test_layering_defaults_then_file_then_set(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  learning_rate: 0.001\n  max_steps: 10\n")
    config = load_config(path, ["training.max_steps=20", "lora.use_dora=true"])
    assert config.training.learning_rate == 0.001  # file beats default
    assert config.training.max_steps == 20  # --set beats file
    assert config.lora.use_dora is True
    assert (
        config.training.per_device_train_batch_size
        == RunConfig().training.per_device_train_batch_size
    )


def test_set_values_are_read_as_yaml() -> None:
    assert parse_override("lora.target_modules=[q_proj, v_proj]") == (
        ("lora", "target_modules"),
        ["q_proj", "v_proj"],
    )
    assert parse_override("model.revision=null") == (("model", "revision"), None)
    config = load_config(None, ["training.learning_rate=1e-4"])  # YAML 1.1 reads this as text
    assert config.training.learning_rate == pytest.approx(1e-4)


@pytest.mark.parametrize("flag", ["training.max_steps", "=3", "training..x=1", ".x=1"])
def test_malformed_set_flags_are_refused(flag: str) -> None:
    with pytest.raises(UserError, match="--set"):
        load_config(None, [flag])


def test_misspelt_key_names_file_line_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  seed: 1\n  learnig_rate: 0.1\n")
    [problem] = problems_of(path)
    assert "`training.learnig_rate`" in problem
    assert f"{path}, line 3" in problem
    assert "did you mean `training.learning_rate`?" in problem


def test_key_in_the_wrong_section_points_to_its_home(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, "learning_rate: 0.1\n"))
    assert "did you mean `training.learning_rate`?" in problem
    [problem] = problems_of(write(tmp_path, "lora:\n  learning_rate: 0.1\n"))
    assert "did you mean `training.learning_rate`?" in problem


def test_unknown_set_key_names_the_flag() -> None:
    [problem] = problems_of(None, ("output.run_nmae=x",))
    assert "--set output.run_nmae=x" in problem
    assert "did you mean `output.run_name`?" in problem


def test_all_type_and_range_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
training:
  learning_rate: -0.1
  per_device_train_batch_size: many
  warmup_ratio: 2
lora:
  r: 0
method:
  adapter: qqlora
""",
    )
    problems = problems_of(path, ("training.seed=-5",))
    assert len(problems) == 6
    by_key = {p.split("`")[1]: p for p in problems}
    assert "greater than 0" in by_key["training.learning_rate"]
    assert "allowed: > 0 and <= 1" in by_key["training.learning_rate"]
    assert "line 2" in by_key["training.learning_rate"]
    assert "'many'" in by_key["training.per_device_train_batch_size"]
    assert "allowed: >= 0 and <= 1" in by_key["training.warmup_ratio"]
    assert "allowed: >= 1 and <= 1,024" in by_key["lora.r"]
    assert "'full', 'lora' or 'qlora'" in by_key["method.adapter"]
    assert "--set training.seed=-5" in by_key["training.seed"]


def test_cross_field_rule_bf16_and_fp16() -> None:
    [problem] = problems_of(None, ("training.bf16=true", "training.fp16=true"))
    assert "choose one" in problem


def test_section_given_as_scalar(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, "training: fast\n"))
    assert "`training`" in problem and "mapping" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("training: [1\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_broken_files_give_one_message(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(UserError, match=expected):
        load_config(write(tmp_path, text))


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == RunConfig()


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such preset file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="is a folder"):
        load_config(tmp_path)


def test_target_modules_accepts_a_comma_list_and_refuses_empty() -> None:
    assert load_config(None, ["lora.target_modules=q_proj, v_proj"]).lora.target_modules == [
        "q_proj",
        "v_proj",
    ]
    assert load_config(None, ["lora.target_modules=all-linear"]).lora.target_modules == "all-linear"
    [problem] = problems_of(None, ("lora.target_modules=[]",))
    assert "at least one module" in problem


def test_run_name_must_be_a_safe_folder_name() -> None:
    [problem] = problems_of(None, ("output.run_name=../etc",))
    assert "letters, digits" in problem
    assert load_config(None, ["output.run_name=my-run_1.2"]).output.run_name == "my-run_1.2"


def test_allowed_values_reads_the_model() -> None:
    assert allowed_values(("training", "optim")).startswith("one of adamw_torch")
    assert allowed_values(("lora", "lora_dropout")) == ">= 0 and < 1"
    assert allowed_values(("nope", "x")) is None


def test_assignment_is_validated_like_loading() -> None:
    config = RunConfig()
    with pytest.raises(ValueError):
        config.training.learning_rate = -1
    assert config_from_dict(config.to_dict()) == config


def test_yaml_output_keeps_declaration_order() -> None:
    text = dump_config(RunConfig())
    assert list(yaml.safe_load(text)) == ["description", *SECTIONS, "stages"]


def test_the_data_commands_train_on_choices_are_the_configurations() -> None:
    from typing import get_args

    from ftwizard.cli.parser import build_parser
    from ftwizard.core.config.choices import TrainOn

    parser = build_parser()
    data = parser._subparsers._group_actions[0].choices["data"]  # type: ignore[union-attr]
    [action] = [a for a in data._actions if a.dest == "train_on"]
    assert tuple(action.choices) == get_args(TrainOn)
