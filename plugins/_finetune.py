"""Fine-tuning as search dimensions, shared by the timm catalog and the detectors.

A pretrained backbone usually wants a smaller learning rate than the new head, sometimes a
few epochs frozen while the head settles, and (for deep networks) layer-wise decay: each
layer's rate shrinks geometrically from the head down (BEiT/ConvNeXt fine-tuning). These are
hyperparameters like any other; the core applies the resulting parameter groups
(``harness.ParamGroup``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import harness

BACKBONE_NORM = {
    "backbone_norm": harness.Choice("train", ("train", "frozen"), search=False,
                                    help="the backbone's BatchNorm: train (statistics from "
                                         "each batch) or frozen (the weights' own, unchanged)"),
}

FINE_TUNING = {
    "backbone_lr_scale": harness.Float(1.0, 0.01, 1.0, log=True, search=False,
                                       help="backbone learning rate as a share of the head's"),
    "freeze_epochs": harness.Int(0, 0, 5, search=False,
                                 help="first epochs with the backbone frozen (head only)"),
    "layer_decay": harness.Float(1.0, 0.5, 1.0, search=False,
                                 help="layer-wise learning-rate decay from the head down "
                                      "(1 = off; timm models only)"),
}


def backbone_and_head(model: Any, head: list[Any], params: Mapping[str, Any],
                      layer_decay: float = 1.0) -> list[harness.ParamGroup]:
    """The head at full rate; everything else the backbone, scaled, decayed and frozen."""
    head_ids = {id(p) for p in head}
    scale = float(params["backbone_lr_scale"])
    frozen = int(params["freeze_epochs"])
    groups = [harness.ParamGroup(head)] if head else []
    for tensors, layer_scale in _layers(model, head_ids, layer_decay):
        groups.append(harness.ParamGroup(tensors, lr_scale=scale * layer_scale,
                                         frozen_epochs=frozen))
    return groups


def _layers(model: Any, head_ids: set[int], decay: float) -> list[tuple[list[Any], float]]:
    """Backbone tensors grouped by learning-rate scale: one group, or one per layer when
    ``decay`` < 1 and timm can tell the layers apart (its ``group_matcher``)."""
    rest = [p for p in model.parameters() if id(p) not in head_ids]
    if decay >= 1.0 or not hasattr(model, "group_matcher"):
        return [(rest, 1.0)] if rest else []
    from timm.optim import param_groups_layer_decay  # type: ignore[attr-defined]  # re-exported

    by_scale: dict[float, list[Any]] = {}
    for group in param_groups_layer_decay(model, weight_decay=0.0, layer_decay=decay):
        tensors = [p for p in group["params"] if id(p) not in head_ids]
        by_scale.setdefault(float(group.get("lr_scale", 1.0)), []).extend(tensors)
    return [(tensors, scale) for scale, tensors in sorted(by_scale.items()) if tensors]


def frozen_norm(params: Mapping[str, Any]) -> bool:
    """Whether the backbone's BatchNorm keeps the weights' statistics and scales.

    torchvision and Detectron2 freeze it in pretrained detector backbones: at one or two
    images a GPU batch, batch statistics are noise; on a few-shot photo folder it decided
    whether fine-tuning beat the linear probe (the README's recipe sets it). Trained stays the
    default: detectors measured better with it on CPU-sized batches of 8, and it is what
    models trained from scratch need (docs/benchmarks.md, "Fine-tuning ranges" and "Detection
    fine-tuning"). Parameters stored before ``backbone_norm`` existed read as ``train``, as
    they trained."""
    default = BACKBONE_NORM["backbone_norm"].default
    return params.get("backbone_norm", default) == "frozen"


def freeze_norm(model: Any) -> Any:
    """``model`` with every BatchNorm turned into timm's frozen BatchNorm (the statistics and
    scales it holds, never updated; in evaluation it computes what BatchNorm does)."""
    from timm.layers.norm_act import freeze_batch_norm_2d

    return freeze_batch_norm_2d(model)  # type: ignore[no-untyped-call]  # timm is untyped
