"""Contract tests over every registered builtin: each builds and takes a real training step."""

from __future__ import annotations

import copy

import pytest
import torch

from harness.plugins import load_registry
from harness.plugins import make_plugin_manager
from harness.specs import ModelRequest
from harness.specs import SchedulePlan

REGISTRY = load_registry(make_plugin_manager())
IO = {"in_chans": 1, "num_classes": 10, "img_size": 32, "input_shape": (1, 32, 32)}
# The timm catalog holds ~1,300 models; a CNN, a mobile net and a ViT stand for it here.
TIMM_SAMPLES = ("resnet10t", "mobilenetv3_small_050", "vit_tiny_patch16_224")


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
def test_architecture_trains_a_step(name, spec):
    for task in spec.tasks:
        torch.manual_seed(0)
        model = spec.build(ModelRequest(name, task, IO, _defaults(spec.params)))
        x, y = torch.randn(4, 1, 32, 32), torch.randint(0, 10, (4,))
        logits = model(x)
        assert logits.shape == (4, 10)
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


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
