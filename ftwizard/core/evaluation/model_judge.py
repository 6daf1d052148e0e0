"""A model judges the same A/B pairs people judge (H2O LLM Studio's "LLM judge").

The judge reads both answers and is asked for one letter; the probability it gives "A"
against "B" on its next token is its verdict. Small models prefer whichever answer is
shown first, so every pair is judged in both orders and a model wins only when it wins
both; otherwise the pair is a tie. Where people judged the same prompts and models, the
judge's agreement with them is reported: how far to trust it.
"""

from __future__ import annotations

from ftwizard.core.errors import UserError
from ftwizard.core.evaluation.judging import JudgingSession, agreement, read_judgments
from ftwizard.core.evaluation.messages import JudgeItem, JudgeReply, JudgeRequest
from ftwizard.core.models.source import check_loadable
from ftwizard.core.runs.folder import find_run
from ftwizard.core.trainer_calls import call_trainer_module

INSTRUCTION = (
    "You compare two answers to the same request. Judge which answer is more helpful, "
    "harmless and honest. Reply with one letter: A or B."
)


def judge_prompt(conversation: list[dict[str, str]], a: str, b: str) -> list[dict[str, str]]:
    shown = "\n".join(f"{t['role']}: {t['content']}" for t in conversation)
    question = (
        f"Request:\n{shown}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
        "Which answer is better? Reply with A or B."
    )
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": question}]


def check_judge(judge: str, root: str) -> None:
    """The judge can be loaded, found out before minutes of answers: a finished run, or
    a model whose facts can be read here (offline, a Hub id must be in the cache)."""
    try:
        run = find_run(judge, root)
    except UserError:
        check_loadable(judge)
        return
    run.require_output()


def _request(session: JudgingSession, judge: str, root: str) -> JudgeRequest:
    items = []
    for number in range(len(session.examples)):
        prompt = session.examples[number].prompt
        first, second = session.first_answers[number], session.second_answers[number]
        items.append(JudgeItem(conversation=judge_prompt(prompt, first, second)))
        items.append(JudgeItem(conversation=judge_prompt(prompt, second, first)))
    try:
        run = find_run(judge, root)
    except UserError:
        return JudgeRequest(judge_model=judge, items=items)
    run.require_output()
    return JudgeRequest(judge_run=str(run.path), items=items)


def verdict(first_as_a: float, second_as_a: float) -> str | None:
    """ "first", "second" or None (a tie): who wins both orders."""
    if first_as_a > 0.5 and second_as_a < 0.5:
        return "first"
    if first_as_a < 0.5 and second_as_a > 0.5:
        return "second"
    return None


def judge_by_model(session: JudgingSession, judge: str, root: str) -> tuple[int, int]:
    """Judge every pair of ``session`` by ``judge`` (a run or a model); its agreement with
    people's judgments of the same prompts: (same verdicts, prompts both judged)."""
    people = [j for j in read_judgments(session.judgments_path) if j.judge == "person"]
    request = _request(session, judge, root)
    reply = JudgeReply.model_validate(
        call_trainer_module("evaluate", ["judge"], "Judging", request.model_dump_json())
    )
    session.judge = f"model:{judge}"
    for number in range(len(session.examples)):
        winner = verdict(reply.prefers_a[2 * number], reply.prefers_a[2 * number + 1])
        label = {"first": session.first, "second": session.second, None: None}[winner]
        session.decide_winner(number, label)
    return agreement(session.decided, people)
