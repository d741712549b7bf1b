"""The meter: warm-up excluded, percentiles ordered, throughput from the timed wall clock."""

from __future__ import annotations

import pytest
import torch

from harness._meter import measure_inference
from harness._meter import percentile


class FakeClock:
    """Advances only when the model runs, so every timing is known exactly."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_warmup_is_excluded_and_figures_follow_the_clock():
    clock = FakeClock()
    durations = iter([5.0, 5.0] + [0.01, 0.02, 0.03, 0.04, 0.10] * 20)
    calls = []

    def forward(model, x):
        calls.append(1)
        clock.now += next(durations)

    figures = measure_inference(torch.nn.Identity(), None, batch_size=10,
                                device=torch.device("cpu"), warmup=2, min_iterations=5,
                                min_time_s=0.2, clock=clock, forward=forward)
    # the two 5-second warm-up calls never reach the figures
    assert figures.iterations == len(calls) - 2
    assert figures.latency_ms_p50 < 100
    assert figures.latency_ms_p50 <= figures.latency_ms_p90 <= figures.latency_ms_p99
    timed = [0.01, 0.02, 0.03, 0.04, 0.10] * 20
    total = sum(timed[:figures.iterations])
    assert figures.samples_per_s == pytest.approx(10 * figures.iterations / total)


def test_time_cap_stops_slow_models():
    clock = FakeClock()

    def forward(model, x):
        clock.now += 1.0

    figures = measure_inference(torch.nn.Identity(), None, 1, torch.device("cpu"), warmup=0,
                                min_iterations=100, max_time_s=3.0, clock=clock,
                                forward=forward)
    assert figures.iterations == 3


def test_percentile_interpolates():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([3.0], 99) == 3.0
    assert percentile(list(map(float, range(101))), 90) == 90.0


def test_real_model_measurement():
    model = torch.nn.Linear(8, 2)
    figures = measure_inference(model, torch.randn(4, 8), 4, torch.device("cpu"),
                                min_time_s=0.01)
    assert figures.samples_per_s > 0 and figures.iterations >= 5


def test_iterations_grow_until_the_estimate_is_stable():
    clock = FakeClock()
    noisy = [0.01, 0.05] * 5
    durations = iter(noisy + [0.02] * 1000)

    def forward(model, x):
        clock.now += next(durations)

    figures = measure_inference(torch.nn.Identity(), None, 1, torch.device("cpu"), warmup=0,
                                min_iterations=5, min_time_s=0.0, max_time_s=100.0,
                                clock=clock, forward=forward)
    assert figures.iterations > len(noisy)  # the noisy start alone was not accepted
    assert figures.iqr_ratio <= 0.10 and figures.iterations < 200


def test_synchronize_precedes_every_clock_read(monkeypatch):
    import harness._meter as meter

    events = []
    monkeypatch.setattr(meter, "synchronize", lambda device: events.append("sync"))

    def clock():
        events.append("clock")
        return len(events) * 0.01

    def forward(model, x):
        events.append("forward")

    figures = measure_inference(torch.nn.Identity(), None, 1, torch.device("cpu"), warmup=2,
                                min_iterations=3, min_time_s=0.0, clock=clock, forward=forward)
    # after every timed forward the device is synchronised before the clock is read
    for i, event in enumerate(events):
        if event == "forward" and i > 2:
            assert events[i + 1] == "sync" and events[i + 2] == "clock"
    assert events[:3] == ["forward", "forward", "sync"]  # warm-up, then sync, then timing
    assert figures.iterations == events.count("forward") - 2


@pytest.mark.gpu
def test_cuda_synchronisation_is_real(monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    calls = []
    real = torch.cuda.synchronize
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: (calls.append(d), real(d)))
    device = torch.device("cuda")
    model = torch.nn.Linear(256, 256).to(device)
    figures = measure_inference(model, torch.randn(64, 256, device=device), 64, device)
    assert len(calls) == figures.iterations + 1 and figures.samples_per_s > 0


def test_flops_and_peak_memory():
    from harness._meter import flops_per_sample
    from harness._meter import peak_memory_mb

    assert flops_per_sample(torch.nn.Linear(8, 2), torch.randn(4, 8), 4) == 2 * 8 * 2
    assert peak_memory_mb(torch.device("cpu")) > 10
