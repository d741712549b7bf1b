"""Pretrained weights for timm models and detector backbones, without the internet.

``pretrained`` is ``false`` (untrained), ``true`` or ``"hub"`` (the Hugging Face hub, where it
can be reached), or a path: a ``.safetensors`` file, a ``.pth``/``.pt``/``.bin`` state dict
(read with ``torch.load(weights_only=True)``: a checkpoint cannot run code), or a folder — a
model folder holding one weights file, or a Hugging Face cache (``models--timm--<name>/
snapshots/<rev>/model.safetensors``, as ``harness weights fetch`` fills it). A relative path
is relative to the task file.

Loading goes through timm's own pretrained path (``pretrained_cfg_overlay``), so its per-model
checkpoint filters run (a ViT's position embedding is resized to the task's image size), the
classifier is dropped when the class count differs and the stem is adapted when the channel
count does (``adapt_input_conv``). Before that, the checkpoint's keys are compared with the
model's: a checkpoint for another architecture is one clear line, not a half-loaded model.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import harness

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
PREFERRED = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors")
MIN_SHARED_KEYS = 0.9
"""Share of the model's (non-classifier) parameters the checkpoint must name to be accepted."""


def check_pretrained(value: Any) -> str | None:
    """Vets a task-file ``pretrained`` value (bool, ``"hub"`` or an existing path)."""
    if isinstance(value, bool) or value == "hub":
        return None
    if not isinstance(value, str) or not value:
        return f"pretrained must be true, false, \"hub\" or a path; got {value!r}"
    path = Path(value).expanduser()
    if not path.exists():
        return f"pretrained weights '{value}' do not exist"
    if path.is_file() and path.suffix not in WEIGHT_SUFFIXES:
        return (f"pretrained weights '{value}' are not a checkpoint "
                f"({', '.join(WEIGHT_SUFFIXES)})")
    if path.is_dir() and not any(p.suffix in WEIGHT_SUFFIXES for p in path.rglob("*")):
        return (f"pretrained folder '{value}' holds no weights "
                f"({', '.join(WEIGHT_SUFFIXES)})")
    return None


def weights_file(value: str, model: str) -> Path:
    """The checkpoint file a ``pretrained`` path names (a file, or found in a folder)."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise harness.TrialFailed(f"pretrained weights '{value}' do not exist")
    found = [p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()]
    if not found:
        raise harness.TrialFailed(f"pretrained folder '{value}' holds no weights "
                                  f"({', '.join(WEIGHT_SUFFIXES)})")
    mine = [p for p in found if _names_model(p, model)] or found
    preferred = [p for p in mine if p.name in PREFERRED] or mine
    if len({p.parent for p in preferred}) > 1:
        raise harness.TrialFailed(
            f"pretrained folder '{value}' holds weights for several models "
            f"({', '.join(sorted({p.parent.name for p in preferred})[:3])}, ...): name one")
    def rank(p: Path) -> int:
        return PREFERRED.index(p.name) if p.name in PREFERRED else len(PREFERRED)

    best = [p for p in preferred if rank(p) == min(map(rank, preferred))]
    if len(best) > 1:  # several checkpoints of one model, none by a conventional name
        names = ", ".join(sorted(str(p.relative_to(path)) for p in best)[:5])
        raise harness.TrialFailed(f"pretrained folder '{value}' holds several weight files "
                                  f"({names}): set pretrained to the file to use")
    return best[0]


def _names_model(path: Path, model: str) -> bool:
    """A Hugging Face cache folder is ``models--<org>--<model>[.<tag>]``."""
    base = model.split(".")[0]
    return any(part.startswith("models--") and (part.endswith(f"--{model}")
                                                 or f"--{base}." in part
                                                 or part.endswith(f"--{base}"))
               for part in path.parts)


def read_state_dict(path: Path) -> dict[str, Any]:
    """The tensors of a checkpoint; a training checkpoint's ``state_dict``/``model`` entry."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise harness.TrialFailed(f"pretrained weights '{path}' could not be read: "
                                  f"{type(exc).__name__}: {reason}") from exc
    for key in ("state_dict_ema", "state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not state:
        raise harness.TrialFailed(f"pretrained weights '{path}' hold no state dict")
    return {k.removeprefix("module."): v for k, v in state.items()
            if isinstance(v, torch.Tensor)}


def check_fits(state: Mapping[str, Any], model: Any, path: Path, name: str) -> None:
    """Fail unless the checkpoint names nearly all the model's non-classifier tensors."""
    classifier = _classifier_names(model)
    wanted = [k for k in model.state_dict()
              if k.rsplit(".", 1)[0] not in classifier and "num_batches_tracked" not in k]
    shared = sum(k in state for k in wanted)
    if wanted and shared / len(wanted) < MIN_SHARED_KEYS:
        missing = next(k for k in wanted if k not in state)
        raise harness.TrialFailed(
            f"pretrained weights '{path}' do not fit {name}: they name {shared} of its "
            f"{len(wanted)} tensors (missing e.g. '{missing}'); a checkpoint for another "
            "architecture?")


def _classifier_names(model: Any) -> set[str]:
    names = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else None
    if isinstance(names, str):
        return {names}
    return set(names or ())


def _first_conv(model: Any) -> str | None:
    name = getattr(model, "pretrained_cfg", {}).get("first_conv")
    return name if isinstance(name, str) else (name[0] if name else None)


def timm_model(name: str, pretrained: Any, optional: Mapping[str, Any] | None = None,
               **kwargs: Any) -> Any:
    """``timm.create_model`` with ``pretrained`` as the task file gives it. ``optional``
    arguments are passed when the model takes them (a transformer's ``img_size``; convolutional
    networks reject it): the checkpoint is read and vetted once either way."""
    import timm

    source, failure = _pretrained_arguments(timm, name, pretrained)
    headless = bool(kwargs.get("features_only")) and failure is not None
    quiet = _filtered(_TIMM_BUILDER, _HeadlessBodyKeys()) if headless else contextlib.nullcontext()
    try:
        with quiet:
            model = _create(timm, name, {**source, **kwargs}, optional or {})
    except TypeError:
        raise  # an argument the model does not take: not a weights problem
    except Exception as exc:
        if failure is None:
            raise
        raise harness.TrialFailed(f"{failure}: {' '.join(str(exc).split())[:240]}") from exc
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict):
        cfg.pop("state_dict", None)  # keep the model light to pickle
    if failure is not None:
        zero_new_head(model, int(kwargs.get("num_classes", 0)))
    return model


def zero_new_head(model: Any, num_classes: int) -> None:
    """Start a new classifier on pretrained features at zero (BiT, Kolesnikov et al. 2020):
    the first logits are all equal, so the loss starts at ln K and the backbone gets no
    gradient until the head has learnt something. timm's own initialisation is meant for
    training from scratch: EfficientNet's draws head weights from ±1/√(classes), ±0.71 for two
    classes, whose first logits on pretrained features are around ±6 — a first-epoch loss of
    3.5–4 whose gradients wreck the backbone before the head settles. A head the checkpoint
    provides (same class count) is kept."""
    import torch

    cfg = getattr(model, "pretrained_cfg", None) or {}
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(head, torch.nn.Linear) or num_classes == cfg.get("num_classes"):
        return
    with torch.no_grad():
        head.weight.zero_()
        if head.bias is not None:
            head.bias.zero_()


_TIMM_BUILDER = "timm.models._builder"


class _HeadlessBodyKeys(logging.Filter):
    """Drops timm's "Unexpected keys … found while loading pretrained weights" for a
    features-only body: the checkpoint's head tensors are always unexpected there (the body
    has no head), and the checkpoint is timm's own for the model or was vetted against the
    whole model's names (:func:`check_fits`), so the line would only be noise on every trial."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unexpected keys (")


@contextlib.contextmanager
def _filtered(logger: str, log_filter: logging.Filter) -> Iterator[None]:
    target = logging.getLogger(logger)
    target.addFilter(log_filter)
    try:
        yield
    finally:
        target.removeFilter(log_filter)


def _create(timm: Any, name: str, kwargs: dict[str, Any], optional: Mapping[str, Any]) -> Any:
    if not optional:
        return timm.create_model(name, **kwargs)
    try:
        return timm.create_model(name, **kwargs, **optional)
    except TypeError:
        return timm.create_model(name, **kwargs)


def _pretrained_arguments(timm: Any, name: str,
                          pretrained: Any) -> tuple[dict[str, Any], str | None]:
    """``create_model``'s weight arguments, and how a failure to load them is said (None:
    no weights, nothing to say)."""
    if pretrained is False or pretrained is None:
        return {"pretrained": False}, None
    if pretrained is True or pretrained == "hub":
        return {"pretrained": True}, (
            f"pretrained weights for '{name}' could not be fetched from the hub (no network "
            "access? use a local file or `harness weights fetch` where there is one)")
    path = weights_file(str(pretrained), name)
    state = read_state_dict(path)
    probe = timm.create_model(name, pretrained=False)
    check_fits(state, probe, path, name)
    overlay = {"state_dict": state, **_source_shape(state, probe)}
    return ({"pretrained": True, "pretrained_cfg_overlay": overlay},
            f"pretrained weights '{path}' do not load into {name}")


def _source_shape(state: Mapping[str, Any], probe: Any) -> dict[str, Any]:
    """The checkpoint's own class and channel counts, so timm adapts head and stem right."""
    shape: dict[str, Any] = {}
    classifier = sorted(_classifier_names(probe))
    weight = state.get(f"{classifier[0]}.weight") if classifier else None
    if weight is not None:
        shape["num_classes"] = int(weight.shape[0])
    conv = _first_conv(probe)
    stem = state.get(f"{conv}.weight") if conv else None
    size = probe.pretrained_cfg.get("input_size") or (3, 224, 224)
    if stem is not None and stem.ndim == 4:
        shape["input_size"] = (int(stem.shape[1]), *size[1:])
    return shape
