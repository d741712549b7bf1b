"""``harness bench``: untrained-model speed in the spirit of timm's benchmark script —
inference throughput and latency (model only, synthetic on-device input), a training step,
FLOPs, parameters and peak memory — stored beside study results so leaderboards show them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

from harness._errors import HarnessError
from harness._meter import InferenceFigures
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._registry import Registry
from harness._store import ResultsStore
from harness._store import TrialContext

__all__ = ["BenchResult", "BenchRun", "bench_architecture", "run_bench", "store_bench"]


NOISY_CV = 0.03
"""Above this coefficient of variation across runs, a machine is too noisy for one figure."""


@dataclass(frozen=True)
class BenchResult:
    architecture: str
    task: str
    batch_size: int
    precision: str
    memory_format: str
    device: str
    infer_samples_per_s: float
    infer_latency_ms_p50: float
    infer_latency_ms_p90: float
    infer_latency_ms_p99: float
    latency_b1_ms_p50: float
    latency_b1_ms_p99: float
    train_samples_per_s: float | None
    param_count: int
    gflops_per_sample: float | None
    peak_memory_mb: float
    iterations: int
    iqr_ratio: float
    runs: int = 1
    """Fresh measurements of inference throughput (each warmed up and timed on its own)."""
    cv: float = 0.0
    """Their coefficient of variation (standard deviation ÷ mean)."""
    interval: tuple[float, float] = (0.0, 0.0)
    """The lowest and highest of the runs' throughputs: the figure's honest range."""
    warmup_s: float = 0.0
    compile_s: float = 0.0

    @property
    def noisy(self) -> bool:
        """The runs disagree by more than :data:`NOISY_CV`: quote the interval, not a number."""
        return self.runs > 1 and self.cv > NOISY_CV

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BenchRun:
    """What ``harness bench`` measured: one result per architecture, where and with what."""

    results: list[BenchResult]
    hardware: str
    environment: dict[str, Any]


def run_bench(architectures: Sequence[str], *, task: str, batch_size: int, img_size: int,
              precision: str, memory_format: str, device_name: str,
              disabled: Sequence[str] = (), runs: int = 3, tf32: bool = False,
              cudnn_benchmark: bool = False) -> BenchRun:
    """Measure each named architecture on the chosen device (checked first)."""
    from harness._config import DeviceSection
    from harness._devices import apply_numerics
    from harness._devices import check_precision
    from harness._devices import hardware_class
    from harness._devices import numerics_label
    from harness._devices import resolve_device
    from harness._environment import environment
    from harness._plugins import load_registry
    from harness._plugins import make_plugin_manager

    pm = make_plugin_manager(block=disabled)
    registry = load_registry(pm)
    device = resolve_device(device_name, "--device")
    check_precision(precision, device, "--precision")
    numerics = DeviceSection(tf32=tf32, cudnn_benchmark=cudnn_benchmark)
    apply_numerics(numerics)
    results = []
    for name in architectures:
        try:
            results.append(bench_architecture(
                registry, name, task=task, batch_size=batch_size, img_size=img_size,
                precision=precision, memory_format=memory_format, device=device, runs=runs))
        except LookupError as exc:
            raise HarnessError(str(exc).strip("'\"")) from None
    return BenchRun(results, hardware_class(device) + numerics_label(numerics),
                    environment(pm.distributions, device))


def store_bench(store: ResultsStore, study: str, task: str, run: BenchRun) -> None:
    """Store bench results as complete rows of a speed-only study, which leaderboards rank by
    inference throughput."""
    objective = {"name": "infer_samples_per_s", "column": "infer_samples_per_s",
                 "direction": "maximize"}
    study_id = store.ensure_study(name=study, task=task, dataset="synthetic",
                                  objectives=[objective], config={}, space_hash="bench")
    context = TrialContext(device_class=run.hardware, space_hash="bench",
                           environment=run.environment)
    number = store.trial_count(study_id)
    for offset, r in enumerate(run.results):
        plan = TrialPlan(number + offset, 0, r.architecture, "-", "-", r.batch_size,
                         precision=r.precision, memory_format=r.memory_format)
        trial_id = store.start_trial(study_id, plan, context)
        store.finish_trial(trial_id, TrialResult(
            plan, "complete", train_samples_per_s=r.train_samples_per_s,
            inference=InferenceFigures(r.batch_size, r.infer_samples_per_s,
                                       r.infer_latency_ms_p50, r.infer_latency_ms_p90,
                                       r.infer_latency_ms_p99, 0),
            latency_b1=InferenceFigures(1, 0.0, r.latency_b1_ms_p50, r.latency_b1_ms_p50,
                                        r.latency_b1_ms_p99, 0),
            param_count=r.param_count, batch_size_used=r.batch_size,
            peak_memory_mb=r.peak_memory_mb,
            flops_per_sample=r.gflops_per_sample * 1e9 if r.gflops_per_sample else None))


def _classification_io(img_size: int, num_classes: int) -> dict[str, Any]:
    return {"in_chans": 3, "num_classes": num_classes, "img_size": img_size,
            "input_shape": (3, img_size, img_size)}


def bench_architecture(registry: Registry, name: str, *, task: str, batch_size: int,
                       img_size: int, precision: str, memory_format: str, device: Any,
                       train: bool = True, runs: int = 3) -> BenchResult:
    import torch

    from harness._meter import flops_per_sample
    from harness._meter import measure_inference
    from harness._meter import peak_memory_mb
    from harness._specs import ModelRequest

    choices = registry.resolve_architectures(name)
    if len(choices) != 1:
        raise HarnessError(f"'{name}' matches {len(choices)} architectures: name one")
    spec = choices[0].spec
    if task not in spec.tasks:
        raise HarnessError(f"architecture '{name}' does not serve task '{task}' "
                           f"(it serves: {', '.join(spec.tasks)})")
    io, example = _inputs(registry, task, img_size, batch_size, device)
    params = {k: p.default for k, p in spec.params.items()}
    torch.manual_seed(0)
    model = spec.build(ModelRequest(choices[0].name, task, io, params)).to(device)
    if memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    # A standalone benchmark can afford the time a trial cannot: more warm-up, more samples.
    repeated = [measure_inference(model, example(batch_size), batch_size, device, precision,
                                  mode="throughput", min_time_s=3.0 / runs,
                                  max_time_s=20.0 / runs, warmup_max_s=20.0)
                for _ in range(max(1, runs))]
    figures = sorted(repeated, key=lambda f: f.samples_per_s)[len(repeated) // 2]
    speeds = [f.samples_per_s for f in repeated]
    single = measure_inference(model, example(1), 1, device, precision, mode="latency",
                               min_time_s=3.0, max_time_s=20.0, warmup_max_s=20.0)
    flops = flops_per_sample(model, example(1), 1)
    train_speed = _train_speed(model, example(batch_size), batch_size, device,
                               precision) if train and task == "classification" else None
    return BenchResult(
        choices[0].name, task, batch_size, precision, memory_format, str(device),
        figures.samples_per_s, figures.latency_ms_p50, figures.latency_ms_p90,
        figures.latency_ms_p99, single.latency_ms_p50, single.latency_ms_p99, train_speed,
        sum(p.numel() for p in model.parameters()), flops / 1e9 if flops else None,
        peak_memory_mb(device), figures.iterations, figures.iqr_ratio, len(speeds),
        _cv(speeds), (min(speeds), max(speeds)), repeated[0].warmup_s, repeated[0].compile_s)


def _cv(values: list[float]) -> float:
    import statistics

    if len(values) < 2 or statistics.fmean(values) <= 0:
        return 0.0
    return statistics.stdev(values) / statistics.fmean(values)


def _inputs(registry: Registry, task: str, img_size: int, batch_size: int,
            device: Any) -> tuple[dict[str, Any], Any]:
    import torch

    if task == "classification":
        io = _classification_io(img_size, 1000)
        return io, lambda n: torch.randn(n, 3, img_size, img_size, device=device)
    from harness.testing.checks import tiny_task

    instance = tiny_task(registry, registry.tasks.get(task))
    return dict(instance.model_io()), lambda n: instance.example_input(n, device)


def _train_speed(model: Any, x: Any, batch_size: int, device: Any, precision: str,
                 steps: int = 5) -> float:
    """Samples/s of forward + backward + SGD step on synthetic labels (warm-up excluded)."""
    import torch

    from harness._devices import autocast
    from harness._devices import synchronize

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    labels = torch.randint(0, 1000, (batch_size,), device=device)

    def step() -> None:
        with autocast(device, precision):
            loss = torch.nn.functional.cross_entropy(model(x).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()

    step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return batch_size * steps / (time.perf_counter() - started)
