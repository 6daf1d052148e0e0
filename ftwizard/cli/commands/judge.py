"""``ftwizard judge``: two models' answers as A and B, judged by keys (or by a model);
what the judging means and keeps is ``core/evaluation/judging.py``'s."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from ftwizard.cli.console import err, out, print_json, warn_remote_code
from ftwizard.cli.keys import key_reader, read_key
from ftwizard.cli.progress import answer_progress
from ftwizard.core import lifetime
from ftwizard.core.evaluation.judging import (
    JUDGMENTS_FILE,
    MARK_KEYS,
    PAIRS_FILE,
    JudgingSession,
    Key,
    Mark,
    Tally,
    check_pairs_path,
    prepare_session,
)
from ftwizard.core.evaluation.model_judge import check_judge, judge_by_model
from ftwizard.core.runs.folder import RunFolder, find_run
from ftwizard.core.runs.stages import evaluated, result_of

KEYS_HELP = (
    "a / b / t: A better, B better, tie · h r o: helpful, harmless, honest · s skip · q stop"
)


def _show(session: JudgingSession, number: int, marks: set[Mark], screen: Console) -> None:
    item = session.item(number)
    screen.rule(f"prompt {number + 1} of {len(session.examples)}")
    for turn in item.prompt:
        screen.print(Text.assemble((f"{turn['role']}: ", "bold"), turn["content"]))
    screen.print(Columns([Panel(item.a, title="A", width=38), Panel(item.b, title="B", width=38)]))
    chosen = ", ".join(sorted(marks)) or "none"
    screen.print(Text(f"{KEYS_HELP}\nmarks: {chosen}", style="dim"))


def _judge_by_keys(session: JudgingSession, screen: Console) -> None:
    """One prompt after another on ``screen`` (stderr under --json, which keeps stdout for
    the tally), one key at a time."""
    if session.where:
        screen.print(f"prompts: {session.where}", style="dim")
    with key_reader():
        for number in range(len(session.examples)):
            marks: set[Mark] = set()
            _show(session, number, marks, screen)
            while True:
                key = read_key()
                if key in ("", "q"):
                    return
                if key in MARK_KEYS:
                    marks ^= {MARK_KEYS[key]}
                    screen.print(Text(f"marks: {', '.join(sorted(marks)) or 'none'}", style="dim"))
                    continue
                if key == "s":
                    break
                if key in ("a", "b", "t"):
                    decided: Key = key  # type: ignore[assignment]
                    judgment = session.decide(number, decided, marks)
                    screen.print(f"→ {judgment.winner or 'tie'}")
                    break


def _tally_words(tally: Tally) -> str:
    if not tally.judged:
        return "nothing judged"
    rate = tally.win_rate
    return (
        f"{tally.first} against {tally.second}: {tally.wins} won, {tally.losses} lost, "
        f"{tally.ties} tied; win rate {rate.value:.0%} (95 % interval {rate.low:.0%} "
        f"to {rate.high:.0%}, ties as half)"
    )


def run(args: argparse.Namespace) -> int:
    folder = evaluated(find_run(args.name, args.root), args.stage)
    other: RunFolder | None = result_of(find_run(args.vs, args.root)) if args.vs else None
    for run_folder in (folder, other):
        if run_folder is not None:
            warn_remote_code(run_folder)
            run_folder.require_text_model()
    pairs = Path(args.pairs) if args.pairs else folder.path / PAIRS_FILE
    check_pairs_path(pairs)
    if args.judge_model:
        check_judge(args.judge_model, args.root)
    with answer_progress("Answering") as moved:
        session = prepare_session(
            folder,
            other,
            moved,
            data_path=args.data,
            limit=args.limit,
            max_new_tokens=args.max_new_tokens,
            pairs_path=pairs,
            seed=args.seed,
        )
    agreement = None
    if args.judge_model:
        with err.status(
            f"{args.judge_model} judges {len(session.examples)} pairs in both orders..."
        ):
            agreement = judge_by_model(session, args.judge_model, args.root)
    else:
        with lifetime.exit_on_hangup():  # a viewer: the judging ends with its terminal
            _judge_by_keys(session, err if args.json else out)
    tally = session.tally()
    summary = {
        "first": tally.first,
        "second": tally.second,
        "wins": tally.wins,
        "losses": tally.losses,
        "ties": tally.ties,
        "win_rate": tally.win_rate.value if tally.judged else None,
        "interval": [tally.win_rate.low, tally.win_rate.high] if tally.judged else None,
        "pairs_file": str(pairs),
        "judgments_file": str(folder.path / JUDGMENTS_FILE),
        "agreement_with_people": (
            None if agreement is None else {"same": agreement[0], "shared": agreement[1]}
        ),
    }
    if args.json:
        print_json(summary)
        return 0
    out.print(_tally_words(tally))
    if agreement is not None:
        same, shared = agreement
        out.print(
            f"agrees with people on {same} of {shared} prompts both judged"
            if shared
            else "no prompt was judged by a person too: no agreement to report"
        )
    decided = tally.wins + tally.losses
    if decided:
        out.print(
            f"{decided} preference pairs appended to {pairs}: "
            f"train on them with `--set data.path={pairs}` and a DPO preset"
        )
    return 0
