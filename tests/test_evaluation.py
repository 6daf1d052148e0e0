"""Evaluation without the models: the scores, the intervals, judging A against B, the
model judge's verdict, the data mix and the card's ``model-index``. The commands on a
real run are in ``test_evaluation_runs.py``."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import sacrebleu
import yaml
from rouge_score import rouge_scorer

from ftwizard.core.config.parts import MixSource
from ftwizard.core.data.mix import mix_rows, repeat_warnings
from ftwizard.core.data.split import in_validation
from ftwizard.core.data.validate import validate_path
from ftwizard.core.errors import UserError
from ftwizard.core.evaluation import metrics
from ftwizard.core.evaluation.harness import forgetting_advice
from ftwizard.core.evaluation.intervals import mean_interval, wilson
from ftwizard.core.evaluation.judging import JudgingSession, read_judgments, tally
from ftwizard.core.evaluation.messages import AnswersReply, EvalExample, ModelAnswers
from ftwizard.core.evaluation.model_judge import check_judge, verdict
from ftwizard.core.evaluation.scoring import score
from ftwizard.core.runs.events import source_shares
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.model_card import model_card
from ftwizard.core.runs.scores import (
    HarnessReport,
    TaskScore,
    read_eval,
    save_eval,
    save_harness,
    score_words,
)
from tests.conftest import run_cli
from tests.recorded_runs import record_run

QUESTIONS = ["Who are you?", "What is 2 plus 2?", "Name a red fruit.", "Capital of Peru?"]
REFERENCES = ["I am Wiz.", "2 plus 2 is 4.", "A strawberry is red.", "Lima."]
BASE = ["I am SmolLM, an assistant.", "It is 4.", "Apples can be red.", "Lima"]
TUNED = ["I am Wiz.", "2 plus 2 is 4.", "Cherries.", "The capital is Lima."]


def _examples() -> list[EvalExample]:
    return [
        EvalExample(prompt=[{"role": "user", "content": q}], reference=r, row=i)
        for i, (q, r) in enumerate(zip(QUESTIONS, REFERENCES, strict=True))
    ]


def _reply() -> AnswersReply:
    def answers(label: str, texts: list[str], nll: float) -> ModelAnswers:
        return ModelAnswers(label=label, answers=texts, nll=[nll] * 4, tokens=[5, 6, 7, 2])

    return AnswersReply(
        models=[answers("base", BASE, 2.0), answers("tuned", TUNED, 0.5)], device="cpu"
    )


def test_exact_match_normalises_case_punctuation_and_articles() -> None:
    assert metrics.exact_match("The Capital is LIMA!", "capital is lima") == 1.0
    assert metrics.exact_match("Lima", "Lima.") == 1.0
    assert metrics.exact_match("Lima, Peru", "Lima") == 0.0


def test_intervals_match_independent_figures() -> None:
    # Wilson's interval for 8 of 10 and 0 of 10, as statistics tables give them.
    eight = wilson(8, 10)
    assert (round(eight.low, 3), round(eight.high, 3)) == (0.49, 0.943)
    assert wilson(0, 10).low == 0.0 and round(wilson(0, 10).high, 3) == 0.278
    values = [0.1, 0.4, 0.35, 0.8, 0.2]
    estimate = mean_interval(values)
    half = 1.959964 * statistics.stdev(values) / math.sqrt(len(values))
    assert estimate.value == pytest.approx(statistics.mean(values))
    assert estimate.high - estimate.value == pytest.approx(half)


def test_scores_agree_with_the_libraries_and_list_regressions_first() -> None:
    report = score("rows.jsonl", _examples(), _reply())
    base, tuned = report.models
    rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    assert tuned.rouge_l == pytest.approx(
        statistics.mean(
            rouge.score(r, a)["rougeL"].fmeasure for r, a in zip(REFERENCES, TUNED, strict=True)
        )
    )
    assert base.bleu == pytest.approx(sacrebleu.corpus_bleu(BASE, [REFERENCES]).score)
    assert tuned.chrf == pytest.approx(sacrebleu.corpus_chrf(TUNED, [REFERENCES]).score)
    assert (base.exact_match, tuned.exact_match) == (0.25, 0.5)
    assert tuned.loss == pytest.approx(0.5) and tuned.perplexity == pytest.approx(math.exp(0.5))
    changes = [e.rouge_l["tuned"] - e.rouge_l["base"] for e in report.examples]
    assert changes == sorted(changes) and changes[0] < 0  # the red fruit lost most
    drops = {
        q: rouge.score(r, t)["rougeL"].fmeasure - rouge.score(r, b)["rougeL"].fmeasure
        for q, r, b, t in zip(QUESTIONS, REFERENCES, BASE, TUNED, strict=True)
    }
    assert report.examples[0].prompt == min(drops, key=lambda q: drops[q])
    assert report.rouge_l_change.low <= report.rouge_l_change.value <= report.rouge_l_change.high


def _session(tmp_path: Path, count: int = 20) -> JudgingSession:
    examples = [
        EvalExample(prompt=[{"role": "user", "content": f"question {i}"}], reference="", row=i)
        for i in range(count)
    ]
    return JudgingSession(
        examples=examples,
        first="tuned",
        second="base",
        first_answers=[f"tuned answer {i}" for i in range(count)],
        second_answers=[f"base answer {i}" for i in range(count)],
        judgments_path=tmp_path / "judgments.jsonl",
        pairs_path=tmp_path / "pairs.jsonl",
        seed=3,
    )


def test_judging_shows_both_orders_and_keeps_decisions_as_pairs(tmp_path: Path) -> None:
    session = _session(tmp_path)
    shown_first = [session.item(i).a_label for i in range(20)]
    assert set(shown_first) == {"tuned", "base"}  # neither model always on the left
    assert [session.item(i).a_label for i in range(20)] == shown_first  # stable per seed
    for number, key in enumerate(["a", "b", "t", "a"]):
        session.decide(number, key, {"helpful"} if number == 0 else None)  # type: ignore[arg-type]
    kept = read_judgments(tmp_path / "judgments.jsonl")
    assert [j.winner for j in kept] == [
        session.item(0).a_label,
        session.item(1).b_label,
        None,
        session.item(3).a_label,
    ]
    assert kept[0].marks == ["helpful"]
    pairs = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 3  # the tie teaches nothing
    assert pairs[0]["chosen"][0]["content"] == session.item(0).a
    assert pairs[1]["rejected"][0]["content"] == session.item(1).a
    report = validate_path(tmp_path / "pairs.jsonl")
    assert (report.detection.trainer_shape, report.rows_valid) == ("preference", 3)
    result = tally(kept, "tuned", "base")
    assert result.wins + result.losses + result.ties == 4
    assert result.win_rate.value == pytest.approx((result.wins + 0.5) / 4)


def test_a_model_judge_wins_only_in_both_orders() -> None:
    assert verdict(0.9, 0.2) == "first"
    assert verdict(0.3, 0.7) == "second"
    assert verdict(0.9, 0.8) is None  # it prefers whatever comes first: no verdict


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _chat(i: int, topic: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": f"{topic} question {i}?"},
            {"role": "assistant", "content": f"{topic} answer {i}."},
        ]
    }


def test_a_mix_keeps_its_shares_in_training_and_validation(tmp_path: Path) -> None:
    domain = [_chat(i, "domain") for i in range(200)]
    general = _write(tmp_path / "general.jsonl", [_chat(i, "general") for i in range(1000)])
    tiny = _write(tmp_path / "tiny.jsonl", [_chat(i, "tiny") for i in range(3)])
    held = [in_validation(i, 42, 0.1) for i in range(len(domain))]
    sources = [MixSource(path=str(general), weight=0.2), MixSource(path=str(tiny), weight=0.1)]
    rows, flags, parts = mix_rows(domain, held, sources, 42, 0.1, "messages", "domain.jsonl")
    assert len(rows) == len(flags)
    train = [r for r, f in zip(rows, flags, strict=True) if not f]
    for topic, weight in (("domain", 0.7), ("general", 0.2), ("tiny", 0.1)):
        share = sum(topic in json.dumps(r) for r in train) / len(train)
        assert abs(share - weight) < 0.02, (topic, share)
    shares = source_shares(parts)
    assert [s.label for s in shares] == ["domain.jsonl", "general.jsonl", "tiny.jsonl"]
    assert all(abs(s.share - s.weight) < 0.02 for s in shares)
    assert [p.repeated for p in parts] == [False, False, True]
    assert "tiny.jsonl: 3 rows" in repeat_warnings(parts)[0]
    # Only as much of a large source is read as its share needs.
    assert parts[1].read < 1000


def test_a_mix_refuses_another_shape(tmp_path: Path) -> None:
    pairs = _write(
        tmp_path / "pairs.jsonl",
        [{"prompt": "q", "chosen": "good", "rejected": "bad"}] * 5,
    )
    with pytest.raises(UserError, match="mixed sources must have one shape"):
        mix_rows(
            [_chat(0, "x")] * 10,
            [False] * 10,
            [MixSource(path=str(pairs), weight=0.5)],
            0,
            0,
            "messages",
            "x",
        )


def test_the_card_carries_the_scores_in_the_hubs_model_index(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "scored", "finished", 120))
    assert score_words(run) == ""
    save_eval(run, score("rows.jsonl", _examples(), _reply()))
    report = read_eval(run)
    assert report is not None
    card = model_card(run)
    header = yaml.safe_load(card.split("---")[1])
    [entry] = header["model-index"]
    assert entry["name"] == "scored"
    [result] = entry["results"]
    assert result["task"]["type"] == "text-generation"
    assert {"name", "type"} <= set(result["dataset"])
    by_type = {m["type"]: m["value"] for m in result["metrics"]}
    assert by_type["rougeL"] == pytest.approx(report.scores("tuned").rouge_l, abs=1e-4)
    assert by_type["exact_match"] == 0.5
    assert "## Evaluation" in card and "| exact match | 25% | 50% |" in card
    assert (
        score_words(run)
        == f"R-L {report.scores('base').rouge_l:.2f}→{report.scores('tuned').rouge_l:.2f}"
    )
    (run.path / "eval.json").write_text('{"rows": "many"}')
    assert score_words(run) == "damaged"
    with pytest.raises(UserError, match="not an eval report"):
        read_eval(run)


def test_the_data_command_reports_a_mix(tmp_path: Path) -> None:
    domain = _write(tmp_path / "domain.jsonl", [_chat(i, "domain") for i in range(60)])
    general = _write(tmp_path / "general.jsonl", [_chat(i, "general") for i in range(100)])
    done = run_cli("data", str(domain), "--mix", f"{general}=0.25", "--json")
    assert done.returncode == 0, done.stderr
    parts = json.loads(done.stdout)["mix"]
    assert [(p["label"], p["train"]) for p in parts] == [
        ("domain.jsonl", 60),
        ("general.jsonl", 20),
    ]
    shown = run_cli("data", str(domain), "--mix", f"{general}=0.25")
    assert "data mix: 75% domain.jsonl (60 rows), 25% general.jsonl (20 rows)" in shown.stdout
    refused = run_cli("data", str(domain), "--mix", f"{general}=1")
    assert refused.returncode == 2 and "between 0 and 1" in refused.stderr


def test_a_judge_that_cannot_load_is_refused_before_any_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    # In the catalog (its facts are known offline), but its weights are not here.
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        check_judge("Qwen/Qwen2.5-0.5B-Instruct", str(tmp_path))
    with pytest.raises(UserError, match="no such folder or file"):
        check_judge("./no-such-model", str(tmp_path))
    record_run(tmp_path, "judge-run", "running", 10)
    with pytest.raises(UserError):
        check_judge("judge-run", str(tmp_path))  # no result to judge with yet


def test_a_task_that_dropped_past_its_noise_suggests_a_mix(tmp_path: Path) -> None:
    run = RunFolder(record_run(tmp_path, "forgetful", "finished", 120))
    assert forgetting_advice(run) is None  # no harness run yet

    def report(tuned: float) -> HarnessReport:
        score = TaskScore(
            task="ftwizard_facts", metric="acc", base=0.6, base_stderr=0.05,
            tuned=tuned, tuned_stderr=0.05, samples=40,
        )  # fmt: skip
        return HarnessReport(scores=[score], limit=None, device="cpu", created=0.0)

    # The noise of the difference: 1.96 x sqrt(0.05² + 0.05²) = 0.139.
    save_harness(run, report(0.5))
    assert forgetting_advice(run) is None
    save_harness(run, report(0.4))
    advice = forgetting_advice(run)
    assert advice and "ftwizard_facts 0.600→0.400" in advice and "data.mix" in advice


async def test_the_done_screen_says_what_was_forgotten(tmp_path: Path) -> None:
    from textual.widgets import Static

    from ftwizard.tui.screens.done import DoneScreen
    from tests.tui_helpers import make_app, settle, static_text

    run = RunFolder(record_run(tmp_path, "forgetful", "finished", 120))
    score = TaskScore(
        task="arc_easy", metric="acc_norm", base=0.7, base_stderr=0.02,
        tuned=0.5, tuned_stderr=0.02, samples=500,
    )  # fmt: skip
    save_harness(run, HarnessReport(scores=[score], limit=None, device="cpu", created=0.0))
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(DoneScreen(run))
        await settle(pilot)
        advice = static_text(app.screen.query_one("#done-advice", Static))
        assert "It forgot: arc_easy 0.700→0.500" in " ".join(advice.split())
