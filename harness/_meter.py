"""Throughput and latency measurement.

Rules (the ones most published speed numbers break):
- warm-up runs until the per-call time has settled (a minimum count, then a stability test on
  the last calls), so cuDNN autotuning, ``torch.compile`` and lazy initialisation land in
  ``warmup_s`` and ``compile_s``, never in a timed figure;
- throughput is timed in rounds of back-to-back calls with one device synchronisation at each
  end of a round (a synchronisation per call would serialise the host and the device: pytorch
  PR #75393); rounds go on until their per-call times are stable;
- latency is what one caller sees: each call synchronised and timed on its own, reported as
  percentiles;
- nothing else (no logging, no hooks) runs inside a timed region, and the batch actually run
  is recorded.
"""

from __future__ import annotations

import math
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

__all__ = ["InferenceFigures", "Warmup", "flops_per_sample", "iqr_ratio", "measure_inference",
           "peak_memory_mb", "percentile", "settled", "warm_up"]


@dataclass(frozen=True)
class InferenceFigures:
    batch_size: int
    samples_per_s: float
    latency_ms_p50: float
    latency_ms_p90: float
    latency_ms_p99: float
    iterations: int
    iqr_ratio: float = 0.0
    """Interquartile range ÷ median of the timed samples: the estimate's stability."""
    warmup_s: float = 0.0
    """Seconds of warm-up before the timings settled (autotuning and compilation included)."""
    compile_s: float = 0.0
    """How much longer the first call took than a settled one: compilation, autotuning and
    lazy initialisation (``torch.compile`` does its work there)."""
    stable: bool = True
    """The warm-up settled and the timed samples met the stability test before time ran out."""


STABLE_IQR_RATIO = 0.10
MIN_WARMUP = 3
"""Warm-up calls before the stability test may end it."""
SETTLED_WINDOW = 3
"""The warm-up has settled when the median of the last this-many calls is within
:data:`SETTLED_TOLERANCE` of the median of the this-many before them."""
SETTLED_TOLERANCE = 0.10
MIN_ROUNDS = 5
"""Timed rounds (throughput) or calls (latency) before the stability test may end timing."""


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


@dataclass(frozen=True)
class Warmup:
    """What warming up found."""

    seconds: float
    calls: int
    first_s: float
    settled_s: float
    """The per-call time once settled (median of the last calls)."""
    settled: bool

    @property
    def compile_s(self) -> float:
        return max(0.0, self.first_s - self.settled_s)


def settled(times: list[float], window: int = SETTLED_WINDOW,
            tolerance: float = SETTLED_TOLERANCE) -> bool:
    """The last ``window`` times agree with the ``window`` before them (medians within
    ``tolerance``, relative)."""
    if len(times) < 2 * window:
        return False
    last = statistics.median(times[-window:])
    before = statistics.median(times[-2 * window:-window])
    return abs(last - before) <= tolerance * max(before, 1e-12)


def warm_up(call: Callable[[], Any], *, max_s: float, clock: Callable[[], float],
            min_calls: int = MIN_WARMUP) -> Warmup:
    """Call until the per-call time settles (at least ``min_calls``), or ``max_s`` passes.
    ``call`` must include the device synchronisation: these are per-call times."""
    times: list[float] = []
    start = clock()
    while True:
        t0 = clock()
        call()
        times.append(clock() - t0)
        if len(times) >= min_calls and settled(times[1:]):  # the first call is never typical
            ok = True
            break
        if clock() - start >= max_s and len(times) >= 2:
            ok = False
            break
    recent = times[1:][-SETTLED_WINDOW:]
    return Warmup(clock() - start, len(times), times[0], statistics.median(recent), ok)


def measure_inference(
    model: torch.nn.Module,
    example: Any,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
    *,
    mode: str = "throughput",
    min_time_s: float = 0.25,
    max_time_s: float = 2.0,
    warmup_max_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    forward: Callable[[torch.nn.Module, Any], Any] | None = None,
) -> InferenceFigures:
    """Time forward passes of ``model`` on ``example`` (one batch of ``batch_size`` samples).

    ``mode="throughput"``: rounds of back-to-back calls, one synchronisation at each end of a
    round; samples per second over every timed round, and per-call percentiles over rounds.
    ``mode="latency"``: every call synchronised and timed alone; percentiles over calls.
    Timing continues until at least :data:`MIN_ROUNDS` samples and ``min_time_s`` are in and
    the samples are stable (IQR ÷ median ≤ 0.10), or ``max_time_s`` is spent. Warm-up (at most
    ``warmup_max_s``, default ``max_time_s``) comes first and is reported, never timed.
    """
    import torch

    run = forward or (lambda m, x: m(x))
    model.eval()
    with torch.inference_mode(), autocast(device, precision):
        def call() -> None:
            run(model, example)

        def synced() -> None:
            call()
            synchronize(device)

        warm = warm_up(synced, max_s=warmup_max_s if warmup_max_s is not None else max_time_s,
                       clock=clock)
        if mode == "latency":
            samples, total_calls, spent = _timed(synced, 1, device, clock, min_time_s,
                                                 max_time_s)
        else:
            per_round = max(1, math.ceil(min_time_s / MIN_ROUNDS / max(warm.settled_s, 1e-9)))
            samples, total_calls, spent = _timed(call, per_round, device, clock, min_time_s,
                                                 max_time_s)
    ratio = iqr_ratio(samples)
    return InferenceFigures(
        batch_size=batch_size,
        samples_per_s=batch_size * total_calls / spent if spent > 0 else float("inf"),
        latency_ms_p50=1000 * statistics.median(samples),
        latency_ms_p90=1000 * percentile(samples, 90),
        latency_ms_p99=1000 * percentile(samples, 99),
        iterations=total_calls,
        iqr_ratio=ratio,
        warmup_s=warm.seconds,
        compile_s=warm.compile_s,
        stable=warm.settled and ratio <= STABLE_IQR_RATIO,
    )


def _timed(call: Callable[[], Any], per_round: int, device: torch.device,
           clock: Callable[[], float], min_time_s: float, max_time_s: float,
           ) -> tuple[list[float], int, float]:
    """Rounds of ``per_round`` calls, synchronised at each end: (per-call time of each
    round, calls made, seconds timed)."""
    samples: list[float] = []
    timed = 0.0
    while True:
        synchronize(device)
        t0 = clock()
        for _ in range(per_round):
            call()
        synchronize(device)
        took = clock() - t0
        samples.append(took / per_round)
        timed += took
        enough = len(samples) >= MIN_ROUNDS and timed >= min_time_s
        # The stability check sorts every sample so far: do it every ~8th of them, not on
        # every round (quadratic for fast models).
        check = enough and len(samples) % max(1, len(samples) // 8) == 0
        if (check and iqr_ratio(samples) <= STABLE_IQR_RATIO) or timed >= max_time_s:
            return samples, len(samples) * per_round, timed
