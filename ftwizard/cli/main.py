"""Entry point: parse, dispatch, and turn UserErrors into one message and exit code 2.

Every import of a command's module happens inside its branch, so ``--help``,
``--version``, ``detect`` and ``presets`` never load torch or textual.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ftwizard.cli.parser import build_parser
from ftwizard.core.errors import UserError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _dispatch(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    machine_flags = (args.run_nodes, args.run_node_rank, args.run_master)
    machine_flag_given = any(flag is not None for flag in machine_flags)
    if args.command is None:
        if args.run_preset is None:
            if (
                args.run_overrides
                or args.dry_run
                or args.run_json
                or machine_flag_given
                or args.run_from
            ):
                parser.error("--set, --from, --dry-run, --json and --nodes need --preset FILE")
            from ftwizard.tui.app import run_app

            return run_app()
        from ftwizard.cli.commands.headless import run_preset
        from ftwizard.core.runs.machines import parse_machines

        start = [("--from", f"model.from_run={args.run_from}")] if args.run_from else []
        return run_preset(
            args.run_preset,
            [*args.run_overrides, *start],
            dry_run=args.dry_run,
            as_json=args.run_json,
            detach=args.detach,
            machines=parse_machines(*machine_flags),
        )
    given = (args.run_preset, args.run_from, args.run_overrides, args.dry_run)
    if any(given) or machine_flag_given:
        parser.error(
            f"put --preset, --set, --from, --dry-run and --nodes after `{args.command}` "
            f"(where it takes them), not before it"
        )

    if args.command == "detect":
        from ftwizard.cli.commands.detect import detect

        return detect(runs_root=args.runs_root, as_json=args.json)
    if args.command == "estimate":
        from ftwizard.cli.commands import estimate

        return estimate.run(args)
    if args.command == "plan":
        from ftwizard.cli.commands import plan

        return plan.run(args)
    if args.command == "data":
        from ftwizard.cli.commands import data

        return data.run(args)
    if args.command in ("runs", "attach", "stop", "resume"):
        from ftwizard.cli.commands import runs

        return runs.dispatch(args)
    if args.command == "plot":
        from ftwizard.cli.commands import plot

        return plot.run(args)
    if args.command == "export":
        from ftwizard.cli.commands import export

        return export.run(args)
    if args.command == "eval":
        from ftwizard.cli.commands import evaluate

        return evaluate.run(args)
    if args.command == "judge":
        from ftwizard.cli.commands import judge

        return judge.run(args)
    if args.command == "compare":
        from ftwizard.cli.commands import compare

        return compare.run(args)
    if args.command == "chat":
        from ftwizard.cli.commands import chat

        return chat.run(args)
    if args.command in ("sample", "merge"):
        from ftwizard.cli.commands import outputs

        return outputs.run(args)
    if args.command == "presets":
        from ftwizard.cli.commands import presets

        return presets.dispatch(args)
    if args.command == "models":
        from ftwizard.cli.commands import models

        return models.dispatch(args)
    parser.error(f"unknown command {args.command}")  # argparse already refuses these
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    try:
        return _dispatch(sys.argv[1:] if argv is None else argv)
    except UserError as error:
        from ftwizard.cli.console import print_error

        print_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
