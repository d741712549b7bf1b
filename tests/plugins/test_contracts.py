"""Every builtin plugin passes the shipped conformance kit; the kit catches planted faults."""

from __future__ import annotations

import time

import pytest
import torch

import harness
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness.data import ImageClassificationData
from harness.data import ImageSplit
from harness.testing import ArchitectureContract
from harness.testing import DatasetContract
from harness.testing import OptimizerContract
from harness.testing import check_architecture
from harness.testing import check_dataset
from harness.testing import check_optimizer
from harness.testing import check_pruner
from harness.testing import check_sampler
from harness.testing import check_scheduler
from harness.testing import check_task
from harness.testing import installed_registry

REGISTRY = installed_registry()
# The timm catalog holds ~1,300 models; a CNN, a mobile net and a ViT stand for it here.
TIMM_SAMPLES = ("resnet10t", "mobilenetv3_small_050", "vit_tiny_patch16_224")
ITEMS = (
    [(check_task, n) for n in REGISTRY.tasks.names()]
    + [(check_dataset, n) for n in REGISTRY.datasets.names()]
    + [(check_architecture, n) for n in (*REGISTRY.architectures.names(), *TIMM_SAMPLES)]
    + [(check_optimizer, n) for n in REGISTRY.optimizers.names()]
    + [(check_scheduler, n) for n in REGISTRY.schedulers.names()]
    + [(check_sampler, n) for n in REGISTRY.samplers.names()]
    + [(check_pruner, n) for n in REGISTRY.pruners.names()]
)


@pytest.mark.parametrize(("check", "name"), ITEMS,
                         ids=[f"{c.__name__.removeprefix('check_')}-{n}" for c, n in ITEMS])
def test_builtin_passes_the_conformance_kit(check, name):
    results = check(REGISTRY, name)
    assert results, "the kit checked nothing"
    failed = [f"{r.check}: {r.detail}" for r in results if r.ok is False]
    assert failed == []


def test_file_datasets_are_skipped_with_a_reason():
    (result,) = check_dataset(REGISTRY, "voc")
    assert result.ok is None and "needs files" in result.detail


# The contract classes are what third parties subclass; builtins use them too.
class TestSmallCNN(ArchitectureContract):
    name = "small_cnn"


class TestAdamW(OptimizerContract):
    name = "adamw"


class TestDigits(DatasetContract):
    name = "digits"


# -- planted faults ----------------------------------------------------------------------------

def _linear(request, noise=False):
    from torch import nn

    c, h, w = request.io["input_shape"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(c * h * w, request.io["num_classes"])
            self.unpicklable = lambda x: x  # a lambda attribute cannot be pickled

        def forward(self, x):
            out = self.fc(x.flatten(1))
            # the wall clock is outside any seed's reach
            return out * (1 + (time.perf_counter_ns() % 997) / 997) if noise else out

    return Net()


def _wrong_shape(request):
    from torch import nn

    c, h, w = request.io["input_shape"]
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 3))  # not num_classes


def _lazy_optimizer(params, hp):
    class DoesNothing(torch.optim.SGD):
        def step(self, closure=None):
            return None

    return DoesNothing(params, lr=hp["lr"])


def _images(n, seed=None):
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)


def _leaky_data(options):
    import numpy as np

    images = _images(20, seed=0)
    labels = np.arange(20) % 3
    labels[0] = 7  # out of range for three classes
    train = ImageSplit(images[:14], labels[:14])
    test = ImageSplit(images[10:], labels[10:])  # shares four images with train
    return ImageClassificationData(("a", "b", "c"), train, ImageSplit(images[14:], labels[14:]),
                                   test)


def _random_data(options):
    import numpy as np

    images = _images(30)  # unseeded: differs on every load
    labels = np.arange(30) % 2
    return ImageClassificationData(("a", "b"), ImageSplit(images[:10], labels[:10]),
                                   ImageSplit(images[10:20], labels[10:20]),
                                   ImageSplit(images[20:], labels[20:]))


def _not_a_contract(options):
    return {"train": _images(4)}


class Faulty:
    harness_name = "faulty"

    @harness.hookimpl
    def register_architectures(self, register):
        register(harness.ArchitectureSpec("noisy_unpicklable", lambda r: _linear(r, noise=True),
                                          tasks=("classification",)))
        register(harness.ArchitectureSpec("wrong_shape", _wrong_shape, tasks=("classification",)))

    @harness.hookimpl
    def register_optimizers(self, register):
        register(harness.OptimizerSpec("lazy", _lazy_optimizer, has_weight_decay=False))

    @harness.hookimpl
    def register_datasets(self, register):
        register(harness.DatasetSpec("leaky", "image_classification", _leaky_data, test_options={}))
        register(harness.DatasetSpec("random", "image_classification", _random_data,
                                     test_options={}))
        register(harness.DatasetSpec("untyped", "image_classification", _not_a_contract,
                                     test_options={}))


@pytest.fixture(scope="module")
def faulty_registry():
    return load_registry(make_plugin_manager(extra=[Faulty()]))


def _failures(results):
    return {r.check: r.detail for r in results if r.ok is False}


def test_kit_catches_a_broken_architecture(faulty_registry):
    noisy = _failures(check_architecture(faulty_registry, "noisy_unpicklable"))
    assert set(noisy) == {"[classification] deterministic under a seed",
                          "[classification] picklable (worker processes)",
                          "[classification] exports to ONNX (batch)"}  # its noise differs
    wrong = _failures(check_architecture(faulty_registry, "wrong_shape"))
    assert "[classification] trains a step" in wrong
    assert "Target" in wrong["[classification] trains a step"] or "out of bounds" in wrong[
        "[classification] trains a step"]


def test_kit_catches_a_broken_optimizer(faulty_registry):
    assert _failures(check_optimizer(faulty_registry, "lazy")) == {
        "steps a model": "a step left every parameter unchanged"}


def test_kit_catches_broken_datasets(faulty_registry):
    leaky = _failures(check_dataset(faulty_registry, "leaky"))
    assert leaky == {"splits disjoint": "4 of 10 test samples also appear in train",
                     "labels in range": "train has labels outside [0, 3): [7]"}
    assert _failures(check_dataset(faulty_registry, "random")) == {
        "deterministic": "two loads with the same options differ"}
    assert _failures(check_dataset(faulty_registry, "untyped")) == {
        "loads": "DataError: dataset 'untyped' (kind image_classification) returned a dict, "
                 "not harness.data.ImageClassificationData"}


@pytest.mark.parametrize(("check", "kind"), [
    (check_architecture, "architecture"), (check_optimizer, "optimizer"),
    (check_scheduler, "scheduler"), (check_dataset, "dataset"), (check_task, "task")])
def test_an_unknown_name_fails_one_registration_check(check, kind):
    (result,) = check(REGISTRY, "no_such_plugin")
    assert (result.check, result.ok) == ("is registered", False)
    assert result.detail == f"no {kind} named 'no_such_plugin'"


def _search_registry(*specs):
    class Planted:
        @harness.hookimpl
        def register_samplers(self, register: harness.RegisterSampler) -> None:
            for spec in specs:
                if isinstance(spec, harness.SamplerSpec):
                    register(spec)

        @harness.hookimpl
        def register_pruners(self, register: harness.RegisterPruner) -> None:
            for spec in specs:
                if isinstance(spec, harness.PrunerSpec):
                    register(spec)

    return load_registry(make_plugin_manager(autoload=False, extra=[Planted()]))


def _failed(results):
    return {r.check: r.detail for r in results if r.ok is False}


def test_the_kit_catches_a_sampler_outside_its_space_or_unseeded():
    import optuna

    class Wild(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):
            if name == "lr":
                return 10.0  # far outside [1e-4, 1e-1]
            return super().sample_independent(study, trial, name, distribution)

    registry = _search_registry(
        harness.SamplerSpec("wild", build=lambda request: Wild(seed=request.seed)),
        harness.SamplerSpec("unseeded", build=lambda request: optuna.samplers.RandomSampler()),
        harness.SamplerSpec("not_a_sampler", build=lambda request: object()))
    assert "proposes inside the space" in _failed(check_sampler(registry, "wild"))
    assert "same seed, same proposals" in _failed(check_sampler(registry, "unseeded"))
    assert "builds an Optuna sampler" in _failed(check_sampler(registry, "not_a_sampler"))
    assert _failed(check_sampler(registry, "missing")) == {
        "is registered": "no sampler named 'missing'"}


def test_the_kit_catches_a_pruner_that_raises():
    import optuna

    class Broken(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            raise RuntimeError("a pruner bug")

    registry = _search_registry(harness.PrunerSpec("broken", build=lambda request: Broken()))
    assert "a pruner bug" in _failed(check_pruner(registry, "broken"))["decides every epoch"]


def _flat_linear(request):
    from torch import nn
    c, h, w = request.io["input_shape"]
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, request.io["num_classes"]))


class _Unexportable(torch.nn.Module):
    """A model whose forward uses an operator ONNX has none of."""

    def __init__(self, request):
        super().__init__()
        self.inner = _flat_linear(request)

    def forward(self, x):
        out = self.inner(x)
        return out + torch.linalg.svdvals(out[:, :2, None]).sum()


class _ExportPlugin:
    @harness.hookimpl
    def register_architectures(self, register: harness.RegisterArchitecture) -> None:
        register(harness.ArchitectureSpec("plain", _flat_linear, ("classification",)))
        register(harness.ArchitectureSpec("declined", _flat_linear, ("classification",),
                                          onnx_export="none",
                                          export_note="keeps a Python callback"))
        register(harness.ArchitectureSpec("unexportable", _Unexportable,
                                          ("classification",)))


def test_the_kit_tries_the_promised_export_and_skips_a_declared_refusal():
    registry = load_registry(make_plugin_manager(extra=[_ExportPlugin()]))
    plain = {r.check: r for r in check_architecture(registry, "plain")}
    assert plain["[classification] exports to ONNX (batch)"].ok is True
    declined = {r.check: r for r in check_architecture(registry, "declined")}
    skipped = declined["[classification] exports to ONNX (none)"]
    assert skipped.ok is None and skipped.detail == "keeps a Python callback"
    broken = _failures(check_architecture(registry, "unexportable"))
    assert set(broken) == {"[classification] exports to ONNX (batch)"}
