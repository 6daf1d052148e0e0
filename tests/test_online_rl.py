"""Online RL and reward models without training: the configuration, prompts data, the
reward functions against their libraries, the launch's reward sources, the memory and
time a GRPO run is planned with, and the views of its numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from rich.console import Console

from ftwizard.core.config.choices import Objective
from ftwizard.core.config.yaml_io import load_config
from ftwizard.core.data.templates import check_objective
from ftwizard.core.data.validate import validate_path
from ftwizard.core.errors import ConfigError, UserError
from ftwizard.core.models import catalog
from ftwizard.core.planning.estimator import estimate
from ftwizard.core.planning.generation import kv_cache_bytes
from ftwizard.core.runs.completions import LatestCompletions, ScoredCompletion
from ftwizard.core.runs.events import Log
from ftwizard.core.runs.folder import create_run
from ftwizard.core.runs.rewards import with_rewards
from ftwizard.core.runs.watch import RunWatch, describe
from tests.conftest import ROOT

QWEN = catalog.lookup("Qwen/Qwen2.5-1.5B-Instruct")
PROMPTS = ROOT / "ftwizard" / "presets" / "data" / "arithmetic-prompts.jsonl"
GRPO = [
    "method.objective=grpo",
    "training.bf16=true",
    "training.per_device_train_batch_size=8",
    "training.gradient_accumulation_steps=1",
    "training.max_length=256",
    "rl.num_generations=8",
    "rl.max_completion_length=512",
]


def render(renderable: object, width: int = 100) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


# --- The configuration ------------------------------------------------------------


def test_the_objective_flag_offers_every_objective() -> None:
    from ftwizard.cli.flags import OBJECTIVES

    assert OBJECTIVES == get_args(Objective)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["rl.reward_funcs=[answer,bleu]"], "'bleu' is no reward function"),
        (["rl.reward_funcs=[mine.py:score]"], "set rl.trust_reward_code: true"),
        (["rl.format_pattern=(unclosed"], "not a regular expression"),
        (["rl.reward_weights=[1.0]"], "1 reward_weights for 2 rewards"),
        (["method.objective=dpo", "method.beta=0"], "beta must be above 0 for dpo"),
        (
            ["method.objective=grpo", "rl.num_generations=3"],
            "must be a multiple of rl.num_generations (3)",
        ),
    ],
)
def test_online_rl_settings_are_checked_in_words(overrides: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=rf"{words.replace('(', '.').replace(')', '.')}"):
        load_config(None, overrides)


def test_grpo_without_a_kl_term_and_with_its_own_code_opted_in() -> None:
    config = load_config(
        None,
        [*GRPO, "method.beta=0", "rl.reward_funcs=[answer, x.py:f]", "rl.trust_reward_code=true"],
    )
    assert config.method.beta == 0
    assert config.rl.own_functions() == ["x.py:f"]
    assert config.rl.code_warning() == "rl.reward_funcs runs your Python code: x.py:f."


# --- Prompts data -----------------------------------------------------------------


def test_prompts_are_detected_in_both_layouts_with_their_answers(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        json.dumps({"prompt": "What is 2 + 2?", "solution": 4}) + "\n"
        + json.dumps({"prompt": "Name a colour."}) + "\n"
    )  # fmt: skip
    rows: list[dict] = []
    report = validate_path(str(plain), on_row=rows.append)
    assert (report.detection.format, report.detection.trainer_shape) == ("prompts", "prompts")
    assert rows[0] == {"prompt": [{"role": "user", "content": "What is 2 + 2?"}], "answer": "4"}
    assert "answer" not in rows[1]
    # The shipped set: messages ending with the user's turn.
    shipped: list[dict] = []
    report = validate_path(str(PROMPTS), on_row=shipped.append)
    assert (report.detection.format, report.detection.layout) == ("prompts", "messages")
    assert report.rows_valid == 240 and report.rows_invalid == 0
    assert all(row["prompt"][-1]["role"] == "user" and row["answer"] for row in shipped)
    # An answered conversation is still an example to imitate, not a prompt.
    answered = tmp_path / "answered.jsonl"
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    answered.write_text(json.dumps({"messages": turns}) + "\n")
    assert validate_path(str(answered)).detection.format == "messages"


def test_each_objective_names_the_data_it_needs() -> None:
    assert check_objective("grpo", "prompts", "prompts") is None
    assert check_objective("reward", "preference", "preference") is None
    assert "prompts (a prompt" in str(check_objective("rloo", "messages", "messages"))
    assert "preference pairs" in str(check_objective("reward", "prompts", "prompts"))


# --- The reward functions ---------------------------------------------------------


def test_the_answer_reward_compares_maths_as_maths_and_text_as_text() -> None:
    from ftwizard.trainer.components.rewards import answer_reward, final_answer

    def chat(text: str) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": text}]

    completions = [
        chat("<think>3 quarters</think><answer>3/4</answer>"),
        chat("so 7 + 5 = 12 apples"),
        chat("7 + 5 = 13"),
        chat("It is <answer>The PARIS.</answer>"),
        chat("The capital is Paris."),  # text is compared whole, after normalisation
        chat("anything"),
    ]
    answers = ["0.75", "12", "12", "Paris", "Paris", None]
    assert answer_reward(completions, answers) == [1.0, 1.0, 0.0, 1.0, 0.0, None]
    assert final_answer("a <answer> 1 </answer> b <answer>2</answer>") == "2"


def test_the_format_and_length_rewards_agree_with_their_definitions() -> None:
    from trl.rewards import get_soft_overlong_punishment

    from ftwizard.core.config.rl import R1_FORMAT
    from ftwizard.trainer.components.rewards import format_reward, length_reward

    formatted = format_reward(R1_FORMAT)
    assert formatted(
        ["<think>add</think> <answer>4</answer>", "<answer>4</answer>", "<think>x</think>\n"]
    ) == [1.0, 0.0, 0.0]
    ids = [[1] * n for n in (10, 70, 90, 100, 130)]
    # DAPO's soft overlong punishment as trl writes it, over the last quarter.
    assert length_reward(100)(completion_ids=ids) == get_soft_overlong_punishment(100, 25)(ids)
    assert length_reward(100)(completion_ids=ids)[:2] == [0.0, 0.0]


def test_an_own_reward_function_loads_by_its_name_and_a_wrong_one_is_said(
    tmp_path: Path,
) -> None:
    from ftwizard.trainer.components.rewards import own_reward

    (tmp_path / "mine.py").write_text(
        "def brevity(completions, **kwargs):\n"
        "    return [1.0 / (1 + len(c[0]['content'])) for c in completions]\n"
    )
    scored = own_reward("mine.py:brevity", tmp_path)
    assert scored.__name__ == "brevity"
    assert scored(completions=[[{"content": "abc"}]]) == [0.25]
    with pytest.raises(UserError, match="has no function nope"):
        own_reward("mine.py:nope", tmp_path)
    with pytest.raises(UserError, match="no such file"):
        own_reward("other.py:brevity", tmp_path)


# --- The launch's reward sources ------------------------------------------------------


def test_the_launch_resolves_reward_sources_and_refuses_what_cannot_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text("def f(**kwargs):\n    return []\n")
    root = f"output.runs_root={tmp_path / 'runs'}"
    sft = create_run(load_config(None, [root, "output.run_name=sft1"]))
    config = load_config(
        None,
        [*GRPO, root, "rl.reward_funcs=[answer, mine.py:f]", "rl.trust_reward_code=true"],
    )
    resolved, notes = with_rewards(config)
    assert resolved.rl.reward_funcs == ["answer", f"{tmp_path / 'mine.py'}:f"]
    assert notes == (f"rl.reward_funcs runs your Python code: {tmp_path / 'mine.py'}:f.",)
    with pytest.raises(UserError, match="trained sft, not a reward model"):
        with_rewards(config.with_sections(rl={"reward_model_run": sft.name}))
    with pytest.raises(UserError, match="needs something to score"):
        with_rewards(config.with_sections(rl={"reward_funcs": []}))
    with pytest.raises(UserError, match="no such file"):
        with_rewards(config.with_sections(rl={"reward_funcs": ["gone.py:f"]}))
    # A run whose second stage is GRPO has its rewards resolved too; an SFT run has none.
    staged = load_config(
        None,
        [root, "rl.reward_funcs=[mine.py:f]", "rl.trust_reward_code=true",
         "stages=[{objective: sft}, {objective: grpo, data: p.jsonl}]"],
    )  # fmt: skip
    assert with_rewards(staged)[0].rl.reward_funcs == [f"{tmp_path / 'mine.py'}:f"]
    assert with_rewards(staged.model_copy(update={"stages": []}))[1] == ()


# --- Memory and time ----------------------------------------------------------------


def test_the_kv_cache_is_every_layers_keys_and_values_for_every_token() -> None:
    config = load_config(None, GRPO)
    facts = QWEN
    # 8 completions x (256 + 512) tokens x 28 layers x K and V x 2 heads x 128 x bf16
    assert kv_cache_bytes(facts, config, 2) == 8 * 768 * 28 * 2 * 2 * 128 * 2


def test_generation_grows_with_the_group_and_the_completion_length() -> None:
    small = estimate(QWEN, load_config(None, [*GRPO, "rl.max_completion_length=128"]))
    large = estimate(QWEN, load_config(None, GRPO))
    more = estimate(
        QWEN,
        load_config(None, [*GRPO, "training.gradient_accumulation_steps=4"]),
    )
    assert small.breakdown_gib["generation"] < large.breakdown_gib["generation"]
    # Four micro-batches are generated at once: four times the KV cache.
    assert more.breakdown_gib["generation"] > 3.5 * large.breakdown_gib["generation"]
    assert any("of the peak" in note for note in large.notes)
    assert "generation" not in estimate(QWEN, load_config(None, BASE_SFT)).breakdown_gib


BASE_SFT = ["training.bf16=true", "training.max_length=768"]


def test_a_reference_model_only_for_a_full_fine_tune_with_a_kl_term() -> None:
    def reference(*overrides: str) -> float:
        return estimate(QWEN, load_config(None, [*GRPO, *overrides])).breakdown_gib.get(
            "reference_model", 0.0
        )

    assert reference("method.adapter=lora", "method.beta=0.04") == 0.0  # the adapter off
    assert reference("method.adapter=full", "method.beta=0") == 0.0  # no KL, no reference
    weights = QWEN.params_total * 2 / 1024**3
    assert reference("method.adapter=full", "method.beta=0.04") == pytest.approx(weights, 1e-3)
    with_model = estimate(QWEN, load_config(None, [*GRPO, "rl.reward_model_run=rm"]))
    assert with_model.breakdown_gib["reward_model"] == pytest.approx(weights, 1e-3)


def test_decoding_time_is_counted_in_a_grpo_step() -> None:
    from ftwizard.core.hardware.gpus import Target
    from ftwizard.core.planning.dataset_facts import DatasetFacts
    from ftwizard.core.planning.throughput import predicted_step

    h100 = Target("H100", 1, 79.6, 79.6, True, 989, "table", bandwidth_tbs=3.35)
    data = DatasetFacts(rows=1000, kind="prompts", tokens_mean=100)
    short_config = load_config(None, [*GRPO, "rl.max_completion_length=64"])
    short = predicted_step(QWEN, short_config, data, h100)
    long = predicted_step(QWEN, load_config(None, GRPO), data, h100)
    # 448 more decoding steps, each at least the host's time for 28 layers.
    assert long.seconds_per_step - short.seconds_per_step > 448 * 28 * 0.5e-3


def test_out_of_memory_advice_for_grpo_shortens_completions_or_shrinks_groups() -> None:
    from ftwizard.core.planning.oom import oom_advice

    config = load_config(None, [*GRPO, "training.gradient_accumulation_steps=2"])
    advice = {tuple(a.overrides): a.saves_gib for a in oom_advice(QWEN, config)}
    assert advice[("rl.max_completion_length=256",)] > 0
    assert advice[("rl.num_generations=4", "training.per_device_train_batch_size=4")] > 0
    # Every piece of advice is a configuration that loads (whole groups in the batch).
    for overrides in advice:
        load_config(None, [*GRPO, "training.gradient_accumulation_steps=2", *overrides])


# --- What viewers show ----------------------------------------------------------------


def test_a_grpo_step_is_shown_by_its_reward_and_the_completions_panel_ranks_them(
    tmp_path: Path,
) -> None:
    from ftwizard.views.completions import completions_view
    from ftwizard.views.run_status import status_view

    run = create_run(load_config(None, [*GRPO, f"output.runs_root={tmp_path}"]))
    metrics = {
        "reward": 0.625,
        "reward_std": 0.5,
        "rewards/answer/mean": 0.25,
        "rewards/format/mean": 0.375,
        "kl": 0.0123,
        "completions/mean_length": 38.0,
        "completions/clipped_ratio": 0.5,
    }
    for step, reward in ((1, 0.125), (2, 0.625)):
        run.append_event(
            Log(step=step, max_steps=10, loss=0.0, learning_rate=1e-5, ram_gb=1.0,
                metrics={**metrics, "reward": reward})
        )  # fmt: skip
    watch = RunWatch(run)
    events = watch.poll()
    assert watch.reward.points() == [(1, 0.125), (2, 0.625)]
    assert describe(events[-1]).startswith(
        "step 2/10: reward 0.625 ± 0.500 (answer 0.25, format 0.38), KL 0.0123, "
        "completions 38 tokens (50% cut at the maximum)"
    )
    text = render(status_view(run.read_status(), watch))
    assert "0.625 ± 0.500 (step 2; 0.125 at the start)" in text
    assert "answer 0.25, format 0.38" in text and "KL" in text
    latest = LatestCompletions(
        step=2,
        prompt="What is 7 + 5?",
        completions=(
            ScoredCompletion(text="no idea", rewards={"answer": 0.0, "format": 0.0}),
            ScoredCompletion(text="7 + 5 = 12", rewards={"answer": 1.0, "format": 1.0}),
            ScoredCompletion(text="7 + 5 = 13", rewards={"answer": 0.0, "format": 1.0}),
        ),
    )
    panel = render(completions_view(latest), width=60).splitlines()
    assert "What is 7 + 5?" in panel[0]
    ranked = [line for line in panel if "7 + 5 =" in line or "no idea" in line]
    assert [line.split()[0] for line in ranked] == ["2.00", "1.00", "0.00"]
