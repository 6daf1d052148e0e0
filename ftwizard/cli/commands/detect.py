"""``ftwizard detect``: the hardware report, as a table or as JSON."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ftwizard.cli.console import out, print_json
from ftwizard.core.hardware.probe import HardwareReport, probe
from ftwizard.core.units import gib, percent, plain, yes_no


def render_report(report: HardwareReport) -> RenderableType:
    parts: list[RenderableType] = []
    if report.gpus:
        table = Table(title="GPUs", title_justify="left", expand=False)
        for column in ("#", "name", "used", "total", "free", "compute", "bf16", "util"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for gpu in report.gpus:
            capability = gpu.compute_capability
            table.add_row(
                str(gpu.index),
                plain(gpu.name),
                gib(gpu.memory_used_bytes),
                gib(gpu.memory_total_bytes),
                gib(gpu.memory_free_bytes),
                "n/a" if capability is None else "{}.{}".format(*capability),
                yes_no(gpu.bf16),
                percent(gpu.utilization_percent),
            )
        parts.append(table)
        parts.append(
            Text(f"driver {plain(report.driver_version)}, CUDA {plain(report.cuda_driver_version)}")
        )
    else:
        parts.append(
            Text.assemble(
                ("No NVIDIA GPU found: CPU mode", "bold yellow"),
                f" - {plain(report.gpu_reason)}",
            )
        )
    cores = (
        f"{plain(report.cpu_cores_logical)} logical / {plain(report.cpu_cores_physical)} physical"
    )
    bf16 = f", bf16 in hardware ({report.cpu_bf16})" if report.cpu_bf16 else ""
    parts.append(
        Text(
            f"CPU {cores} cores{bf16}, RAM {gib(report.ram_available_bytes)} free of "
            f"{gib(report.ram_total_bytes)}, disk {gib(report.disk_free_bytes)} free at "
            f"{report.disk_path}"
        )
    )
    parts.extend(Text(f"warning: {w}", style="yellow") for w in report.warnings)
    return Group(*parts)


def detect(runs_root: str, as_json: bool) -> int:
    report = probe(runs_root=runs_root)
    if as_json:
        print_json(report.to_dict())
    else:
        out.print(render_report(report))
    return 0
