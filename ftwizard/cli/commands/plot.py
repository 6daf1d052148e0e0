"""``ftwizard plot RUN --out FILE``: the run's curves as an image (``views/figure_file.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftwizard.cli.console import out, print_json
from ftwizard.core.runs.folder import find_run
from ftwizard.views.figure_file import run_charts, write_figure
from ftwizard.views.run_charts import ChartOptions


def run(args: argparse.Namespace) -> int:
    folder = find_run(args.name, args.root)
    options = ChartOptions(smooth=args.smooth, log_scale=args.log_scale)
    charts = run_charts(folder, tuple(args.charts), options)
    path = write_figure(charts, Path(args.out), folder.name)
    if args.json:
        print_json({"path": str(path), "charts": [title for title, _ in charts]})
    else:
        out.print(f"wrote {path} ({', '.join(title.lower() for title, _ in charts)})")
    return 0
