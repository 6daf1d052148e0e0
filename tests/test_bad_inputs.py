"""The bad-input corpus (tests/bad_inputs/cases.yaml): malformed presets, --set values,
datasets, model paths and arguments, each refused with exit code 2, a message naming
what and where, and no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TEST_CACHE, run_cli

CORPUS = Path(__file__).parent / "bad_inputs"


def _cases() -> list[Any]:
    manifest = yaml.safe_load((CORPUS / "cases.yaml").read_text())
    cases = []
    for kind, entries in manifest.items():
        for entry in entries:
            label = f"{kind}: {' '.join(entry['args'])}"
            cases.append(pytest.param(entry, id=label))
    return cases


def test_the_corpus_is_big_enough_and_its_files_exist() -> None:
    manifest = yaml.safe_load((CORPUS / "cases.yaml").read_text())
    assert sum(len(entries) for entries in manifest.values()) >= 30
    named = {
        arg for entries in manifest.values() for entry in entries for arg in entry["args"]
        if arg.startswith("tests/bad_inputs/")
    }  # fmt: skip
    present = {f"tests/bad_inputs/{p.name}" for p in CORPUS.iterdir()}
    missing_on_purpose = {n for n in named if "nope" in n or "no-such" in n or "does-not" in n}
    missing_on_purpose |= {n for n in named if "not-a-model" in n}
    assert named - missing_on_purpose <= present


@pytest.mark.parametrize("case", _cases())
def test_bad_input_is_refused_in_words(case: dict[str, Any], tmp_path: Path) -> None:
    env = {"FTWIZARD_CACHE": str(TEST_CACHE), "FTWIZARD_FAKE_GPUS": "", **case.get("env", {})}
    args = list(case["args"])
    if args and args[0] in ("runs", "stop", "resume", "sample"):  # a runs root of its own
        args += ["--root", str(tmp_path)]
    result = run_cli(*args, env=env)
    said = result.stdout + result.stderr
    assert result.returncode == 2, said
    assert "Traceback" not in said
    for words in case["expect"]:
        assert words.lower() in said.lower(), f"{words!r} not in:\n{said}"
    for words in case.get("absent", []):  # e.g. a pasted token, never repeated back
        assert words not in said, f"{words!r} shown in:\n{said}"
