"""The hardware report: one memory bar per GPU, then CPU, RAM and disk."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ftwizard.core.hardware.probe import GpuInfo, HardwareReport
from ftwizard.core.units import gib, percent, plain, yes_no
from ftwizard.views.bars import share_bar


def _gpu_rows(gpu: GpuInfo) -> Table:
    capability = gpu.compute_capability
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", min_width=6)
    grid.add_column()
    grid.add_row(f"GPU {gpu.index}", Text(plain(gpu.name), style="bold"))
    usage = share_bar(gpu.memory_used_bytes, gpu.memory_total_bytes)
    usage.append(f" {gib(gpu.memory_used_bytes)} used of {gib(gpu.memory_total_bytes)}")
    grid.add_row("", usage)
    grid.add_row(
        "",
        f"compute {'n/a' if capability is None else '{}.{}'.format(*capability)}   "
        f"bf16 {yes_no(gpu.bf16)}   utilisation {percent(gpu.utilization_percent)}",
    )
    return grid


class HardwarePanel(Static):
    """Shows a :class:`HardwareReport`; set ``report`` to update it."""

    report: reactive[HardwareReport | None] = reactive(None)

    def on_mount(self) -> None:
        self.border_title = "Hardware"

    def render(self) -> RenderableType:
        report = self.report
        if report is None:
            return Text("Probing hardware...")
        parts: list[RenderableType] = []
        if report.gpus:
            parts.extend(_gpu_rows(gpu) for gpu in report.gpus)
            parts.append(
                Text(
                    f"driver {plain(report.driver_version)}, "
                    f"CUDA {plain(report.cuda_driver_version)}"
                )
            )
        else:
            parts.append(Text("No NVIDIA GPU found: CPU mode", style="bold"))
            parts.append(Text(f"  reason: {plain(report.gpu_reason)}"))
        parts.append(
            Text(
                f"CPU {plain(report.cpu_cores_logical)} cores   "
                f"RAM {gib(report.ram_available_bytes)} free of {gib(report.ram_total_bytes)}   "
                f"disk {gib(report.disk_free_bytes)} free"
            )
        )
        parts.extend(Text(f"warning: {w}") for w in report.warnings)
        return Group(*parts)
