"""Contract tests over every registered builtin: each builds and takes a real training step."""

from __future__ import annotations

import copy

import pytest
import torch

from harness.plugins import load_registry
from harness.plugins import make_plugin_manager
from harness.specs import ModelRequest
from harness.specs import SchedulePlan
from harness.specs import TaskContext

REGISTRY = load_registry(make_plugin_manager())
# The timm catalog holds ~1,300 models; a CNN, a mobile net and a ViT stand for it here.
TIMM_SAMPLES = ("resnet10t", "mobilenetv3_small_050", "vit_tiny_patch16_224")
# Each task trains on a tiny slice of its builtin dataset.
TINY_DATA = {
    "classification": ("digits", {}, {"image_size": 32}),
    "detection": ("shapes", {"image_size": 64, "train_images": 8, "val_images": 4,
                             "test_images": 4}, {"image_size": 64}),
}
_TASKS: dict[str, object] = {}


def tiny_task(name: str):
    """A built task object on tiny data, shared across tests (building data is the slow part)."""
    if name not in _TASKS:
        spec = REGISTRY.tasks.get(name)
        dataset, options, overrides = TINY_DATA[name]
        dspec = REGISTRY.datasets.get(dataset)
        data = dspec.load({**{k: o.default for k, o in dspec.options.items()}, **options})
        params = {**_defaults(spec.params), **overrides}
        _TASKS[name] = spec.build(TaskContext(data, params, {}, seed=0))
    return _TASKS[name]


def _defaults(params):
    return {name: p.default for name, p in params.items()}


def _architectures():
    for name in REGISTRY.architectures.names():
        yield name, REGISTRY.architectures.get(name)
    catalog = REGISTRY.catalogs.get("timm")
    for name in TIMM_SAMPLES:
        assert name in REGISTRY.catalog_names(catalog)
        yield name, catalog


@pytest.mark.parametrize(("name", "spec"), list(_architectures()), ids=lambda v: str(v)[:30])
def test_architecture_trains_a_step_and_evaluates(name, spec):
    cpu = torch.device("cpu")
    for task_name in spec.tasks:
        task = tiny_task(task_name)
        torch.manual_seed(0)
        model = spec.build(ModelRequest(name, task_name, task.model_io(),
                                        _defaults(spec.params)))
        model.train()
        loss, count = task.train_step(model, next(iter(task.train_batches(4, 1))), cpu)
        assert count == 4 and torch.isfinite(loss)
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
        model.eval()
        with torch.inference_mode():
            metrics = task.evaluate(model, "val", 16, cpu)
            model(task.example_input(2, cpu))
        spec_metrics = {m.name for m in REGISTRY.tasks.get(task_name).metrics}
        assert spec_metrics - {"top5_accuracy"} <= set(metrics)
        assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


@pytest.mark.parametrize("name", REGISTRY.optimizers.names())
def test_optimizer_steps_and_round_trips_its_state(name):
    spec = REGISTRY.optimizers.get(name)
    hp = {"lr": 0.01, **_defaults(spec.params)}
    if spec.has_weight_decay:
        hp["weight_decay"] = 1e-4
    if spec.has_momentum:
        hp["momentum"] = 0.9
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    before = copy.deepcopy(model.state_dict())
    optimizer = spec.build(model.parameters(), hp)
    model(torch.randn(8, 4)).pow(2).mean().backward()
    optimizer.step()
    assert not torch.equal(before["weight"], model.weight.detach())
    restored = spec.build(torch.nn.Linear(4, 2).parameters(), hp)
    restored.load_state_dict(optimizer.state_dict())


@pytest.mark.parametrize("name", REGISTRY.schedulers.names())
def test_scheduler_runs_the_whole_plan(name):
    spec = REGISTRY.schedulers.get(name)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plan = SchedulePlan(epochs=3, steps_per_epoch=5)
    scheduler = spec.build(optimizer, plan, _defaults(spec.params))
    rates = []
    for _ in range(plan.total_steps):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert all(0 <= r <= 0.1 + 1e-9 for r in rates)
    if name != "constant":
        assert rates[-1] < 0.1


def test_every_spec_documents_itself():
    for kind, spec in REGISTRY.all_specs():
        assert spec.description, f"{kind} '{spec.name}' has no description"
        for pname, param in getattr(spec, "params", {}).items():
            assert param.help or kind == "optimizer", f"{spec.name}.{pname} has no help"
