"""Throughput and latency measurement.

Rules (the ones most published speed numbers break): warm-up iterations are excluded, the
device is synchronised before every clock read, nothing else (no logging, no hooks) runs inside
the timed region, latency is reported as percentiles, and the batch actually run is recorded.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from harness._devices import autocast
from harness._devices import synchronize

if TYPE_CHECKING:
    import torch

__all__ = ["InferenceFigures", "flops_per_sample", "iqr_ratio", "measure_inference",
           "peak_memory_mb", "percentile"]


@dataclass(frozen=True)
class InferenceFigures:
    batch_size: int
    samples_per_s: float
    latency_ms_p50: float
    latency_ms_p90: float
    latency_ms_p99: float
    iterations: int
    iqr_ratio: float = 0.0
    """Interquartile range ÷ median of the per-iteration times: the estimate's stability."""


STABLE_IQR_RATIO = 0.10


def iqr_ratio(times: list[float]) -> float:
    median = statistics.median(times)
    return (percentile(times, 75) - percentile(times, 25)) / median if median > 0 else 0.0


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory: CUDA's max allocated on a GPU; on CPU the process's resident-memory
    high-water mark (Linux's VmHWM, which workers reset before each trial; elsewhere the
    process's lifetime peak)."""
    import resource
    import sys

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def flops_per_sample(model: torch.nn.Module, example: Any, batch_size: int,
                     forward: Callable[[torch.nn.Module, Any], Any] | None = None,
                     ) -> float | None:
    """Forward FLOPs per sample from torch's FLOP counter (None where it cannot count)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    run = forward or (lambda m, x: m(x))
    try:
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), counter:
            run(model, example)
        return counter.get_total_flops() / max(batch_size, 1)
    except Exception:  # an operator without a FLOP formula makes the figure unknown
        return None


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def measure_inference(
    model: torch.nn.Module,
    example: Any,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
    *,
    warmup: int = 2,
    min_iterations: int = 5,
    min_time_s: float = 0.25,
    max_time_s: float = 2.0,
    clock: Callable[[], float] = time.perf_counter,
    forward: Callable[[torch.nn.Module, Any], Any] | None = None,
) -> InferenceFigures:
    """Time forward passes of ``model`` on ``example`` (one batch of ``batch_size`` samples).

    Iterations continue until ``min_iterations`` and ``min_time_s`` are reached and the
    estimate is stable (IQR ÷ median of the iteration times ≤ 0.10), or ``max_time_s`` is
    spent. Throughput is samples divided by the wall time of the timed loop.
    """
    import torch

    run = forward or (lambda m, x: m(x))
    model.eval()
    times: list[float] = []
    with torch.inference_mode(), autocast(device, precision):
        for _ in range(warmup):
            run(model, example)
        synchronize(device)
        start = clock()
        while True:
            t0 = clock()
            run(model, example)
            synchronize(device)
            times.append(clock() - t0)
            spent = clock() - start
            enough = len(times) >= min_iterations and spent >= min_time_s
            # The stability check sorts every time so far: do it every ~8th of them, not on
            # every iteration (quadratic for fast models).
            check = enough and len(times) % max(1, len(times) // 8) == 0
            if (check and iqr_ratio(times) <= STABLE_IQR_RATIO) or spent >= max_time_s:
                break
    # The wall time of the whole timed loop, not the sum of per-call times: a reader's
    # throughput includes whatever happens between calls.
    return InferenceFigures(
        batch_size=batch_size,
        samples_per_s=batch_size * len(times) / spent if spent > 0 else float("inf"),
        latency_ms_p50=1000 * statistics.median(times),
        latency_ms_p90=1000 * percentile(times, 90),
        latency_ms_p99=1000 * percentile(times, 99),
        iterations=len(times),
        iqr_ratio=iqr_ratio(times),
    )
