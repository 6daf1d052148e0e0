"""Dataset checks at scale (goal: 100,000 rows validated with token statistics in < 15 s).

Writes a 100,000-row chat JSONL, then times `ftwizard data` without a model (reading,
detection, validation, duplicates) and with the demo model's tokenizer (plus chat
template rendering and batched tokenisation), each in a fresh process as a person
runs it. With ``--gigabytes N`` it also validates an N GB JSONL and reports the peak
RSS of that process: the file is streamed, never held whole. Prints the figures; not
a test.

    .venv/bin/python bench/data_bench.py [--rows 100000] [--turns 3] [--gigabytes 1] [--json FILE]
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


def write_rows(path: Path, rows: int, seed: int = 0, turns: int = 1) -> None:
    """Chat rows of ``turns`` question/answer pairs each."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for i in range(rows):
            messages = []
            for turn in range(turns):
                question = " ".join(rng.choices(WORDS, k=rng.randint(5, 30)))
                length = rng.randint(20, 150)  # the same rows as before for one turn
                answer = " ".join(rng.choices(WORDS, k=length if turns == 1 else length // turns))
                messages += [
                    {"role": "user", "content": f"{question} #{i}.{turn}"},
                    {"role": "assistant", "content": answer},
                ]
            handle.write(json.dumps({"messages": messages}) + "\n")


def timed(command: list[str]) -> tuple[float, dict, float]:
    """Seconds, the JSON it printed, and its peak RSS in MiB (polled every 20 ms)."""
    import psutil

    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        out.seek(0), err.seek(0)
        if process.returncode not in (0, 2):
            raise SystemExit(err.read().decode())
        return elapsed, json.loads(out.read()), peak / 2**20


def write_gigabytes(path: Path, gigabytes: float) -> int:
    """Chat rows until the file reaches the size; returns the row count."""
    block = path.with_suffix(".block")
    write_rows(block, 10_000, seed=1)
    chunk = block.read_bytes()
    rows = 0
    with path.open("wb") as handle:
        while handle.tell() < gigabytes * 1e9:
            handle.write(chunk)
            rows += 10_000
    block.unlink()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--gigabytes", type=float, default=0, help="also stream a file this big")
    parser.add_argument(
        "--turns", type=int, default=1, help="question/answer pairs per row (every one masked)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    ftwizard = [sys.executable, "-m", "ftwizard.cli.main"]
    figures: dict[str, float] = {"rows": args.rows, "turns": args.turns}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chat.jsonl"
        write_rows(path, args.rows, turns=args.turns)
        size = path.stat().st_size / 1e6
        plain, report, _ = timed([*ftwizard, "data", str(path), "--json"])
        tokens, stats, _ = timed([*ftwizard, "data", str(path), "--model", args.model, "--json"])
        if args.gigabytes:
            big = Path(folder) / "big.jsonl"
            big_rows = write_gigabytes(big, args.gigabytes)
            big_size = big.stat().st_size / 1e9
            big_s, big_report, big_rss = timed([*ftwizard, "data", str(big), "--json"])
            figures.update(
                big_gb=big_size, big_rows=big_rows, big_s=big_s, big_peak_rss_mib=big_rss
            )
            figures["big_rows_valid"] = big_report["report"]["rows_valid"]
    figures.update(mb=size, validation_s=plain, token_stats_s=tokens)
    print(
        f"{args.rows:,} rows of {args.turns} turn(s) ({size:.0f} MB JSONL) "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"  validation only:              {plain:6.1f} s  "
        f"({report['report']['rows_valid']:,} valid)"
    )
    print(
        f"  validation + token statistics: {tokens:6.1f} s  (p95 {stats['stats']['tokens_p95']} "
        f"tokens; goal < 15 s {'met' if tokens < 15 else 'MISSED'})"
    )
    if args.gigabytes:
        print(
            f"  {figures['big_gb']:.2f} GB ({figures['big_rows']:,} rows), validation only: "
            f"{figures['big_s']:.1f} s, peak RSS {figures['big_peak_rss_mib']:.0f} MiB"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
