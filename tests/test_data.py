"""Datasets as people have them: the shared real files, edge cases and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ftwizard.core.data.formats import RowProblem, apply_column_map, conversation
from ftwizard.core.data.split import in_validation, split_counts
from ftwizard.core.data.validate import validate_path
from ftwizard.core.errors import UserError
from tests.conftest import ROOT, TEST_DATA, run_cli

BAD = ROOT / "tests" / "data_bad"

# file: (format, layout, trl shape, rows read)
SHARED = {
    "alpaca_en_demo.json": ("alpaca", "alpaca", "messages", 150),
    "identity.json": ("alpaca", "alpaca", "messages", 91),
    "glaive_toolcall_en_demo.json": ("sharegpt", "sharegpt", "messages", 80),
    "dpo_en_demo.json": ("preference", "sharegpt", "preference", 40),
    "kto_en_demo.json": ("kto", "messages", "kto", 60),
    "c4_demo.jsonl": ("text", "text", "text", 60),
    "wiki_demo.txt": ("text", "text", "text", 5),
    "v1_sft_demo.jsonl": ("messages", "openai", "messages", 80),
    "v1_dpo_demo.jsonl": ("preference", "chosen_messages", "preference", 10),
}
TRL_KEYS = {
    "messages": {"messages"},
    "preference": {"prompt", "chosen", "rejected"},
    "kto": {"prompt", "completion", "label"},
    "text": {"text"},
}


def shared(name: str) -> Path:
    """A real public dataset, cut to its first rows (tests/data/README.md)."""
    return TEST_DATA / name


def collect(path: Path, **kwargs) -> tuple[object, list[dict]]:
    rows: list[dict] = []
    report = validate_path(path, on_row=rows.append, **kwargs)
    return report, rows


@pytest.mark.parametrize("name", SHARED)
def test_shared_files_are_detected_and_normalised(name: str) -> None:
    fmt, layout, shape, count = SHARED[name]
    report, rows = collect(shared(name))
    assert (report.detection.format, report.detection.layout) == (fmt, layout)
    assert report.detection.trainer_shape == shape
    assert report.detection.confidence == 1.0 and report.detection.evidence
    assert report.rows_read == count and report.rows_invalid == 0
    assert len(rows) == report.rows_valid == count
    for row in rows:
        assert TRL_KEYS[shape] <= set(row)


def test_tool_calls_and_tools_survive_normalisation() -> None:
    _, rows = collect(shared("glaive_toolcall_en_demo.json"))
    with_calls = [r for r in rows if any("tool_calls" in m for m in r["messages"])]
    assert with_calls and all("tools" in r for r in with_calls)
    call = next(m for m in with_calls[0]["messages"] if "tool_calls" in m)["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"]
    roles = {m["role"] for r in with_calls for m in r["messages"]}
    assert roles <= {"system", "user", "assistant", "tool"} and "tool" in roles


def test_content_parts_become_text_and_loss_weights_are_flagged() -> None:
    report, rows = collect(shared("v1_sft_demo.jsonl"))
    assert all(isinstance(m["content"], str) for r in rows for m in r["messages"])
    assert any("loss_weight" in note for note in report.notes)


def test_chosen_and_rejected_conversations_split_at_the_shared_prompt() -> None:
    _, rows = collect(shared("v1_dpo_demo.jsonl"))
    for row in rows:
        assert row["prompt"][-1]["role"] == "user"
        assert row["chosen"][0]["role"] == "assistant" and row["chosen"] != row["rejected"]


def test_placeholders_are_kept_as_they_are() -> None:
    _, rows = collect(shared("identity.json"))
    assert "{{name}}" in rows[0]["messages"][-1]["content"]


@pytest.mark.slow
def test_normalised_rows_are_what_trl_takes(demo_model_folder: Path) -> None:
    """Each shape through trl's own chat-template step with the real tokenizer."""
    from transformers import AutoTokenizer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    tokenizer = AutoTokenizer.from_pretrained(demo_model_folder)
    for name in (
        "alpaca_en_demo.json",
        "dpo_en_demo.json",
        "kto_en_demo.json",
        "c4_demo.jsonl",
        "v1_dpo_demo.jsonl",
        "v1_sft_demo.jsonl",
    ):
        _, rows = collect(shared(name))
        row = rows[0]
        applied = maybe_apply_chat_template(row, tokenizer)
        if is_conversational(row):
            assert all(isinstance(v, str) for k, v in applied.items() if k != "label")
        else:
            assert applied == row


@pytest.mark.slow
def test_preview_and_stats_with_the_real_tokenizer(demo_model_folder: Path) -> None:
    from tests.conftest import TEST_CACHE

    result = run_cli(
        "data",
        str(shared("identity.json")),
        "--model",
        "smollm2-135m-instruct",
        "--json",
        "--max-length",
        "128",
        env={"FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    stats, preview = data["stats"], data["preview"]
    assert stats["rows"] == 91 and stats["tokens_p50"] <= stats["tokens_p95"] <= stats["tokens_max"]
    assert 0 < stats["loss_token_share"] < 1
    assert stats["suggested_max_length"] % 128 == 0
    assert stats["truncated_rows"] > 0  # p95 is above 128 tokens
    assert stats["truncated_share"] == pytest.approx(stats["truncated_rows"] / 91, abs=1e-4)
    text = preview["text"]
    assert "{{name}}" in text  # shown as is, not an error
    [(start, end)] = preview["loss_spans"]
    assert text[start:end].startswith("Hello! I am {{name}}")
    assert "<|im_start|>user" not in text[start:end]  # the prompt carries no loss


def test_column_map_reads_custom_columns() -> None:
    report, rows = collect(
        BAD / "custom_columns.jsonl", column_map={"instruction": "question", "output": "answer"}
    )
    assert report.detection.format == "alpaca" and len(rows) == 2
    assert rows[0]["messages"][-1]["content"] == "a1"
    assert apply_column_map({"q": 1, "x": 2}, {"instruction": "q"}) == {"instruction": 1, "x": 2}


def test_column_map_accepts_every_column_a_layout_reads_and_nothing_else() -> None:
    from ftwizard.core.config.choices import COLUMNS
    from ftwizard.core.config.schema import DataSection
    from ftwizard.core.data.formats import LAYOUTS

    assert {key for layout in LAYOUTS for key in layout[3]} <= set(COLUMNS)
    assert DataSection(column_map={name: "mine" for name in COLUMNS}).column_map
    with pytest.raises(ValueError, match="reply: not a column ftwizard reads"):
        DataSection(column_map={"reply": "output"})  # the pair written the wrong way round


def test_csv_tsv_parquet_and_folders(tmp_path: Path) -> None:
    rows = [{"instruction": f"Say {i}", "input": "", "output": f"{i}"} for i in range(5)]
    with (tmp_path / "d.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert collect(tmp_path / "d.csv")[0].rows_valid == 5
    tsv = tmp_path / "t" / "d.tsv"
    tsv.parent.mkdir()
    tsv.write_text("prompt\tcompletion\nhi\thello\n")
    assert collect(tsv)[0].detection.format == "prompt_completion"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    assert collect(tmp_path / "d.parquet")[0].rows_valid == 5
    folder = tmp_path / "parts"
    folder.mkdir()
    for part in range(3):
        (folder / f"part{part}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report, _ = collect(folder)
    assert report.rows_valid == 15 and report.counts["duplicate"] == 10


def test_text_files_by_block_or_line(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("para one\nstill one\n\npara two\n")
    assert collect(path)[0].rows_valid == 2
    assert collect(path, text_split="line")[0].rows_valid == 3
    assert collect(shared("wiki_demo.txt"))[0].rows_valid == 5  # no blank lines: one per line


def test_large_json_array_streams_across_chunks(tmp_path: Path) -> None:
    rows = [{"text": "x" * 5000 + str(i)} for i in range(600)]  # about 3 MB, several chunks
    path = tmp_path / "big.json"
    path.write_text(json.dumps(rows, indent=1))
    report, collected = collect(path)
    assert report.rows_valid == 600 and collected[-1]["text"].endswith("599")


@pytest.mark.parametrize(
    ("turns", "kind"),
    [
        ([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}], "unknown_role"),
        ([{"role": "assistant", "content": "a"}], None),
        ("not a list", "wrong_type"),
        ([], "empty_text"),
        ([{"role": "user", "content": [{"type": "image", "url": "x"}]}], "unsupported_content"),
    ],
)
def test_conversation_problems(turns, kind) -> None:
    if kind is None:
        assert conversation(turns, "messages", "role", "content")[0]["role"] == "assistant"
        return
    with pytest.raises(RowProblem) as caught:
        conversation(turns, "messages", "role", "content")
    assert caught.value.kind == kind


def test_split_is_deterministic_by_seed() -> None:
    first = [in_validation(i, 42, 0.1) for i in range(2000)]
    assert first == [in_validation(i, 42, 0.1) for i in range(2000)]
    assert first != [in_validation(i, 7, 0.1) for i in range(2000)]
    train, held = split_counts(2000, 42, 0.1)
    assert train + held == 2000 and 150 < held < 250
    assert split_counts(10, 1, 0.0) == (10, 0)


def test_every_problem_is_reported_at_once() -> None:
    report, rows = collect(BAD / "bad_conversations.jsonl")
    assert report.rows_valid == 0 and report.rows_invalid == 5
    assert set(report.counts) == {
        "unknown_role",
        "last_turn_not_assistant",
        "role_order",
        "empty_text",
        "non_string_content",
    }
    assert all(p.where.startswith("bad_conversations.jsonl, line ") for p in report.problems)


# The bad-input corpus, as a new user would meet it: one precise message, exit code 2.
CORPUS = {
    "truncated_array.json": "truncated_array.json, line 4: example 3 is not valid JSON (the file "
    "looks truncated)",
    "broken_line.jsonl": "broken_line.jsonl, line 3: not valid JSON",
    "semicolons.csv": "looks ';'-separated",
    "empty.jsonl": "the file is empty",
    "binary.jsonl": "not a text file",
    "mixed": "mixes file types (a.jsonl, b.csv)",
    "number_output.jsonl": "number_output.jsonl, line 1: `output` holds a number (4), not text",
    "only_chosen.jsonl": "only_chosen.jsonl, line 1: has `chosen` but no `rejected`",
    "kto_bad_label.jsonl": "`label` must be true or false (got 'yes')",
    "custom_columns.jsonl": "cannot tell the dataset layout from its columns: answer, question",
}


@pytest.mark.parametrize("name", CORPUS)
def test_bad_input_corpus(name: str) -> None:
    result = run_cli("data", str(BAD / name))
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert CORPUS[name] in " ".join(output.split()), output


def test_skip_invalid_accepts_and_counts() -> None:
    result = run_cli("data", str(BAD / "number_output.jsonl"), "--skip-invalid", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["usable"] and data["skipped_invalid"] == 1


def test_missing_path_unknown_type_and_bad_map(tmp_path: Path) -> None:
    assert run_cli("data", str(tmp_path / "nope.jsonl")).returncode == 2
    (tmp_path / "x.xlsx").write_text("a")
    assert "unsupported file type .xlsx" in run_cli("data", str(tmp_path / "x.xlsx")).stderr
    assert (
        "EXPECTED=YOURS"
        in run_cli("data", str(BAD / "custom_columns.jsonl"), "--map", "question").stderr
    )


def test_hub_dataset_offline_says_so() -> None:
    result = run_cli("data", "nobody/no-such-dataset")
    assert result.returncode == 2
    assert "not in the local datasets cache and the Hub is offline" in result.stderr


def test_hub_rows_flow_through_the_same_checks(monkeypatch) -> None:
    import datasets

    fake = [{"instruction": "hi", "input": "", "output": "hello"}, {"instruction": "x"}]
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: fake)
    report, rows = collect(Path("acme/tiny"))
    assert report.rows_valid == 1 and report.counts["missing_field"] == 1
    assert report.problems[0].where == "acme/tiny [train], row 2"


def test_unknown_format_flag() -> None:
    with pytest.raises(UserError, match="--format csvish"):
        validate_path(BAD / "custom_columns.jsonl", fmt="csvish")


def test_separate_validation_file_must_have_the_same_shape() -> None:
    alpaca, identity = shared("alpaca_en_demo.json"), shared("identity.json")
    ok = json.loads(run_cli("data", str(alpaca), "--val-path", str(identity), "--json").stdout)
    assert ok["split"]["validation"] == 91 and ok["split"]["train"] == 150
    bad = run_cli("data", str(alpaca), "--val-path", str(shared("c4_demo.jsonl")))
    assert bad.returncode == 2 and "same shape" in bad.stderr


@pytest.mark.slow
def test_a_hundred_thousand_rows_with_token_statistics(tmp_path: Path, demo_model_folder) -> None:
    """Correctness at scale; bench/data_bench.py prints how long it takes."""
    from bench.data_bench import write_rows
    from tests.conftest import TEST_CACHE

    path = tmp_path / "chat.jsonl"
    write_rows(path, 100_000)
    with path.open("a") as handle:  # one duplicate and one broken line at the end
        handle.write(path.open().readline())
        handle.write('{"messages": [\n')
    result = run_cli(
        "data",
        str(path),
        "--model",
        "smollm2-135m-instruct",
        "--json",
        "--max-length",
        "128",
        env={"FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    data = json.loads(result.stdout)
    report, stats = data["report"], data["stats"]
    assert result.returncode == 2  # the broken line blocks, and says where
    assert report["rows_read"] == 100_002 and report["rows_valid"] == 100_001
    assert report["problem_counts"] == {"duplicate": 1, "unparsable": 1}
    assert any(p["where"] == "chat.jsonl, line 100002" for p in report["problems"])
    assert stats["rows"] == 100_001
    assert stats["tokens_p50"] < stats["tokens_p95"] <= stats["tokens_max"]
    assert 0 < stats["truncated_rows"] < 100_001
    assert stats["tokens_per_epoch"] <= 128 * 100_001
    assert 0.5 < stats["loss_token_share"] < 1


@pytest.mark.slow
def test_preview_marks_what_the_trainer_trains(demo_model_folder: Path) -> None:
    """SmolLM2's template cannot be marked by trl: ftwizard's masks train every answer
    (the tool-call turn, which this template writes as nothing, keeps its closing token)."""
    from tests.conftest import TEST_CACHE

    result = run_cli(
        "data",
        str(shared("glaive_toolcall_en_demo.json")),
        "--model",
        "smollm2-135m-instruct",
        "--json",
        env={"FTWIZARD_CACHE": str(TEST_CACHE)},
    )
    preview = json.loads(result.stdout)["preview"]
    assert preview["loss"] == "every answer" and preview["masks"] == "ftwizard"
    texts = [preview["text"][start:end] for start, end in preview["loss_spans"]]
    assert len(texts) == 4 and all(t.endswith("<|im_end|>") for t in texts)
    assert texts[1] == "<|im_end|>"
    assert texts[0].startswith("Of course!") and texts[3].startswith("I'm sorry")
    assert preview["text"][preview["loss_spans"][-1][1] :].strip() == ""


def test_nested_answers_get_a_hint_and_a_dotted_map_reads_them() -> None:
    """The self-instruct "seed tasks" layout keeps the answer in `instances`: every row
    says where, and `output=instances.0.output` reads it."""
    seed_tasks = ROOT / "tests" / "bad_inputs" / "seed_tasks.jsonl"
    report = validate_path(seed_tasks)
    assert report.rows_valid == 0 and report.counts["missing_field"] == 3
    assert all("--map output=instances.0.output" in p.message for p in report.problems)

    rows: list[dict] = []
    mapping = {"output": "instances.0.output", "input": "instances.0.input"}
    assert validate_path(seed_tasks, column_map=mapping, on_row=rows.append).rows_valid == 3
    assert rows[1]["messages"] == [
        {
            "role": "user",
            "content": "What is the relation between the given pairs?\nNight : Day :: Right : Left",
        },
        {
            "role": "assistant",
            "content": "The relation between the given pairs is that they are opposites.",
        },
    ]
    assert apply_column_map({"a": [{"b": 1}]}, {"output": "a.1.b"}) == {"a": [{"b": 1}]}
