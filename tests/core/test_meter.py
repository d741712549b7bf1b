"""The meter: warm-up until settled and never timed, one synchronisation per throughput round,\nper-call latency, percentiles ordered — with a fake clock, so every timing is known."""

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


def test_warmup_runs_until_settled_and_is_reported_not_timed():
    clock = FakeClock()
    # a compiling first call, autotuning calls that speed up, then a steady 10 ms
    warm = [5.0, 0.5, 0.2, 0.1, 0.05] + [0.01] * 6
    durations = iter(warm + [0.01] * 10_000)
    calls = []

    def forward(model, x):
        calls.append(1)
        clock.now += next(durations)

    figures = measure_inference(torch.nn.Identity(), None, batch_size=10,
                                device=torch.device("cpu"), mode="latency", min_time_s=0.2,
                                clock=clock, forward=forward, warmup_max_s=100.0)
    # warm-up went on past the minimum until the last calls agreed with the ones before
    assert len(calls) - figures.iterations >= len(warm) - 1
    assert figures.compile_s == pytest.approx(5.0 - 0.01)
    assert figures.warmup_s >= sum(warm[:-1])
    assert figures.latency_ms_p99 == pytest.approx(10.0)  # nothing slow was timed
    assert figures.samples_per_s == pytest.approx(10 / 0.01)
    assert figures.stable


def test_warmup_gives_up_at_its_limit_and_says_so():
    from harness._meter import warm_up

    clock = FakeClock()
    times = iter([1.0, 0.5, 2.0, 0.3, 1.5, 0.2, 3.0, 0.1] * 10)

    def call():
        clock.now += next(times)

    found = warm_up(call, max_s=6.0, clock=clock)
    assert not found.settled and found.seconds >= 6.0 and found.calls < 10


def test_settled_compares_the_last_calls_with_the_ones_before():
    from harness._meter import settled

    assert settled([0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert not settled([0.2, 0.2, 0.2, 0.1, 0.1, 0.1])  # still getting faster
    assert not settled([0.1, 0.1, 0.1])  # too few to tell
    assert settled([0.100, 0.104, 0.098, 0.101, 0.099, 0.103])


def test_throughput_synchronises_once_per_round_not_per_call(monkeypatch):
    import harness._meter as meter

    events = []
    monkeypatch.setattr(meter, "synchronize", lambda device: events.append("sync"))
    clock = FakeClock()

    def forward(model, x):
        events.append("forward")
        clock.now += 0.001

    figures = measure_inference(torch.nn.Identity(), None, 8, torch.device("cpu"),
                                mode="throughput", min_time_s=0.05, max_time_s=1.0,
                                clock=clock, forward=forward)
    # rounds of ≥ 10 back-to-back calls between two synchronisations, never one per call
    runs = [len(r) for r in "".join("f" if e == "forward" else "|" for e in events).split("|")]
    timed = [n for n in runs if n > 1]
    assert timed and min(timed) >= 10 and sum(timed) == figures.iterations
    assert figures.samples_per_s == pytest.approx(8 / 0.001)


def test_time_cap_stops_slow_models():
    clock = FakeClock()

    def forward(model, x):
        clock.now += 1.0

    figures = measure_inference(torch.nn.Identity(), None, 1, torch.device("cpu"),
                                mode="latency", max_time_s=3.0, warmup_max_s=2.0,
                                clock=clock, forward=forward)
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
    durations = iter([0.02] * 6 + noisy + [0.02] * 1000)

    def forward(model, x):
        clock.now += next(durations)

    figures = measure_inference(torch.nn.Identity(), None, 1, torch.device("cpu"),
                                mode="latency", min_time_s=0.0, max_time_s=100.0,
                                clock=clock, forward=forward)
    assert figures.iterations > len(noisy)  # the noisy start alone was not accepted
    assert figures.iqr_ratio <= 0.10 and figures.iterations < 200


def test_latency_synchronises_before_every_clock_read(monkeypatch):
    import harness._meter as meter

    events = []
    monkeypatch.setattr(meter, "synchronize", lambda device: events.append("sync"))

    def clock():
        events.append("clock")
        return len(events) * 0.01

    def forward(model, x):
        events.append("forward")

    measure_inference(torch.nn.Identity(), None, 1, torch.device("cpu"), mode="latency",
                      min_time_s=0.0, clock=clock, forward=forward)
    # after every forward the device is synchronised before the clock is read
    for i, event in enumerate(events):
        if event == "forward":
            assert events[i + 1] == "sync" and "clock" in events[i + 2:i + 4]


@pytest.mark.gpu
def test_cuda_synchronisation_is_real(monkeypatch):
    calls = []
    real = torch.cuda.synchronize
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: (calls.append(d), real(d)))
    device = torch.device("cuda")
    model = torch.nn.Linear(256, 256).to(device)
    figures = measure_inference(model, torch.randn(64, 256, device=device), 64, device)
    assert 0 < len(calls) < figures.iterations and figures.samples_per_s > 0


def test_flops_and_peak_memory():
    from harness._meter import flops_per_sample
    from harness._meter import peak_memory_mb

    assert flops_per_sample(torch.nn.Linear(8, 2), torch.randn(4, 8), 4) == 2 * 8 * 2
    assert peak_memory_mb(torch.device("cpu")) > 10
