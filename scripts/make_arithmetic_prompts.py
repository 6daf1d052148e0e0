"""Write ``ftwizard/presets/data/arithmetic-prompts.jsonl``: the GRPO demo's prompts.

Short word problems in one or two operations with whole-number answers, written for
ftwizard (CC0). Seeded, so running this again writes the same file:
``python scripts/make_arithmetic_prompts.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TARGET = Path(__file__).parents[1] / "ftwizard" / "presets" / "data" / "arithmetic-prompts.jsonl"
ROWS = 240
# SmolLM2-135M-Instruct never wrote answer tags when asked (0 of 32 samples): an
# equation is a format it writes a fifth of the time, which GRPO can then reward.
SYSTEM = "Answer with one equation that gives the result, for example: 4 + 5 = 9"
NAMES = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jon"]
THINGS = ["apples", "books", "coins", "pencils", "stickers", "marbles", "cards", "shells"]


def problem(rng: random.Random) -> tuple[str, int]:
    name, other = rng.sample(NAMES, 2)
    thing = rng.choice(THINGS)
    a, b = rng.randint(2, 40), rng.randint(2, 20)
    kind = rng.randrange(6)
    if kind == 0:
        return (
            f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have?",
            a + b,
        )
    if kind == 1:
        a = a + b  # never below zero
        return f"{name} has {a} {thing} and gives {b} to {other}. How many are left?", a - b
    if kind == 2:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"{name} buys {a} bags with {b} {thing} in each. How many {thing} in all?", a * b
    if kind == 3:
        b = rng.randint(2, 9)
        total = b * rng.randint(2, 9)
        return (
            f"{name} shares {total} {thing} equally among {b} friends. How many does each get?",
            total // b,
        )
    if kind == 4:
        return f"What is {a} + {b}?", a + b
    c = rng.randint(2, 9)
    return (
        f"{name} has {a} {thing}, gets {b} more, then buys {c} more. How many now?",
        a + b + c,
    )


def main() -> None:
    rng = random.Random(31)
    rows, seen = [], set()
    while len(rows) < ROWS:
        text, answer = problem(rng)
        if text in seen:  # ftwizard data warns of repeated rows
            continue
        seen.add(text)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        rows.append({"messages": messages, "answer": str(answer)})
    TARGET.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} prompts to {TARGET}")


if __name__ == "__main__":
    main()
