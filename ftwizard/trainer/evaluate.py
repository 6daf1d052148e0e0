"""The models' side of ``ftwizard eval`` and ``judge``: answers and losses, and the
lm-evaluation-harness's tasks, for the base and the fine-tuned model.

echo REQUEST | python -m ftwizard.trainer.evaluate answers
echo REQUEST | python -m ftwizard.trainer.evaluate harness
echo REQUEST | python -m ftwizard.trainer.evaluate judge

The request (``core/evaluation/messages.py``) comes on stdin; a ``Progress`` line per
answer, then one reply line.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ftwizard.core.errors import UserError
from ftwizard.core.evaluation.messages import (
    AnswersReply,
    AnswersRequest,
    HarnessReply,
    HarnessRequest,
    JudgeReply,
    JudgeRequest,
    ModelAnswers,
    ModelRef,
    Progress,
    TaskScore,
)
from ftwizard.core.runs.folder import RunFolder
from ftwizard.trainer.components.generate import answer_nll, generate
from ftwizard.trainer.components.loading import from_pretrained, load_tokenizer, model_location
from ftwizard.trainer.components.reply import reply
from ftwizard.trainer.components.run_model import base_model, final_tokenizer, tuned_model


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _models(refs: list[ModelRef]) -> Iterator[tuple[ModelRef, Any, Any]]:
    """Each asked model with its tokenizer, in the order asked; a run's base is loaded
    once and its adapter put on it after the base has answered."""
    loaded: dict[str, tuple[Any, Any]] = {}
    for ref in refs:
        run = RunFolder(Path(ref.run))
        if ref.run not in loaded:
            loaded.clear()  # one run's models in memory at a time
            loaded[ref.run] = (base_model(run), load_tokenizer(run.read_config()))
        model, tokenizer = loaded[ref.run]
        if ref.which == "tuned":
            del loaded[ref.run]  # the adapter goes onto it: a later base loads afresh
            yield ref, tuned_model(run, model), final_tokenizer(run)
        else:
            yield ref, model, tokenizer


def answers(request: AnswersRequest) -> AnswersReply:
    replies = []
    total = len(request.examples)
    for ref, model, tokenizer in _models(request.models):
        model.eval()
        texts, nll, tokens = [], [], []
        for done, example in enumerate(request.examples, start=1):
            texts.append(generate(model, tokenizer, example.prompt, request.max_new_tokens))
            if request.loss:
                loss, count = answer_nll(model, tokenizer, example.prompt, example.reference)
                nll.append(loss)
                tokens.append(count)
            print(Progress(label=ref.label, done=done, total=total).model_dump_json(), flush=True)
        replies.append(ModelAnswers(label=ref.label, answers=texts, nll=nll, tokens=tokens))
    return AnswersReply(models=replies, device=_device())


def _task(name: str, request: HarnessRequest) -> str | dict[str, Any]:
    """A shipped task as its configuration (its data file read where it lies), else the
    harness's own task name."""
    path = request.builtin_tasks.get(name)
    if path is None:
        return name
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": path}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{answer}}",
        "doc_to_choice": "{{choices}}",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }


def _check_names(request: HarnessRequest, manager: Any) -> None:
    known = set(manager.all_tasks)
    for name in request.tasks:
        if name in request.builtin_tasks or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3)
        raise UserError(
            f"--tasks {name}: lm-evaluation-harness has no such task"
            + (f" (close: {', '.join(close)})." if close else "."),
            hint="`lm-eval ls tasks` lists them; --include-path DIR adds a folder of your "
            "own task YAML files.",
        )


def _missing_dataset(error: Exception, tasks: list[str]) -> UserError:
    return UserError(
        f"--tasks {','.join(tasks)}: a task's dataset is not on this machine and the Hub "
        f"cannot be reached ({str(error)[:200]}).",
        hint="Download it once where the Hub answers (HF_HUB_OFFLINE=0 and the same "
        "command, which fills the datasets cache), give a local task folder with "
        "--include-path DIR, or use ftwizard_facts, which ships with ftwizard.",
    )


_PREFERRED = ("acc_norm", "acc", "exact_match", "f1", "mc2")


def _score(results: dict[str, Any], task: str) -> tuple[str, float, float | None, int]:
    figures = results["results"][task]
    names = [k.split(",")[0] for k in figures if "," in k and "_stderr" not in k]
    metric = next((m for m in _PREFERRED if m in names), names[0] if names else "")
    key = next(k for k in figures if k.split(",")[0] == metric and "_stderr" not in k)
    stderr = figures.get(key.replace(metric, f"{metric}_stderr", 1))
    samples = int(results.get("n-samples", {}).get(task, {}).get("effective", 0))
    return (
        metric,
        float(figures[key]),
        (float(stderr) if isinstance(stderr, float) else None),
        samples,
    )


def harness(request: HarnessRequest) -> HarnessReply:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    # Indexing the harness's own thousands of tasks takes about 10 s here: only when a
    # task that is not ftwizard's is asked for.
    own = all(name in request.builtin_tasks for name in request.tasks)
    manager = TaskManager(
        include_path=request.include_path, include_defaults=not own or bool(request.include_path)
    )
    _check_names(request, manager)
    tasks = [_task(name, request) for name in request.tasks]
    from lm_eval.tasks import get_task_dict

    try:  # the datasets first: one missing is said before seconds of model loading
        get_task_dict(tasks, manager)
    except ConnectionError as error:
        raise _missing_dataset(error, request.tasks) from None
    found: dict[str, list[tuple[str, float, float | None, int]]] = {}
    for ref, model, tokenizer in _models(
        [
            ModelRef(run=request.run, which="base", label="base"),
            ModelRef(run=request.run, which="tuned", label="tuned"),
        ]
    ):
        if ref.which == "tuned" and hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()  # the harness wants a plain transformers model
        model.eval()
        lm = HFLM(pretrained=model, tokenizer=tokenizer, device=_device(), batch_size=8)
        try:
            results = simple_evaluate(
                model=lm,
                tasks=tasks,
                limit=request.limit,
                task_manager=manager,
                log_samples=False,
                bootstrap_iters=1000,
                random_seed=0,
            )
        except ConnectionError as error:
            raise _missing_dataset(error, request.tasks) from None
        if results is None:
            raise UserError("lm-evaluation-harness returned no results.")
        for name in request.tasks:
            found.setdefault(name, []).append(_score(results, name))
        print(Progress(label=ref.label, done=1, total=1).model_dump_json(), flush=True)
    scores = [
        TaskScore(
            task=name,
            metric=base[0],
            base=base[1],
            base_stderr=base[2],
            tuned=tuned[1],
            tuned_stderr=tuned[2],
            samples=base[3],
        )
        for name, (base, tuned) in found.items()
    ]
    return HarnessReply(scores=scores, device=_device())


def _judge_model(request: JudgeRequest) -> tuple[Any, Any]:
    if request.judge_run is not None:
        run = RunFolder(Path(request.judge_run))
        return tuned_model(run, base_model(run)), final_tokenizer(run)
    from transformers import AutoTokenizer

    name = request.judge_model or ""
    location, gguf_file = model_location(name)
    model = from_pretrained(location, gguf_file, name, dtype=torch.float32)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, gguf_file=gguf_file)
    except OSError as error:
        raise UserError(f"--judge {name}: cannot load its tokenizer ({error}).") from None
    return model.to(_device()), tokenizer


def _letter_ids(tokenizer: Any, letter: str) -> list[int]:
    """The tokens a model may start its answer "A" with: alone or after a space."""
    found = {tokenizer.encode(text, add_special_tokens=False)[0] for text in (letter, f" {letter}")}
    return sorted(found)


def judge(request: JudgeRequest) -> JudgeReply:
    model, tokenizer = _judge_model(request)
    model.eval()
    a_ids, b_ids = _letter_ids(tokenizer, "A"), _letter_ids(tokenizer, "B")
    prefers_a = []
    for done, item in enumerate(request.items, start=1):
        if tokenizer.chat_template:
            ids = tokenizer.apply_chat_template(
                item.conversation, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        else:
            text = "\n\n".join(t["content"] for t in item.conversation) + "\n"
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=ids.to(model.device)).logits[0, -1].float()
        probabilities = torch.softmax(logits, dim=-1)
        a, b = float(probabilities[a_ids].sum()), float(probabilities[b_ids].sum())
        prefers_a.append(a / (a + b) if a + b > 0 else 0.5)
        print(
            Progress(label="judge", done=done, total=len(request.items)).model_dump_json(),
            flush=True,
        )
    return JudgeReply(prefers_a=prefers_a, device=_device())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftwizard.trainer.evaluate")
    parser.add_argument("action", choices=["answers", "harness", "judge"])
    args = parser.parse_args(argv)
    text = sys.stdin.read()
    if args.action == "answers":
        request = AnswersRequest.model_validate_json(text)
        return reply(lambda: answers(request).model_dump())
    if args.action == "judge":
        judge_request = JudgeRequest.model_validate_json(text)
        return reply(lambda: judge(judge_request).model_dump())
    harness_request = HarnessRequest.model_validate_json(text)
    return reply(lambda: harness(harness_request).model_dump())


if __name__ == "__main__":
    sys.exit(main())
