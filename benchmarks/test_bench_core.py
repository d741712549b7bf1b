"""pytest-benchmark suites for hot paths of the core (run: tox -e bench)."""

from __future__ import annotations

import numpy as np

from harness._meter import percentile
from harness._report.pareto import pareto_mask


def test_pareto_front_of_100k_points(benchmark):
    rng = np.random.default_rng(0)
    quality, speed = rng.random(100_000), rng.random(100_000)
    mask = benchmark(pareto_mask, quality, speed)
    assert mask.any()


def test_percentile_of_1k_latencies(benchmark):
    values = list(np.random.default_rng(0).random(1000))
    assert benchmark(percentile, values, 99) > 0.9
