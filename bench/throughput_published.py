"""The throughput model against published step times it was never fitted on.

Each ``bench/data/published_speed_*.json`` holds one source's measurements: the card,
the model shapes, the settings shared by its rows, and per row a shape, a sequence
length and the seconds per optimizer step. This predicts each with the shipped constants
(``core/planning/throughput.py``) and prints the error; the goal is a median within 25 %
and none 2x off.

    python bench/throughput_published.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwizard.core.config.yaml_io import load_config  # noqa: E402
from ftwizard.core.hardware.gpus import find_gpu, target_from_spec  # noqa: E402
from ftwizard.core.models.facts import facts_from_config  # noqa: E402
from ftwizard.core.planning.throughput import Lengths, device_for, step_time  # noqa: E402

DATA = ROOT / "bench" / "data"


def predictions() -> list[dict[str, Any]]:
    rows = []
    for path in sorted(DATA.glob("published_speed_*.json")):
        source = json.loads(path.read_text())
        spec = find_gpu(source["card"])
        assert spec is not None, source["card"]
        device = device_for(target_from_spec(spec))
        for row in source["rows"]:
            shape = source["shapes"][row["shape"]]
            model = facts_from_config(shape, row["shape"], "published")
            config = load_config(
                None,
                [
                    "model.model_name_or_path=x",
                    f"training.max_length={row['tokens']}",
                    *source["settings"],
                ],
            )
            lengths = Lengths(row["tokens"], row["tokens"])
            predicted = step_time(model, config, lengths, device).seconds_per_step
            rows.append(
                {
                    "file": path.name,
                    "case": f"{row['shape']} x {row['tokens']}",
                    "measured": row["seconds_per_step"],
                    "predicted": round(predicted, 3),
                    "ratio": predicted / row["seconds_per_step"],
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    rows = predictions()
    print(f"{'source':<34}{'case':<20}{'measured':>9}{'predicted':>10}{'error':>8}")
    for row in rows:
        error = row["ratio"] - 1
        print(
            f"{row['file']:<34}{row['case']:<20}{row['measured']:>9.2f}"
            f"{row['predicted']:>10.2f}{error:>+8.0%}"
        )
    errors = [abs(r["ratio"] - 1) for r in rows]
    worst = max(max(r["ratio"], 1 / r["ratio"]) for r in rows)
    summary = {
        "points": len(rows),
        "median_abs_error": statistics.median(errors),
        "max_ratio": worst,
        "rows": rows,
    }
    print(
        f"{len(rows)} points: median |error| {summary['median_abs_error']:.0%}, "
        f"worst {worst:.2f}x (goal: median within 25 %, none 2x off)"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
