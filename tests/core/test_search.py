"""The conditional search space, samplers and pruners, against real Optuna studies."""

from __future__ import annotations

import optuna
import pytest

from harness._config import load_config
from harness._plan.planning import suggest_plan
from harness._plan.resolve import resolve_task
from harness._plan.samplers import create_pruner
from harness._plan.samplers import create_sampler
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager

# What `[search] sampler` may name with no plugin installed (plugins/search_optuna.py).
BUILTIN_SAMPLERS = ("tpe", "random", "cmaes", "gp", "nsgaii", "qmc", "grid")


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


def test_the_builtin_samplers_are_registered_like_a_plugins(registry):
    assert set(BUILTIN_SAMPLERS) <= set(registry.samplers.names())
    assert {registry.samplers.owners[n] for n in BUILTIN_SAMPLERS} == {"optuna_search"}


@pytest.mark.parametrize("sampler", BUILTIN_SAMPLERS)
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


class OwnLearningRate:
    """A plugin optimizer that declares its own lr range and a parameter named like a
    generic one (``batch_size``)."""

    harness_name = "own_lr"

    @staticmethod
    @__import__("harness").hookimpl
    def register_optimizers(register):
        import harness

        def build(params, hp):
            import torch

            return torch.optim.SGD(params, lr=hp["lr"])

        register(harness.OptimizerSpec(
            "own_lr_sgd", build, has_weight_decay=False,
            params={"lr": harness.Float(0.5, 0.2, 0.9, log=True),
                    "batch_size": harness.Int(3, 1, 5, help="not the training batch size")}))


def _own_lr_run(write_task, replace=()):
    registry = load_registry(make_plugin_manager(extra=[OwnLearningRate()]))
    task = write_task(replace=(('optimizers = ["adamw", "sgd"]', 'optimizers = ["own_lr_sgd"]'),
                               *replace))
    return resolve_task(load_config(task), registry)


def test_an_optimizers_own_lr_replaces_the_generic_one(write_task):
    # Before: the generic `lr` stayed a (dead) sampled dimension and the leaderboard showed a
    # bare `lr` without saying which one the optimizer used.
    run = _own_lr_run(write_task, replace=(("lr = [1e-3, 1e-2]\n", ""),))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(5):
        trial = study.ask()
        plan = suggest_plan(run, trial, seed=0)
        study.tell(trial, 0.5)
        assert "lr" not in trial.params and "own_lr_sgd.lr" in trial.params
        assert 0.2 <= plan.optimizer_params["lr"] <= 0.9 and plan.lr == plan.optimizer_params["lr"]
        flat = plan.hyperparameters()
        assert "lr" not in flat and flat["opt.lr"] == plan.optimizer_params["lr"]


def test_an_optimizer_parameter_never_overwrites_a_generic_one(write_task):
    # Before: optimizer parameters were flattened bare, so `batch_size = 3` replaced the
    # trial's real batch size of 64 in the stored hyperparameters.
    run = _own_lr_run(write_task, replace=(("lr = [1e-3, 1e-2]\n", ""),))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    flat = suggest_plan(run, trial, seed=0).hyperparameters()
    assert flat["batch_size"] == 64
    assert 1 <= flat["opt.batch_size"] <= 5


def test_a_generic_range_no_chosen_optimizer_takes_is_an_error(write_task):
    from harness._errors import ConfigError

    with pytest.raises(ConfigError, match=r"search\.lr: no chosen optimizer takes the generic "
                                          r"lr; own_lr_sgd declare\(s\) their own: set it in "
                                          r"\[search\.space\.own_lr_sgd\]"):
        _own_lr_run(write_task)
