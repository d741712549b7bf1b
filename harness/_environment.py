"""Software and host identity recorded with every result."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
from functools import lru_cache
from typing import Any

__all__ = ["environment", "git_commit"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the repository in the working directory, when there is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _gpus() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    driver = None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
        driver = out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return {"names": names, "count": len(names), "driver": driver}


def _cudnn_version() -> int | None:
    import torch.backends.cudnn as cudnn

    available = cudnn.is_available()  # type: ignore[no-untyped-call]
    return cudnn.version() if available else None  # type: ignore[no-untyped-call]


def environment(plugin_distributions: dict[str, tuple[str, str]],
                device: Any = None) -> dict[str, Any]:
    """Versions of harness, its libraries and every plugin distribution, plus host facts."""
    import os

    import torch

    from harness._devices import cpu_model
    from harness._devices import numerics

    env: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": _gpus(),
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "cuda": torch.version.cuda,
        "cudnn": _cudnn_version(),
        "numerics": numerics(),
    }
    for dist in ("harness", "torch", "torchvision", "timm", "optuna", "sqlalchemy"):
        env[dist] = _version(dist)
    env["plugins"] = {name: f"{dist} {version}"
                      for name, (dist, version) in sorted(plugin_distributions.items())}
    return env
