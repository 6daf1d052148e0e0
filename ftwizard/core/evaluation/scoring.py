"""``ftwizard eval``: the base and the fine-tuned model answer the same prompts, and
each answer is scored against its reference. Written once for the CLI and the wizard."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ftwizard.core.evaluation import metrics
from ftwizard.core.evaluation.examples import eval_examples
from ftwizard.core.evaluation.intervals import mean_interval
from ftwizard.core.evaluation.messages import (
    AnswersReply,
    AnswersRequest,
    EvalExample,
    ModelAnswers,
    ModelRef,
    Progress,
)
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.model_card import refresh_card
from ftwizard.core.runs.scores import (
    EvalReport,
    ExampleScore,
    Interval,
    ModelScores,
    save_eval,
)
from ftwizard.core.trainer_calls import stream_trainer_module

OnProgress = Callable[[Progress], None]


def ask_models(
    examples: list[EvalExample],
    models: list[ModelRef],
    on_progress: OnProgress,
    max_new_tokens: int = 64,
    loss: bool = True,
) -> AnswersReply:
    """Every model's greedy answers (and the references' losses) from the trainer's process."""
    request = AnswersRequest(
        examples=examples, models=models, max_new_tokens=max_new_tokens, loss=loss
    )
    reply = stream_trainer_module(
        "evaluate",
        ["answers"],
        "Evaluating",
        request.model_dump_json(),
        lambda line: on_progress(Progress.model_validate_json(line)),
    )
    return AnswersReply.model_validate(reply)


def _model_scores(answers: ModelAnswers, references: list[str]) -> ModelScores:
    texts = answers.answers
    tokens = sum(answers.tokens)
    loss = (
        sum(n * t for n, t in zip(answers.nll, answers.tokens, strict=True)) / tokens
        if tokens
        else None
    )
    return ModelScores(
        label=answers.label,
        rouge_l=sum(map(metrics.rouge_l, texts, references)) / len(texts),
        bleu=metrics.corpus_bleu(texts, references),
        chrf=metrics.corpus_chrf(texts, references),
        exact_match=sum(map(metrics.exact_match, texts, references)) / len(texts),
        loss=loss,
        perplexity=None if loss is None else math.exp(min(loss, 700.0)),
    )


def _interval(values: list[float]) -> Interval:
    estimate = mean_interval(values)
    return Interval(value=estimate.value, low=estimate.low, high=estimate.high)


def score(where: str, examples: list[EvalExample], reply: AnswersReply) -> EvalReport:
    """The report of two models' answers (the first is "before", the second "after")."""
    references = [e.reference for e in examples]
    rows = []
    for number, example in enumerate(examples):
        answers = {m.label: m.answers[number] for m in reply.models}
        rows.append(
            ExampleScore(
                row=example.row,
                prompt=example.prompt[-1]["content"],
                reference=example.reference,
                answers=answers,
                rouge_l={k: metrics.rouge_l(v, example.reference) for k, v in answers.items()},
                exact_match={
                    k: metrics.exact_match(v, example.reference) for k, v in answers.items()
                },
                loss={m.label: m.nll[number] for m in reply.models if m.nll},
            )
        )
    before, after = (m.label for m in reply.models)

    def change(measure: str) -> Interval:
        return _interval([getattr(r, measure)[after] - getattr(r, measure)[before] for r in rows])

    return EvalReport(
        data=where,
        rows=len(examples),
        device=reply.device,
        models=[_model_scores(m, references) for m in reply.models],
        rouge_l_change=change("rouge_l"),
        exact_match_change=change("exact_match"),
        examples=sorted(rows, key=lambda r: r.rouge_l[after] - r.rouge_l[before]),
        created=time.time(),
    )


def evaluate_run(
    run: RunFolder,
    on_progress: OnProgress,
    data_path: str | None = None,
    limit: int | None = None,
    max_new_tokens: int = 64,
) -> EvalReport:
    """Score the run's base and fine-tuned answers; kept as ``eval.json`` and in the card."""
    run.require_text_model()
    where, examples = eval_examples(run, data_path, limit)
    models = [
        ModelRef(run=str(run.path), which="base", label="base"),
        ModelRef(run=str(run.path), which="tuned", label="tuned"),
    ]
    reply = ask_models(examples, models, on_progress, max_new_tokens)
    report = score(where, examples, reply)
    save_eval(run, report)
    refresh_card(run)
    return report
