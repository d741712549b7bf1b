"""The conditional search space, samplers and pruners, against real Optuna studies."""

from __future__ import annotations

import optuna
import pytest

from harness._config import SAMPLERS
from harness._config import load_config
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._study.planning import suggest_plan
from harness._study.resolve import resolve_task
from harness._study.samplers import create_pruner
from harness._study.samplers import create_sampler


@pytest.fixture(scope="module")
def registry():
    return load_registry(make_plugin_manager())


def _run(write_task, registry, **kw):
    replace = tuple(kw.get("replace", ()))
    return resolve_task(load_config(write_task(replace=replace, append=kw.get("append", ""))),
                       registry)


def test_space_is_conditional_on_the_optimizer(write_task, registry):
    run = _run(write_task, registry, replace=[("width = 8", "width = [8, 16]")])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    plans = []
    for _ in range(12):
        trial = study.ask()
        plans.append((suggest_plan(run, trial, seed=0), trial.params))
        study.tell(trial, 0.5)
    for plan, params in plans:
        assert plan.architecture == "small_cnn"
        assert 8 <= plan.architecture_params["width"] <= 16
        assert "small_cnn.width" in params
        assert ("momentum" in plan.optimizer_params) == (plan.optimizer == "sgd")
        assert "nesterov" in plan.optimizer_params or plan.optimizer != "sgd"
        assert 1e-3 <= plan.optimizer_params["lr"] <= 1e-2
    assert {p.optimizer for p, _ in plans} == {"adamw", "sgd"}
    # fixed plugin parameters are used but never shown to the sampler
    assert all("small_cnn.depth" not in params for _, params in plans)
    assert plans[0][0].architecture_params["depth"] == 1


def test_wildcards_expand_over_timm_names(write_task, registry):
    run = _run(write_task, registry, replace=[('["small_cnn"]', '["small_cnn", "resnet1?t"]')])
    assert [a.name for a in run.architectures] == ["small_cnn", "resnet10t", "resnet14t"]
    assert run.architecture("resnet10t").params_key == "timm"


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_drives_the_space(write_task, registry, sampler):
    run = _run(write_task, registry, replace=[('sampler = "random"', f'sampler = "{sampler}"')])
    study = optuna.create_study(sampler=create_sampler(run, seed=0), direction="maximize")
    for i in range(3):
        trial = study.ask()
        plan = suggest_plan(run, trial, seed=0)
        study.tell(trial, float(i) / 10)
        assert plan.optimizer in ("adamw", "sgd")
    assert len(study.trials) == 3


@pytest.mark.parametrize(("name", "cls"), [
    ("none", optuna.pruners.NopPruner), ("median", optuna.pruners.MedianPruner),
    ("percentile", optuna.pruners.PercentilePruner),
    ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
    ("hyperband", optuna.pruners.HyperbandPruner)])
def test_pruners(write_task, registry, name, cls):
    run = _run(write_task, registry, replace=[('pruner = "none"', f'pruner = "{name}"')])
    assert isinstance(create_pruner(run), cls)


def test_multi_objective_gets_directions_and_no_pruning(write_task, registry):
    run = _run(write_task, registry, replace=[
        ('pruner = "none"', 'pruner = "median"'),
        ("seed = 0", 'seed = 0\nobjectives = ["accuracy", "infer_samples_per_s"]')])
    assert [(o.column, o.direction) for o in run.objectives] == [
        ("val_accuracy", "maximize"), ("infer_samples_per_s", "maximize")]
    assert isinstance(create_pruner(run), optuna.pruners.NopPruner)


def test_loss_objective_is_minimised(write_task, registry):
    run = _run(write_task, registry, replace=[("seed = 0", 'seed = 0\nobjectives = ["val_loss"]')])
    assert run.objectives[0].direction == "minimize"
