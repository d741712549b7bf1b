"""Architecture catalog ``timm``: every timm model, by name or wildcard (``resnet1*``).

Models are built untrained unless ``pretrained = true`` is set in ``[search.space.timm]``;
weights come from the Hugging Face hub, so that works only where it can be reached, and fails
with a clear reason where it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import harness

PARAMS = {
    "drop_rate": harness.Float(0.0, 0.0, 0.3, search=False, help="classifier dropout"),
    "pretrained": harness.Choice(False, (False, True), search=False,
                                 help="load published weights (needs network access)"),
}


def list_names() -> Sequence[str]:
    import timm

    return timm.list_models()  # type: ignore[no-any-return]


def build(request: harness.ModelRequest) -> Any:
    import timm

    io, p = request.io, request.params
    kwargs = {"num_classes": int(io["num_classes"]), "in_chans": int(io["in_chans"]),
              "drop_rate": float(p["drop_rate"])}
    pretrained = bool(p["pretrained"])
    try:
        # Transformers need the input size; convolutional networks reject the argument.
        return timm.create_model(request.name, pretrained=pretrained, img_size=io["img_size"],
                                 **kwargs)
    except TypeError:
        return _create(request.name, pretrained, kwargs)
    except Exception as exc:
        if pretrained:
            raise harness.TrialFailed(f"pretrained weights for '{request.name}' could not be "
                                      f"loaded (no network access?): {exc}") from exc
        raise


def _create(name: str, pretrained: bool, kwargs: dict[str, Any]) -> Any:
    import timm

    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except Exception as exc:
        if pretrained:
            raise harness.TrialFailed(f"pretrained weights for '{name}' could not be loaded "
                                      f"(no network access?): {exc}") from exc
        raise


@harness.hookimpl
def register_architectures(register: Any) -> None:
    register(harness.ArchitectureCatalogSpec(
        name="timm", list_names=list_names, build=build, tasks=("classification",),
        params=PARAMS, description="every timm model (CNNs and ViTs), untrained by default",
        sample_variant="resnet10t"))
