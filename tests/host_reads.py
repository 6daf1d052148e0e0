"""Train a run folder in this process and print, as JSON, every read of a tensor's value
on the host (``item``, ``bool``, ``float``, ``int``, ``tolist``) during the steps after
the first, with where it was made and whether the step logged.

    python -m tests.host_reads RUN_DIR

On a GPU each such read waits for every queued kernel; on a CPU the same code paths
run, so counting them here finds the reads a GPU step would wait on.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import transformers.trainer
from transformers import TrainerCallback

from ftwizard.core.runs.folder import RunFolder
from ftwizard.trainer.run import train

READS = ("item", "__bool__", "__float__", "__int__", "tolist")
step: list[int] = [0]


class MarkStep(TrainerCallback):  # type: ignore[misc]
    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step[0] = state.global_step + 1


def main() -> int:
    run = RunFolder(Path(sys.argv[1]))
    logging_steps = run.read_config().training.logging_steps
    reads: Counter[tuple[str, str, bool]] = Counter()

    def counted(name: str) -> Any:
        original = getattr(torch.Tensor, name)

        def read(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if step[0] > 1:
                frame = traceback.extract_stack(limit=3)[0]
                where = frame.filename.split("site-packages/")[-1].split("/ftwizard/")[-1]
                reads[(name, where, step[0] % logging_steps == 0)] += 1
            return original(self, *args, **kwargs)

        return read

    for name in READS:
        setattr(torch.Tensor, name, counted(name))
    init = transformers.trainer.Trainer.__init__

    def with_marker(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), MarkStep()]
        init(self, *args, **kwargs)

    transformers.trainer.Trainer.__init__ = with_marker
    ending = train(run, None)
    rows = [
        {"read": name, "where": where, "logged": logged, "count": count}
        for (name, where, logged), count in reads.items()
    ]
    print(json.dumps({"exit": ending.code, "reads": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
