"""A small, safe face over NVML (the library behind nvidia-smi).

Modelled on nvitop's ``libnvml``: NVML is initialised lazily, once, behind a
lock; every query goes through :meth:`Nvml.query`, which returns ``None`` (shown
as "n/a") instead of raising, and decodes bytes. The module that provides the
NVML functions is injectable, which is how tests and ``FTWIZARD_FAKE_GPUS``
simulate 0..8 GPUs on a machine without one.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

FAKE_GPUS_ENV = "FTWIZARD_FAKE_GPUS"


def load_module() -> ModuleType | Any:
    """The NVML bindings to use: a fake when ``FTWIZARD_FAKE_GPUS`` is set, else pynvml."""
    spec = os.environ.get(FAKE_GPUS_ENV)
    if spec is not None:
        from ftwizard.core.hardware.fake_nvml import FakeNvml

        return FakeNvml.from_spec(spec)
    import pynvml

    return pynvml


class Nvml:
    """NVML calls that never raise. ``available`` is False with a ``reason`` otherwise."""

    def __init__(self, module: ModuleType | Any | None = None) -> None:
        self._module = module
        self._lock = threading.Lock()
        self._initialised = False
        self.reason: str | None = None
        self.failed_calls: list[str] = []

    @property
    def available(self) -> bool:
        self._ensure_init()
        return self._initialised

    def _ensure_init(self) -> None:
        with self._lock:
            if self._initialised or self.reason is not None:
                return
            try:
                if self._module is None:
                    self._module = load_module()
            except ImportError:
                self.reason = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
                return
            try:
                self._module.nvmlInit()
            except Exception as exc:  # NVMLError subclasses, OSError from ctypes
                self.reason = _init_failure_reason(exc)
                return
            self._initialised = True

    def query(self, function: str, *args: Any) -> Any | None:
        """Call ``pynvml.<function>(*args)``; None (and a note) when it fails."""
        if not self.available:
            return None
        try:
            value = getattr(self._module, function)(*args)
        except Exception:  # one failing field must not hide the others
            if function not in self.failed_calls:
                self.failed_calls.append(function)
            return None
        return value.decode(errors="replace") if isinstance(value, bytes) else value

    def shutdown(self) -> None:
        with self._lock:
            if self._initialised:
                try:
                    self._module.nvmlShutdown()  # type: ignore[union-attr]
                except Exception:
                    pass
                self._initialised = False


def _init_failure_reason(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip()
    if "LibraryNotFound" in name or "Library Not Found" in text:
        return "NVML library not found (no NVIDIA driver on this machine)"
    if "DriverNotLoaded" in name or "Driver Not Loaded" in text:
        return "NVIDIA driver not loaded"
    if "NoPermission" in name:
        return "no permission to query the NVIDIA driver"
    return f"NVML could not start: {text or name}"
