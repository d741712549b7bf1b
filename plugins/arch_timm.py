"""Architecture catalog ``timm``: every timm model, by name or wildcard (``resnet1*``).

Models are built untrained unless ``pretrained`` is set in ``[search.space.timm]``: ``true``
fetches published weights from the Hugging Face hub (where it can be reached), a path loads a
local ``.safetensors``/``.pth`` file or weights folder (``harness_plugins._weights``). The head
is new for the task's classes and the stem adapts to its channels. Fine-tuning is searchable:
``backbone_lr_scale``, ``freeze_epochs``, ``layer_decay`` and ``backbone_norm``
(``harness_plugins._finetune``).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import harness
from harness_plugins._finetune import BACKBONE_NORM
from harness_plugins._finetune import FINE_TUNING
from harness_plugins._finetune import backbone_and_head
from harness_plugins._finetune import freeze_norm
from harness_plugins._finetune import frozen_norm
from harness_plugins._weights import check_pretrained
from harness_plugins._weights import timm_model

PARAMS = {
    "drop_rate": harness.Float(0.0, 0.0, 0.3, search=False, help="classifier dropout"),
    "pretrained": harness.Choice(False, (False, True, "hub"), search=False,
                                 check=check_pretrained, paths=True,
                                 help="false, true/\"hub\" (needs network access), or a local "
                                      ".safetensors/.pth file or weights folder"),
    **FINE_TUNING,
    **BACKBONE_NORM,
}


def list_names() -> Sequence[str]:
    import timm

    return timm.list_models()  # type: ignore[no-any-return]


def build(request: harness.ModelRequest) -> Any:
    io, p = request.io, request.params
    kwargs = {"num_classes": int(io["num_classes"]), "in_chans": int(io["in_chans"]),
              "drop_rate": float(p["drop_rate"])}
    # Transformers need the input size; convolutional networks reject the argument.
    model = timm_model(request.name, p["pretrained"], optional={"img_size": io["img_size"]},
                       **kwargs)
    return freeze_norm(model) if frozen_norm(p) else model


def param_groups(model: Any, params: Mapping[str, Any]) -> list[harness.ParamGroup]:
    """Classifier at the trial's learning rate; the rest scaled by ``backbone_lr_scale``,
    layer-wise decayed by ``layer_decay`` and frozen for ``freeze_epochs``."""
    return backbone_and_head(model, list(model.get_classifier().parameters()), params,
                             layer_decay=float(params["layer_decay"]))


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    register(harness.ArchitectureCatalogSpec(
        name="timm", list_names=list_names, build=build, tasks=("classification",),
        params=PARAMS, description="every timm model (CNNs and ViTs), untrained by default",
        param_groups=param_groups,
        sample_variant="resnet10t"))
