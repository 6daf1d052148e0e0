"""The flags of ``ftwizard eval``, ``judge`` and ``compare``; what they run is in
``cli/commands/evaluate.py``, ``judge.py`` and ``compare.py``."""

from __future__ import annotations

import argparse

from ftwizard.cli.flags import add_json, add_runs_root


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return value


def _add_stage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        type=_positive,
        metavar="N",
        help="a run in stages: stage N's model (default: its last finished stage)",
    )


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="score the base and the fine-tuned answers (ROUGE-L, BLEU, chrF, exact match, "
        "loss), or check what it forgot with lm-evaluation-harness tasks",
        description="Both models answer the run's validation rows (or --data FILE) "
        "greedily; each answer is scored against the data's answer. The table lists the "
        "biggest regressions first. With --tasks, lm-evaluation-harness tasks run on both "
        "models instead: ftwizard_facts ships with ftwizard and needs no download.",
    )
    evaluate.add_argument("name", metavar="RUN", help="run name or folder")
    evaluate.add_argument(
        "--data", metavar="FILE", help="score these rows instead of the validation split"
    )
    evaluate.add_argument(
        "--limit", type=_positive, metavar="N", help="at most N rows (or N per task)"
    )
    evaluate.add_argument("--max-new-tokens", type=_positive, default=64, metavar="N")
    evaluate.add_argument(
        "--tasks",
        metavar="T1,T2",
        help="lm-evaluation-harness tasks, e.g. ftwizard_facts,arc_easy,hellaswag: each "
        "score before and after, with its standard error",
    )
    evaluate.add_argument(
        "--include-path", metavar="DIR", help="a folder of your own harness task YAML files"
    )
    evaluate.add_argument(
        "--show", type=int, default=10, metavar="N", help="rows shown (default 10)"
    )
    _add_stage(evaluate)
    add_runs_root(evaluate)
    add_json(evaluate)

    judge = commands.add_parser(
        "judge",
        help="judge two models' answers A against B, by keys; every decision is kept as a "
        "preference pair DPO trains on",
        description="Both models answer each prompt; the answers show as A and B in a random "
        "order. Keys: a, b or t (tie); h, r, o mark the better answer as more helpful, "
        "harmless or honest; s skips, q stops. Decided judgments are appended to --pairs "
        "(prompt, chosen, rejected), which `ftwizard data` reads as preference pairs.",
    )
    judge.add_argument("name", metavar="RUN", help="run name or folder")
    judge.add_argument(
        "--vs", metavar="RUN2", help="against this run's model (default: RUN's base model)"
    )
    judge.add_argument(
        "--data", metavar="FILE", help="prompts from this file instead of the validation split"
    )
    judge.add_argument(
        "--limit", type=_positive, default=20, metavar="N", help="prompts (default 20)"
    )
    judge.add_argument("--max-new-tokens", type=_positive, default=96, metavar="N")
    judge.add_argument(
        "--pairs",
        metavar="FILE",
        help="where decided pairs are appended (default: RUN/judged-pairs.jsonl)",
    )
    judge.add_argument(
        "--judge",
        dest="judge_model",
        metavar="MODEL",
        help="a model judges instead of you (another run, a built-in model or a local "
        "folder), each pair in both orders",
    )
    judge.add_argument("--seed", type=int, default=0, help="the A/B order's seed")
    _add_stage(judge)
    add_runs_root(judge)
    add_json(judge)

    compare = commands.add_parser(
        "compare", help="runs side by side: their scores, losses and settings"
    )
    compare.add_argument("names", nargs="+", metavar="RUN", help="two or more runs")
    add_runs_root(compare)
    add_json(compare)
