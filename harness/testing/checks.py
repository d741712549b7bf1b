"""Conformance checks for plugins: the functions behind ``harness plugins check`` and the
contract base classes in :mod:`harness.testing`.

Each check returns :class:`CheckResult` records instead of raising, so one broken item never
hides the others. They run on the CPU with tiny data: a dataset's ``test_options`` and a task's
``test_params`` keep them small.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import TypeGuard
from typing import TypeVar

from harness._registry import ArchitectureChoice
from harness._registry import Registry
from harness._specs import DatasetSpec
from harness._specs import ModelRequest
from harness._specs import SchedulePlan
from harness._specs import TaskContext
from harness._specs import TaskSpec

__all__ = ["CheckResult", "check_architecture", "check_dataset", "check_optimizer",
           "check_scheduler", "check_task"]

MAX_SPLIT_OVERLAP = 0.02  # real datasets hold a few exact duplicate samples; more is a leak


@dataclass(frozen=True)
class CheckResult:
    kind: str
    name: str
    check: str
    ok: bool | None  # None: skipped (the detail says why)
    detail: str = ""


_T = TypeVar("_T")


class _Checker:
    """Collects results; a check that raises is a failure with the exception as its detail."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        self.results: list[CheckResult] = []

    def run(self, check: str, func: Callable[[], str | None]) -> bool:
        try:
            problem = func()
        except Exception as exc:  # the point is to report, not to stop
            problem = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        self.results.append(CheckResult(self.kind, self.name, check, problem is None,
                                        problem or ""))
        return problem is None

    def skip(self, check: str, why: str) -> None:
        self.results.append(CheckResult(self.kind, self.name, check, None, why))

    def registered(self, found: _T | None) -> TypeGuard[_T]:
        """False, recording the failed 'is registered' check, when nothing has the name."""
        if found is None:
            self.run("is registered", lambda: f"no {self.kind} named '{self.name}'")
        return found is not None


def _defaults(params: Any) -> dict[str, Any]:
    return {name: p.default for name, p in params.items()}


# -- tiny task instances -----------------------------------------------------------------------

_DATA_CACHE: dict[tuple[str, str], Any] = {}


def _dataset_for(registry: Registry, task: TaskSpec) -> DatasetSpec | None:
    usable = [d for d in registry.datasets.specs.values()
              if d.data_kind == task.data_kind and d.test_options is not None]
    return sorted(usable, key=lambda d: d.name)[0] if usable else None


def _load(spec: DatasetSpec, options: dict[str, Any]) -> Any:
    key = (spec.name, repr(sorted(options.items())))
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_as_tasks_see_it(spec, options)
    return _DATA_CACHE[key]


def load_as_tasks_see_it(spec: DatasetSpec, options: dict[str, Any],
                         cache_root: str | None = None) -> Any:
    """Load a dataset as a trial's task receives it: for the builtin data kinds, built into a
    dataset cache (a temporary folder by default) and mapped back; otherwise as loaded."""
    from harness.data._cache import DataCache
    from harness.data._materialize import cacheable
    from harness.data._materialize import materialize

    data = spec.load(options)
    if not cacheable(spec.data_kind):
        return data
    views, _ = materialize(dataset=spec.name, kind=spec.data_kind, options=options, data=data,
                           owner="conformance kit", load=spec.load,
                           cache=DataCache(cache_root or _kit_cache()), workers=1)
    return views


_KIT_CACHE: list[Any] = []


def _kit_cache() -> str:
    """One temporary cache folder per process, removed at exit."""
    import tempfile

    if not _KIT_CACHE:
        _KIT_CACHE.append(tempfile.TemporaryDirectory(prefix="harness-kit-cache-"))
    return str(_KIT_CACHE[0].name)


def _options(spec: DatasetSpec, overrides: dict[str, Any] | None) -> dict[str, Any]:
    return {**{k: o.default for k, o in spec.options.items()},
            **(spec.test_options or {}), **(overrides or {})}


def tiny_task(registry: Registry, task: TaskSpec, seed: int = 0) -> Any:
    """A built task on the smallest registered dataset of its kind."""
    dataset = _dataset_for(registry, task)
    if dataset is None:
        raise LookupError(f"no dataset of kind '{task.data_kind}' declares test_options")
    data = _load(dataset, _options(dataset, None))
    params = {**_defaults(task.params), **task.test_params}
    return task.build(TaskContext(data, params, _defaults_options(task), seed))


def _defaults_options(task: TaskSpec) -> dict[str, Any]:
    return {k: o.default for k, o in task.options.items()}


def _first_batch(task: Any) -> Any:
    return next(iter(task.train_batches(4, 1)))


# -- architectures -----------------------------------------------------------------------------

def check_architecture(registry: Registry, name: str) -> list[CheckResult]:
    """Builds for every task it claims; trains a step; evaluates; seeded; picklable."""
    checker = _Checker("architecture", name)
    choice = _resolve(registry, name)
    if not checker.registered(choice):
        return checker.results
    for task_name in choice.spec.tasks:
        if task_name in registry.tasks.specs:
            _architecture_on_task(checker, registry, choice, registry.tasks.get(task_name))
        else:
            checker.skip(f"[{task_name}] trains", f"task '{task_name}' is not installed")
    return checker.results


def _architecture_on_task(checker: _Checker, registry: Registry, choice: ArchitectureChoice,
                          task_spec: TaskSpec) -> None:
    import torch

    cpu = torch.device("cpu")
    task = tiny_task(registry, task_spec)
    batch = _first_batch(task)

    def build(seed: int = 0) -> Any:
        torch.manual_seed(seed)
        request = ModelRequest(choice.name, task_spec.name, task.model_io(),
                               _defaults(choice.spec.params))
        return choice.spec.build(request)

    def step_loss(model: Any) -> Any:
        model.train()
        loss, _ = task.train_step(model, copy.deepcopy(batch), cpu)
        return loss

    def trains() -> str | None:
        model = build()
        loss = step_loss(model)
        if not torch.isfinite(loss):
            return f"loss is {float(loss)}"
        loss.backward()
        if not any(p.grad is not None and float(p.grad.abs().sum()) > 0
                   for p in model.parameters()):
            return "no parameter received a gradient"
        return None

    def evaluates() -> str | None:
        model = build()
        model.eval()
        with torch.inference_mode():
            metrics = task.evaluate(model, "val", 16, cpu)
            model(task.example_input(2, cpu))
        return _metric_problem(task_spec, metrics)

    def seeded() -> str | None:
        first = step_loss(build(7)).detach().item()
        second = step_loss(build(7)).detach().item()
        return None if math.isclose(first, second, rel_tol=1e-5, abs_tol=1e-6) else (
            f"same seed, different losses: {first} vs {second}")

    def picklable() -> str | None:
        pickle.loads(pickle.dumps(build()))
        return None

    prefix = f"[{task_spec.name}]"
    if checker.run(f"{prefix} builds", lambda: (build(), None)[1]):
        checker.run(f"{prefix} trains a step", trains)
        checker.run(f"{prefix} evaluates", evaluates)
        checker.run(f"{prefix} deterministic under a seed", seeded)
        checker.run(f"{prefix} picklable (worker processes)", picklable)
        _exports(checker, prefix, choice, task, build)


def _exports(checker: _Checker, prefix: str, choice: ArchitectureChoice, task: Any,
             build: Callable[[], Any]) -> None:
    """The export the spec promises (``onnx_export``): written, and answering as PyTorch does
    in ONNX Runtime on a tiny input."""
    import importlib.util

    check = f"{prefix} exports to ONNX ({choice.spec.onnx_export})"
    if choice.spec.onnx_export == "none":
        checker.skip(check, choice.spec.export_note or "its spec says it does not export")
        return
    if importlib.util.find_spec("onnxruntime") is None:
        checker.skip(check, "onnxruntime is not installed (pip install 'harness[export]')")
        return
    checker.run(check, lambda: _onnx_agrees(build(), task, choice.spec.onnx_export == "single"))


def _onnx_agrees(model: Any, task: Any, single: bool) -> str | None:
    import tempfile
    from pathlib import Path

    import torch

    from harness._export.onnx import OnnxModule
    from harness._export.onnx import as_tensor_input
    from harness._export.onnx import export_onnx
    from harness._export.onnx import onnx_session
    from harness._export.onnx import tensor_pairs

    model.eval()
    example = as_tensor_input(task.example_input(1 if single else 2, torch.device("cpu")))
    with tempfile.TemporaryDirectory(prefix="harness-kit-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        names = export_onnx(model, example, path, single)
        onnx = OnnxModule(onnx_session(path), names, detections=names[:1] == ["boxes"])
        with torch.inference_mode():
            expected, actual = model(example), onnx(example)
    for a, b in tensor_pairs(expected, actual):
        if a.shape != b.shape or not torch.allclose(a.float(), b.float(), rtol=1e-3,
                                                    atol=1e-4):
            return "ONNX Runtime's outputs differ from PyTorch's"
    return None


def _resolve(registry: Registry, name: str) -> ArchitectureChoice | None:
    try:
        found = registry.resolve_architectures(name)
    except LookupError:
        return None
    return found[0] if len(found) == 1 and found[0].name == name else None


def _metric_problem(task: TaskSpec, metrics: dict[str, float]) -> str | None:
    if task.primary_metric not in metrics:
        return f"primary metric '{task.primary_metric}' missing from {sorted(metrics)}"
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    return f"non-finite metrics: {bad}" if bad else None


# -- optimizers and schedulers -----------------------------------------------------------------

def _optimizer_hp(spec: Any) -> dict[str, Any]:
    generic = {"lr": 0.01, "weight_decay": 1e-4, "momentum": 0.9}
    return {**{n: generic[n] for n in spec.generic_params()}, **_defaults(spec.params)}


def _tiny_problem() -> tuple[Any, Any]:
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(4, 2), torch.randn(8, 4)


def check_optimizer(registry: Registry, name: str) -> list[CheckResult]:
    """Steps a model; its state dict round-trips to an identical next step."""
    import torch

    checker = _Checker("optimizer", name)
    spec = registry.optimizers.specs.get(name)
    if not checker.registered(spec):
        return checker.results
    hp = _optimizer_hp(spec)

    def steps() -> str | None:
        model, x = _tiny_problem()
        before = [p.detach().clone() for p in model.parameters()]
        optimizer = spec.build(model.parameters(), hp)
        model(x).pow(2).mean().backward()
        optimizer.step()
        changed = any(not torch.equal(b, p) for b, p in zip(before, model.parameters(),
                                                              strict=True))
        return None if changed else "a step left every parameter unchanged"

    def round_trips() -> str | None:
        model, x = _tiny_problem()
        optimizer = spec.build(model.parameters(), hp)
        for _ in range(2):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
        twin = copy.deepcopy(model)
        restored = spec.build(twin.parameters(), hp)
        # a deep copy, as a checkpoint on disk would be: loading may share tensors otherwise
        restored.load_state_dict(copy.deepcopy(optimizer.state_dict()))
        for m, opt in ((model, optimizer), (twin, restored)):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
        same = all(torch.allclose(a, b) for a, b in zip(model.parameters(), twin.parameters(),
                                                        strict=True))
        return None if same else "a restored optimizer steps differently"

    checker.run("steps a model", steps)
    checker.run("state dict round-trip", round_trips)
    return checker.results


def check_scheduler(registry: Registry, name: str) -> list[CheckResult]:
    """Runs a whole plan with finite, non-negative rates; its state dict loads back."""
    import torch

    checker = _Checker("scheduler", name)
    spec = registry.schedulers.specs.get(name)
    if not checker.registered(spec):
        return checker.results
    plan = SchedulePlan(epochs=3, steps_per_epoch=4)

    def make() -> tuple[Any, Any]:
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return optimizer, spec.build(optimizer, plan, _defaults(spec.params))

    def runs() -> str | None:
        optimizer, scheduler = make()
        for step in range(plan.total_steps):
            optimizer.step()
            scheduler.step()
            lr = optimizer.param_groups[0]["lr"]
            if not (math.isfinite(lr) and lr >= 0):
                return f"learning rate {lr} at step {step}"
        return None

    def round_trips() -> str | None:
        optimizer, scheduler = make()
        for _ in range(3):
            optimizer.step()
            scheduler.step()
        _, fresh = make()
        fresh.load_state_dict(scheduler.state_dict())
        return None

    checker.run("runs the whole plan", runs)
    checker.run("state dict round-trip", round_trips)
    return checker.results


# -- datasets and tasks ------------------------------------------------------------------------

def check_dataset(registry: Registry, name: str,
                  options: dict[str, Any] | None = None) -> list[CheckResult]:
    """Loads deterministically; splits non-empty and disjoint; labels in range.

    ``options`` supplies what a dataset without ``test_options`` needs (e.g. a path).
    """
    checker = _Checker("dataset", name)
    spec = registry.datasets.specs.get(name)
    if not checker.registered(spec):
        return checker.results
    if spec.test_options is None and options is None:
        checker.skip("loads", "needs files: pass options (it declares no test_options)")
        return checker.results
    summarizer = next((t.summarize_data for t in registry.tasks.specs.values()
                       if t.data_kind == spec.data_kind and t.summarize_data), None)
    if summarizer is None:
        checker.skip("loads", f"no installed task summarises '{spec.data_kind}' data")
        return checker.results
    full = _options(spec, options)
    summaries: list[Any] = []
    if not checker.run("loads", lambda: summaries.append(summarizer(
            load_as_tasks_see_it(spec, full)))):
        return checker.results
    summary = summaries[0]
    checker.run("deterministic", lambda: None if summarizer(
        load_as_tasks_see_it(spec, full, _kit_cache() + "/again")) == summary else
                "two loads with the same options differ")
    checker.run("splits non-empty", lambda: _empty_splits(summary))
    checker.run("splits disjoint", lambda: _overlap(summary))
    checker.run("labels in range", lambda: _label_problem(summary))
    return checker.results


def _empty_splits(summary: Any) -> str | None:
    empty = [s for s in ("train", "val", "test") if not summary.fingerprints.get(s)]
    return f"empty split(s): {empty}" if empty else None


def _overlap(summary: Any) -> str | None:
    train = set(summary.fingerprints["train"])
    for split in ("val", "test"):
        prints = summary.fingerprints[split]
        shared = sum(p in train for p in prints)
        if prints and shared / len(prints) > MAX_SPLIT_OVERLAP:
            return f"{shared} of {len(prints)} {split} samples also appear in train"
    return None


def _label_problem(summary: Any) -> str | None:
    for split, labels in summary.labels.items():
        bad = [v for v in labels if not 0 <= v < summary.num_classes]
        if bad:
            return f"{split} has labels outside [0, {summary.num_classes}): {sorted(set(bad))[:5]}"
    return None


def check_task(registry: Registry, name: str) -> list[CheckResult]:
    """Declares its primary metric and directions; metrics are finite on a tiny run."""
    import torch

    checker = _Checker("task", name)
    spec = registry.tasks.specs.get(name)
    if not checker.registered(spec):
        return checker.results
    checker.run("declares its primary metric", lambda: None if spec.metric(
        spec.primary_metric) else f"primary metric '{spec.primary_metric}' is not declared")
    checker.run("metric directions", lambda: next(
        (f"metric '{m.name}' has direction '{m.direction}'" for m in spec.metrics
         if m.direction not in ("maximize", "minimize")), None))
    archs = sorted((a for a in registry.architectures.specs.values() if name in a.tasks),
                   key=lambda a: a.name)
    if _dataset_for(registry, spec) is None or not archs:
        checker.skip("metrics on a tiny run", "needs a dataset with test_options and an "
                     "architecture for this task")
        return checker.results

    def tiny_run() -> str | None:
        task = tiny_task(registry, spec)
        torch.manual_seed(0)
        model = archs[0].build(ModelRequest(archs[0].name, name, task.model_io(),
                                            _defaults(archs[0].params)))
        model.eval()
        with torch.inference_mode():
            return _metric_problem(spec, task.evaluate(model, "val", 16, torch.device("cpu")))

    checker.run("metrics on a tiny run", tiny_run)
    return checker.results
