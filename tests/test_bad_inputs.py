"""The bad-input corpus (tests/bad_inputs/cases.yaml): malformed presets, --set values,
datasets, model paths and arguments, each refused with exit code 2, a message naming
what and where, and no traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, TEST_CACHE

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


# Every refusal is quick and small, however hostile the input: CPU seconds (not wall
# time, which a loaded machine stretches) and the peak resident memory of the command.
CPU_LIMIT_S = 5.0
MEMORY_LIMIT_MB = 200


def _make(kind: str, tmp_path: Path) -> subprocess.Popen[bytes] | None:
    """What a case needs that git cannot hold: a FIFO, a run whose pid is reused."""
    if kind.startswith("fifo:"):
        os.mkfifo(tmp_path / kind.removeprefix("fifo:"))
        return None
    if kind == "pid_reuse":
        # A run whose trainer died long ago; its pid now belongs to an unrelated process.
        other = subprocess.Popen(["sleep", "120"])
        run = tmp_path / "reused"
        shutil.copytree(CORPUS / "damaged_runs" / "intact", run)
        status = json.loads((run / "status.json").read_text())
        status.update(state="running", pid=other.pid, pid_started=1_000_000.0)
        status.update(host=socket.gethostname())
        (run / "status.json").write_text(json.dumps(status))
        return other
    raise AssertionError(f"unknown make: {kind}")


# Runs the command and writes its CPU seconds and peak memory. The figures come from a
# small process of their own: a child forked straight from a pytest worker that loaded
# torch would count the worker's 280 MB, copied before the exec, as its own peak.
MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[2:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as figures:
    json.dump([usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024], figures)
sys.exit(done.returncode)
"""


def _run_measured(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> tuple[int, str, float, float]:
    """``ftwizard ARGS``: exit code, output, CPU seconds and peak memory (MB)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120", **env}
    figures = tmp_path / "figures.json"
    command = [sys.executable, "-c", MEASURE, str(figures)]
    command += [sys.executable, "-m", "ftwizard.cli.main", *args]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        said, _ = process.communicate(timeout=60)  # a hang, on any machine
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"ftwizard {' '.join(args)} hung for 60 s") from None
    cpu_s, memory_mb = json.loads(figures.read_text())
    return process.returncode, said.decode("utf-8", "replace"), cpu_s, memory_mb


@pytest.mark.parametrize("case", _cases())
def test_bad_input_is_refused_in_words(case: dict[str, Any], tmp_path: Path) -> None:
    env = {"FTWIZARD_CACHE": str(TEST_CACHE), "FTWIZARD_FAKE_GPUS": "", **case.get("env", {})}
    other = _make(case["make"], tmp_path) if "make" in case else None
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in case["args"]]
    if args[0] in ("runs", "stop", "resume", "sample", "attach") and "--root" not in args:
        args += ["--root", str(tmp_path)]  # a runs root of its own
    try:
        code, said, cpu_s, memory_mb = _run_measured(args, env, tmp_path)
        assert code == case.get("exit", 2), said
        assert "Traceback" not in said
        for words in case["expect"]:
            assert words.lower() in said.lower(), f"{words!r} not in:\n{said}"
        for words in case.get("absent", []):  # e.g. a pasted token, never repeated back
            assert words not in said, f"{words!r} shown in:\n{said}"
        assert cpu_s < CPU_LIMIT_S, f"{cpu_s:.1f} CPU seconds"
        assert memory_mb < MEMORY_LIMIT_MB, f"{memory_mb:.0f} MB"
        if other is not None:
            assert other.poll() is None, "a process that is not the trainer was signalled"
    finally:
        if other is not None:
            other.kill()
            other.wait()
