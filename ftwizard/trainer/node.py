"""One machine's torchrun in a run over several machines.

``python -m ftwizard.trainer.node RUN_DIR NODE_RANK -- TORCHRUN_ARGS...``

torchrun meets the other machines at the c10d rendezvous before any trainer starts.
When they never come, its own report is a traceback in a log; here it becomes the
run's failure in words (on machine 0, which tells the run's story: an error event and
the status), so `ftwizard --preset` exits 2 with what to do and the viewers show it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ftwizard.core.runs.events import Failure
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.runs.machines import WAIT_ENV, wait_seconds

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run, node_rank, torchrun_args = RunFolder(Path(args[0])), int(args[1]), args[3:]  # [2] is --
    from torch.distributed.elastic.rendezvous.api import RendezvousTimeoutError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(torchrun_args)
    except RendezvousTimeoutError:
        config = run.read_config().distributed
        endpoint = torchrun_args[torchrun_args.index("--rdzv-endpoint") + 1]
        message = (
            f"not every machine came to the rendezvous at {endpoint} within "
            f"{wait_seconds():.0f} s: {config.num_machines} were expected. Start the others "
            f"with the same preset and --nodes {config.num_machines} --node-rank R --master "
            f"{endpoint}; they must reach that port (firewall), and wait longer with "
            f"{WAIT_ENV}=SECONDS."
        )
        print(f"refused: {message}", file=sys.stderr)
        if node_rank == 0:
            run.append_event(Failure(kind="input", message=message))
            run.write_status(state="failed", error=message, finished_at=time.time())
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
