"""Optimizers from ``torch.optim``: sgd, adam, adamw, rmsprop, nadam, radam, adagrad."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import harness

BETAS = {
    "beta1": harness.Float(0.9, 0.8, 0.95, search=False, help="first-moment decay"),
    "beta2": harness.Float(0.999, 0.99, 0.9999, search=False, help="second-moment decay"),
}


def _sgd(params: Iterable[Any], hp: Mapping[str, Any]) -> Any:
    import torch

    return torch.optim.SGD(params, lr=hp["lr"], momentum=hp["momentum"],
                           weight_decay=hp["weight_decay"], nesterov=bool(hp["nesterov"]))


def _with_betas(name: str) -> Any:
    def build(params: Iterable[Any], hp: Mapping[str, Any]) -> Any:
        import torch

        cls = getattr(torch.optim, name)
        return cls(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                   weight_decay=hp["weight_decay"])

    return build


def _rmsprop(params: Iterable[Any], hp: Mapping[str, Any]) -> Any:
    import torch

    return torch.optim.RMSprop(params, lr=hp["lr"], momentum=hp["momentum"],
                               weight_decay=hp["weight_decay"])


def _adagrad(params: Iterable[Any], hp: Mapping[str, Any]) -> Any:
    import torch

    return torch.optim.Adagrad(params, lr=hp["lr"], weight_decay=hp["weight_decay"])


@harness.hookimpl
def register_optimizers(register: harness.RegisterOptimizer) -> None:
    register(harness.OptimizerSpec(
        "sgd", _sgd, "stochastic gradient descent with (Nesterov) momentum", has_momentum=True,
        params={"nesterov": harness.Choice(True, (True, False), search=False)}))
    for name, cls, what in (("adam", "Adam", "Adam"), ("adamw", "AdamW", "Adam, decoupled decay"),
                            ("nadam", "NAdam", "Adam with Nesterov momentum"),
                            ("radam", "RAdam", "rectified Adam")):
        register(harness.OptimizerSpec(name, _with_betas(cls), what, has_betas=True,
                                       params=BETAS))
    register(harness.OptimizerSpec("rmsprop", _rmsprop, "RMSprop", has_momentum=True))
    register(harness.OptimizerSpec("adagrad", _adagrad, "Adagrad"))
