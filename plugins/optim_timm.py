"""Optimizers from ``timm.optim``: lamb, lion, adabelief, adan, lars."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import harness


def _timm(name: str) -> Any:
    def build(params: Iterable[Any], hp: Mapping[str, Any]) -> Any:
        from timm.optim import create_optimizer_v2  # type: ignore[attr-defined]  # re-exported

        extra = {"momentum": hp["momentum"]} if "momentum" in hp else {}
        return create_optimizer_v2(list(params), opt=name, lr=hp["lr"],
                                   weight_decay=hp["weight_decay"], **extra)

    return build


@harness.hookimpl
def register_optimizers(register: harness.RegisterOptimizer) -> None:
    register(harness.OptimizerSpec("lamb", _timm("lamb"), "LAMB (layer-wise adaptive)",
                                   has_betas=True))
    register(harness.OptimizerSpec("lion", _timm("lion"), "Lion (sign momentum)",
                                   has_betas=True))
    register(harness.OptimizerSpec("adabelief", _timm("adabelief"), "AdaBelief",
                                   has_betas=True))
    register(harness.OptimizerSpec("adan", _timm("adan"), "Adan (Nesterov adaptive)",
                                   has_betas=True))
    register(harness.OptimizerSpec("lars", _timm("lars"), "LARS (layer-wise rate scaling)",
                                   has_momentum=True))
