"""Device choice, precision, and a description of the hardware every result row carries."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from harness._errors import ConfigError

if TYPE_CHECKING:
    import torch

    from harness._config import DeviceSection

__all__ = ["apply_numerics", "autocast", "hardware_class", "numerics", "numerics_label",
           "resolve_device", "synchronize", "worker_placement"]


def resolve_device(name: str, source: str = "device",
                   key: str = "device.device") -> torch.device:
    """``auto`` is CUDA when present, else CPU; an unavailable device is a clear error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(source, key, f"'{name}' asked for, but no CUDA device "
                              "is available (use device = \"auto\" or \"cpu\")")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(source, key, f"'{name}' asked for, but only "
                              f"{torch.cuda.device_count()} CUDA device(s) exist")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(source, key, "'mps' asked for, but it is not available")
    return torch.device(name)


def check_precision(precision: str, device: torch.device, source: str = "device") -> None:
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(source, "device.precision", "fp16 autocast needs a CUDA device; "
                          "use \"amp\" (bf16 on CPU) or \"bf16\"")


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Mixed precision for ``amp``/``bf16``/``fp16``; a no-op for ``fp32``."""
    import torch

    if precision == "fp32":
        yield
        return
    if precision == "fp16" or (precision == "amp" and device.type == "cuda"):
        dtype = torch.float16
    else:
        dtype = torch.bfloat16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def apply_numerics(section: DeviceSection) -> None:
    """Set TF32, cuDNN autotuning and deterministic mode as ``[device]`` says, explicitly: torch's
    own defaults differ between matmuls and convolutions and between releases, and a speed
    figure means little without them."""
    import torch

    torch.set_float32_matmul_precision("high" if section.tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = section.tf32
    torch.backends.cudnn.benchmark = section.cudnn_benchmark
    torch.backends.cudnn.deterministic = section.deterministic
    if section.deterministic:
        # cuBLAS is deterministic only with a fixed workspace; it must be set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(section.deterministic, warn_only=True)


def numerics() -> dict[str, object]:
    """The settings in force now, as recorded with every trial."""
    import torch

    return {"float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "deterministic": torch.are_deterministic_algorithms_enabled()}


def numerics_label(section: DeviceSection) -> str:
    """What the hardware class adds for settings that change speed: rows measured under other
    settings are a different class, never ranked together. Empty for the defaults, so classes
    recorded before these settings existed stay comparable."""
    parts = [name for name, on in (("tf32", section.tf32),
                                   ("cudnn.benchmark", section.cudnn_benchmark),
                                   ("deterministic", section.deterministic)) if on]
    return "".join(f" +{p}" for p in parts)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so a clock read measures finished work."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hardware_class(device: torch.device) -> str:
    """The hardware half of the key leaderboards group by (the trial's precision is the other):
    results from different classes are never ranked together."""
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} x{torch.cuda.device_count()}"
    return f"cpu: {cpu_model()} ({torch.get_num_threads()} threads)"


@lru_cache(maxsize=1)
def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown cpu"


def set_threads(threads: int) -> None:
    """Pin intra-op threads (0 keeps torch's default of one per core)."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    elif os.environ.get("OMP_NUM_THREADS") is None:
        torch.set_num_threads(max(1, os.cpu_count() or 1))


def worker_placement(section: DeviceSection, device: torch.device,
                     slots: int) -> tuple[list[str], int]:
    """Where ``slots`` concurrent trials run: the device of each (used in turn) and the CPU
    threads each gets. One device per worker: the task file's ``devices``, else every GPU in
    turn, else the CPU; threads from ``[device] threads``, else the cores split evenly."""
    threads = section.threads or max(1, (os.cpu_count() or 1) // slots)
    if section.devices:
        return list(section.devices), threads
    if device.type == "cuda" and slots > 1:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())], threads
    return [str(device)], threads
