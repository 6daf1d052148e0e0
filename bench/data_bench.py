"""Dataset checks at scale (goal: 100,000 rows validated with token statistics in < 15 s).

Writes a 100,000-row chat JSONL, then times `ftwizard data` without a model (reading,
detection, validation, duplicates) and with the demo model's tokenizer (plus chat
template rendering and batched tokenisation), each in a fresh process as a person
runs it. Prints the figures; not a test.

    .venv/bin/python bench/data_bench.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "the model learns a small answer format from examples written for this "
    "benchmark with enough variety to look like real data about cooking travel code"
).split()


def write_rows(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for i in range(rows):
            question = " ".join(rng.choices(WORDS, k=rng.randint(5, 30)))
            answer = " ".join(rng.choices(WORDS, k=rng.randint(20, 150)))
            row = {
                "messages": [
                    {"role": "user", "content": f"{question} #{i}"},
                    {"role": "assistant", "content": answer},
                ]
            }
            handle.write(json.dumps(row) + "\n")


def timed(command: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 2):
        raise SystemExit(result.stderr)
    return elapsed, json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    ftwizard = [sys.executable, "-m", "ftwizard.cli.main"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chat.jsonl"
        write_rows(path, args.rows)
        size = path.stat().st_size / 1e6
        plain, report = timed([*ftwizard, "data", str(path), "--json"])
        tokens, stats = timed([*ftwizard, "data", str(path), "--model", args.model, "--json"])
    print(f"{args.rows:,} rows ({size:.0f} MB JSONL) on {os.cpu_count()} cores")
    print(
        f"  validation only:              {plain:6.1f} s  "
        f"({report['report']['rows_valid']:,} valid)"
    )
    print(
        f"  validation + token statistics: {tokens:6.1f} s  (p95 {stats['stats']['tokens_p95']} "
        f"tokens; goal < 15 s {'met' if tokens < 15 else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
