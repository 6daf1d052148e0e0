"""The hardware probe through a fake NVML injected at one seam."""

from __future__ import annotations

import pytest

from ftwizard.core.hardware.fake_nvml import FakeNvml
from ftwizard.core.hardware.nvml import FAKE_GPUS_ENV, Nvml
from ftwizard.core.hardware.probe import probe

GIB = 1024**3


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv(FAKE_GPUS_ENV, raising=False)


def test_no_driver_means_cpu_mode_with_the_reason() -> None:
    report = probe(nvml_module=FakeNvml(library_missing=True))
    assert report.gpus == []
    assert report.cpu_mode
    assert report.gpu_reason is not None and "NVML library not found" in report.gpu_reason
    assert report.cpu_cores_logical and report.ram_total_bytes and report.disk_free_bytes


def test_missing_bindings_are_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pynvml() -> None:
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr("ftwizard.core.hardware.nvml.load_module", no_pynvml)
    report = probe()
    assert report.cpu_mode and "nvidia-ml-py is not installed" in (report.gpu_reason or "")


@pytest.mark.parametrize(
    ("memory", "capability", "bf16"),
    [(8, (8, 6), True), (24, (8, 9), True), (80, (9, 0), True), (16, (7, 5), False)],
)
def test_one_gpu_of_each_size(fake_nvml, memory: float, capability, bf16: bool) -> None:
    report = probe(nvml_module=fake_nvml(memory, capability=capability))
    [gpu] = report.gpus
    assert gpu.memory_total_bytes == memory * GIB
    assert gpu.memory_free_bytes == gpu.memory_total_bytes - gpu.memory_used_bytes
    assert gpu.compute_capability == capability
    assert gpu.bf16 is bf16
    assert report.driver_version == "570.86.15"
    assert report.cuda_driver_version == "12.8"
    assert not report.cpu_mode and report.gpu_reason is None


def test_two_gpus_keep_their_order(fake_nvml) -> None:
    report = probe(nvml_module=fake_nvml(24, 80))
    assert [g.index for g in report.gpus] == [0, 1]
    assert [g.memory_total_gib for g in report.gpus] == [24, 80]


def test_one_failing_call_mid_query_gives_na_for_that_field_only(fake_nvml) -> None:
    nvml = fake_nvml(
        24, 24, failing={"nvmlDeviceGetUtilizationRates", "nvmlDeviceGetCudaComputeCapability"}
    )
    report = probe(nvml_module=nvml)
    assert len(report.gpus) == 2
    for gpu in report.gpus:
        assert gpu.utilization_percent is None
        assert gpu.compute_capability is None and gpu.bf16 is None
        assert gpu.memory_total_bytes == 24 * GIB  # the rest still reads
    assert any("nvmlDeviceGetUtilizationRates" in w for w in report.warnings)


def test_failing_count_reports_a_reason(fake_nvml) -> None:
    report = probe(nvml_module=fake_nvml(24, failing={"nvmlDeviceGetCount"}))
    assert report.gpus == [] and report.gpu_reason == "NVML could not count the GPUs"


def test_failing_init_reports_the_error(fake_nvml) -> None:
    report = probe(nvml_module=fake_nvml(24, failing={"nvmlInit"}))
    assert report.cpu_mode and "NVML could not start" in (report.gpu_reason or "")


def test_cuda_visible_devices_selects_and_reorders(fake_nvml, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    report = probe(nvml_module=fake_nvml(8, 24, 80))
    assert [(g.index, g.nvml_index, g.memory_total_gib) for g in report.gpus] == [
        (0, 2, 80),
        (1, 0, 8),
    ]


def test_cuda_visible_devices_by_uuid_prefix(fake_nvml, monkeypatch) -> None:
    nvml = fake_nvml(8, 24)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", nvml.gpus[1].uuid)
    [gpu] = probe(nvml_module=nvml).gpus
    assert gpu.nvml_index == 1
    # A prefix that matches two GPUs is no choice at all, as in CUDA.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0000")
    report = probe(nvml_module=nvml)
    assert report.gpus == [] and report.warnings


def test_cuda_visible_devices_stops_at_a_missing_gpu(fake_nvml, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7,0")
    report = probe(nvml_module=fake_nvml(24, 24))
    assert [g.nvml_index for g in report.gpus] == [1]
    assert any("`7`" in w for w in report.warnings)


def test_cuda_visible_devices_empty_hides_every_gpu(fake_nvml, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    report = probe(nvml_module=fake_nvml(24))
    assert report.gpus == [] and "empty" in (report.gpu_reason or "")


def test_disk_is_measured_at_the_nearest_existing_folder(tmp_path) -> None:
    report = probe(
        runs_root=tmp_path / "not" / "yet" / "there", nvml_module=FakeNvml(library_missing=True)
    )
    assert report.disk_path == str(tmp_path)


def test_report_serialises_for_json(fake_nvml) -> None:
    data = probe(nvml_module=fake_nvml(80)).to_dict()
    assert data["gpus"][0]["compute_capability"] == "8.0"
    assert data["gpus"][0]["bf16"] is True
    assert data["cpu_mode"] is False


def test_fake_spec_parsing() -> None:
    nvml = FakeNvml.from_spec("NVIDIA H100 80GB HBM3:80:9.0,x4,Tesla T4:16:7.5")
    assert [g.memory_gib for g in nvml.gpus] == [80, 80, 80, 80, 16]
    assert len({g.uuid for g in nvml.gpus}) == 5
    assert FakeNvml.from_spec("").library_missing


def test_env_selects_the_fake(monkeypatch) -> None:
    monkeypatch.setenv(FAKE_GPUS_ENV, "A10G:24:8.6,x2")
    report = probe()
    assert [g.name for g in report.gpus] == ["A10G", "A10G"]


def test_nvml_wrapper_decodes_bytes_and_never_raises(fake_nvml) -> None:
    nvml = Nvml(fake_nvml(24))
    assert nvml.query("nvmlDeviceGetName", 0) == "Fake GPU 24GB"  # bytes from old pynvml
    assert nvml.query("nvmlDeviceGetName", 5) is None  # IndexError inside
    assert nvml.query("nvmlNoSuchFunction") is None


def test_cpu_bf16_instructions_from_the_flags(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ftwizard.core.hardware.probe import CPU_FLAGS_ENV, cpu_bf16_instructions, cpu_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    monkeypatch.delenv(CPU_FLAGS_ENV, raising=False)
    assert cpu_bf16_instructions(cpu_flags(cpuinfo)) == "AVX512-BF16"
    assert cpu_bf16_instructions({"amx_bf16", "avx512_bf16"}) == "AMX-BF16"
    assert cpu_bf16_instructions({"avx2"}) is None
    assert cpu_flags(tmp_path / "absent") is None and cpu_bf16_instructions(None) is None
    monkeypatch.setenv(CPU_FLAGS_ENV, "avx2 fma")
    assert cpu_flags(cpuinfo) == {"avx2", "fma"}
