"""Hostile and damaged input that must end in words, fast and small: special files, YAML
aliases, deep nesting, paths that look local, reused pids, files a person wrote or
typed that must not be lost, and a run's lock raced for. The command-line cases are in
the bad-input corpus (tests/bad_inputs/cases.yaml); these are the pieces beneath."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.errors import UserError
from ftwizard.core.files import (
    WouldReplace,
    check_target,
    load_json,
    load_yaml,
    read_small_text,
    shorten,
)
from ftwizard.core.outputs.chat import Conversation
from ftwizard.core.paths import looks_local
from ftwizard.core.runs import lock
from ftwizard.core.runs.folder import RunFolder, create_run
from ftwizard.core.runs.launch import request_checkpoint, stop
from ftwizard.core.runs.model_card import save_samples
from ftwizard.core.trainer_calls import SampleRow
from tests.conftest import ROOT, run_cli

CORPUS = ROOT / "tests" / "bad_inputs"


def test_a_fifo_is_refused_at_once_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "x.yaml"
    os.mkfifo(fifo)
    refused: list[str] = []

    def read() -> None:
        with pytest.raises(UserError) as error:
            read_small_text(fifo, "a preset")
        refused.append(error.value.message)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)  # an open() of a FIFO with no writer would block for ever
    assert refused and "named pipe" in refused[0]


def test_a_link_to_a_device_and_a_file_past_the_cap_are_refused(tmp_path: Path) -> None:
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    with pytest.raises(UserError, match="character device"):
        read_small_text(zero, "a preset")
    big = tmp_path / "big.yaml"
    big.write_text("a" * 2048)
    with pytest.raises(UserError, match="larger than 1 KB"):
        read_small_text(big, "a preset", limit=1024)


def test_aliases_are_refused_before_anything_expands_them() -> None:
    text = (CORPUS / "alias_bomb.yaml").read_text()
    started = time.process_time()
    with pytest.raises(UserError, match=r"line 5: YAML aliases \(\*a0\)"):
        load_yaml(text, "alias_bomb.yaml")
    assert time.process_time() - started < 1.0  # yaml.safe_load alone takes minutes
    assert load_yaml("a: &x 1\nb: 2\n", "p") == {"a": 1, "b": 2}  # an anchor alone is harmless


def test_nesting_past_the_limit_is_a_problem_not_a_recursion_error() -> None:
    with pytest.raises(UserError, match="nested more than 100 levels"):
        load_yaml("a: " + "[" * 5000 + "]" * 5000, "deep.yaml")
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        load_json("[" * 100_000 + "]" * 100_000)
    assert isinstance(load_json("[" * 50 + "]" * 50), list)  # shallow nesting is fine
    assert shorten("x" * 1000).endswith("…") and len(shorten("x" * 1000)) == 60


def test_a_long_value_is_quoted_by_its_start_only(tmp_path: Path) -> None:
    preset = tmp_path / "p.yaml"
    preset.write_text("training:\n  learning_rate: " + "9" * 50_000 + "x\n")
    with pytest.raises(UserError) as error:
        load_config(preset)
    assert "training.learning_rate" in str(error.value) and len(str(error.value)) < 600


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("nosuch/file.jsonl", True),  # a data-file suffix
        ("./org/data", True),
        ("~/data/x", True),
        ("/abs/x", True),
        ("made-here/model", True),  # its parent folder exists (made below)
        ("tatsu-lab/alpaca", False),
        ("Qwen/Qwen2.5-1.5B-Instruct", False),
        ("microsoft/phi-1.5", False),
    ],
)
def test_what_looks_local_is_never_a_hub_id(
    text: str, local: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "made-here").mkdir()
    assert looks_local(text) is local


def test_a_mistyped_local_path_is_no_such_file_and_never_asks_the_hub(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE=0 and an endpoint that would answer nothing: a request would show
    # as the datasets library's "Couldn't reach" after its retries, not as this.
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}
    started = time.monotonic()
    done = run_cli("data", "nosuch/file.jsonl", env=env, cwd=tmp_path)
    assert done.returncode == 2 and "nosuch/file.jsonl: no such file" in done.stderr
    assert time.monotonic() - started < 60


def test_every_ftwizard_process_has_the_hub_telemetry_off() -> None:
    code = (
        "import ftwizard, os\n"
        "from huggingface_hub import constants\n"
        "print(os.environ['HF_HUB_DISABLE_TELEMETRY'], constants.HF_HUB_DISABLE_TELEMETRY)"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_TELEMETRY"}
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert said.stdout.split() == ["1", "True"], said.stderr
    chosen = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "HF_HUB_DISABLE_TELEMETRY": "0"},
    )
    assert chosen.stdout.split() == ["0", "False"]  # what the person set stays


# --- whose pid a run names -------------------------------------------------------


def _run_naming(tmp_path: Path, pid: int, started: float | None) -> RunFolder:
    run = create_run(load_config(None, [f"output.runs_root={tmp_path}", "data.path=d.jsonl"]))
    run.write_status(state="running", pid=pid, pid_started=started)
    return run


def test_a_reused_pid_is_never_signalled_and_the_run_is_marked_failed(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "60"])  # the program that got the trainer's pid
    try:
        run = _run_naming(tmp_path, other.pid, started=1_000_000.0)  # the trainer's start
        assert run.read_status().state == "failed"
        with pytest.raises(UserError, match="is now another process"):
            stop(run)
        with pytest.raises(UserError, match="not training"):
            request_checkpoint(run)
        time.sleep(0.2)
        assert other.poll() is None  # neither SIGTERM nor SIGUSR1 reached it
        on_disk = json.loads(run.status_path.read_text())
        assert on_disk["state"] == "failed" and "another process" in on_disk["error"]
    finally:
        other.kill()
        other.wait()


def test_the_trainer_with_its_own_start_time_is_alive(tmp_path: Path) -> None:
    import psutil

    me = psutil.Process()
    run = _run_naming(tmp_path, me.pid, started=me.create_time())
    assert run.read_status().state == "running"


def test_a_trainer_whose_start_time_moved_with_the_clock_is_still_alive(tmp_path: Path) -> None:
    run = _run_naming(tmp_path, 1, started=None)
    # This run's trainer, its recorded start time off by an hour (a wall clock stepped
    # during a long run): its command line still names the run.
    trainer = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "ftwizard.trainer.run", str(run.path)]
    )
    try:
        run.write_status(pid=trainer.pid, pid_started=time.time() - 3600)
        assert run.read_status().state == "running"
    finally:
        trainer.kill()
        trainer.wait()


# --- files people wrote or typed -----------------------------------------------------


def test_existing_files_are_not_replaced_without_force(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("mine")
    with pytest.raises(WouldReplace, match="exists already"):
        check_target(mine, "the preset")
    check_target(mine, "the preset", force=True)
    with pytest.raises(UserError, match="is a folder"):
        check_target(tmp_path, "the preset", force=True)
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_target(mine / "under.yaml", "the preset", force=True)


def test_plan_save_preset_keeps_an_existing_file_and_a_folder_is_refused(tmp_path: Path) -> None:
    plan = ["plan", "--model", "smollm2-135m-instruct", "--rows", "100", "--gpu", "H100"]
    mine = tmp_path / "mine.yaml"
    mine.write_text("# my own notes\n")
    kept = run_cli(*plan, "--save-preset", str(mine))
    assert kept.returncode == 2 and "exists already" in kept.stderr and "--force" in kept.stderr
    assert mine.read_text() == "# my own notes\n"
    replaced = run_cli(*plan, "--save-preset", str(mine), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert "model_name_or_path: smollm2-135m-instruct" in mine.read_text()
    folder = run_cli(*plan, "--save-preset", str(tmp_path))
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    assert "Traceback" not in folder.stderr and not list(tmp_path.glob(".*.tmp"))


def test_a_chat_save_that_cannot_be_written_keeps_the_conversation(tmp_path: Path) -> None:
    conversation = Conversation()
    conversation.turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for target in (tmp_path, a_file / "under.jsonl"):
        with pytest.raises(UserError, match="Not saved") as error:
            conversation.save(target)
        assert "conversation is kept" in error.value.message
    assert len(conversation.turns) == 2
    assert conversation.save(tmp_path / "good.jsonl") == 2


def test_sampled_answers_stay_the_owners(tmp_path: Path) -> None:
    run = create_run(load_config(None, [f"output.runs_root={tmp_path}", "data.path=d.jsonl"]))
    previous = os.umask(0o022)
    try:
        save_samples(run, [SampleRow(prompt="secret plan?", base="a", fine_tuned="b")])
    finally:
        os.umask(previous)
    assert stat.S_IMODE((run.path / "samples.json").stat().st_mode) == 0o600


def test_sample_prompts_go_over_a_pipe_not_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ftwizard.core import trainer_calls

    calls: list[tuple[list[str], str | None]] = []

    def fake_run(command: list[str], input_text: str | None = None) -> object:
        calls.append((list(command), input_text))
        answer = '[{"prompt": "p", "base": "b", "fine_tuned": "t"}]'
        return subprocess.CompletedProcess(command, 0, answer, "")

    monkeypatch.setattr(trainer_calls.lifetime, "run", fake_run)
    trainer_calls.sample_outputs("/runs/x", ["my private question"])
    [(command, sent)] = calls
    assert not any("private question" in part for part in command)
    assert json.loads(sent or "") == ["my private question"]


@pytest.mark.parametrize(
    "args",
    [
        ["sample", "RUN"],
        ["merge", "RUN"],
        ["chat", "RUN"],
        ["export", "RUN", "--outtype", "q8_0"],
    ],
)
def test_every_command_that_loads_the_model_warns_of_remote_code(
    args: list[str], tmp_path: Path
) -> None:
    config = load_config(
        None,
        [f"output.runs_root={tmp_path}", "data.path=d.jsonl", "model.trust_remote_code=true"],
    )
    run = create_run(config)
    done = run_cli(*[str(run.path) if a == "RUN" else a for a in args], "--root", str(tmp_path))
    assert done.returncode == 2  # no trained output yet: the warning comes first all the same
    assert "trust_remote_code is on" in done.stderr and "Traceback" not in done.stderr


# --- one trainer per run -----------------------------------------------------------


def test_a_lock_being_written_is_held_not_stale(tmp_path: Path) -> None:
    import fcntl

    path = tmp_path / "trainer.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # created, holder not written
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        with pytest.raises(lock.LockHeld, match="another trainer"):
            lock.acquire(path)
    finally:
        os.close(descriptor)
    taken = lock.acquire(path)  # its holder is gone: taken over
    assert taken.taken_from == "an unknown process"
    assert json.loads(path.read_text())["pid"] == os.getpid()
    taken.release()
    assert not path.exists()


# A trainer's start, cut to the lock: ready, wait for the start, race, and the winner
# holds the lock until the test has every answer.
RACER = """
import os, sys, time
from pathlib import Path
from ftwizard.core.runs import lock
path, folder = Path(sys.argv[1]), Path(sys.argv[2])
(folder / f"ready-{os.getpid()}").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
try:
    held = lock.acquire(path)
except lock.LockHeld:
    print("refused", flush=True)
else:
    print("won", flush=True)
    while not (folder / "end").exists():
        time.sleep(0.01)
    held.release()
"""


def test_of_trainers_racing_for_a_stale_lock_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "trainer.lock"
    path.write_text("999999")  # left by a trainer killed long ago
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(6)
    ]
    try:
        deadline = time.monotonic() + 120  # the imports, on a loaded machine
        while len(list(tmp_path.glob("ready-*"))) < len(racers):
            assert time.monotonic() < deadline, "the racers never got ready"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        assert racers[0].stdout is not None
        said = sorted(racer.stdout.readline().strip() for racer in racers if racer.stdout)
        assert said == ["refused"] * 5 + ["won"], said
    finally:
        (tmp_path / "end").touch()
        for racer in racers:
            racer.communicate(timeout=120)


def test_of_two_launches_with_one_name_the_second_is_refused_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(
        None, [f"output.runs_root={tmp_path}", "data.path=d.jsonl", "output.run_name=same"]
    )
    first = create_run(config)
    # The second launch looked before the first made the folder: only the mkdir can tell.
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda p: False if p == first.path else real_exists(p))
    with pytest.raises(UserError, match="a run of this name exists already"):
        create_run(config)
