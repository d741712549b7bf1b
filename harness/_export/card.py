"""A kept model on disk: ``model.safetensors`` and ``card.json``.

The card says everything needed to use the weights without the study: the task and the
architecture with its parameters (to rebuild the network), what the task fed the model
(image size, channels, normalisation, class names, window and target — the task's own
``inference_card()``), the trial's validation and test metrics and speed, the environment, the
data's fingerprint, the task file's text and the harness version. The weights' SHA-256 is in
the card and in the results database; a file whose checksum differs is never loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from harness._errors import HarnessError
from harness._files import file_sha256
from harness._version import __version__

if TYPE_CHECKING:
    import torch

    from harness._plan.resolved import ResolvedTask
    from harness._run.epochs import Training

__all__ = ["CARD", "CARD_FORMAT", "WEIGHTS", "card_for", "read_card", "write_model"]

CARD_FORMAT = "harness-model/1"
WEIGHTS = "model.safetensors"
CARD = "card.json"


def card_for(known: Mapping[str, Any], resolved: ResolvedTask, training: Training,
             val_metrics: Mapping[str, float], test_metrics: Mapping[str, float],
             speed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model card of a trained trial (``known``: what the coordinating process adds)."""
    task, plan = training.task, training.plan
    inference_card = getattr(task, "inference_card", None)
    return {
        **known,
        "format": CARD_FORMAT, "harness": __version__, "created": datetime.now(UTC).isoformat(),
        "task": resolved.task.name, "dataset": resolved.dataset.name,
        "trial": plan.number, "seed": plan.seed,
        "architecture": plan.architecture,
        "architecture_params": dict(plan.architecture_params),
        "task_params": dict(plan.task_params),
        "model_io": dict(task.model_io()),
        "inference": dict(inference_card()) if inference_card is not None else {},
        "precision": plan.precision, "batch_size": plan.batch_size,
        "metrics": {"val": dict(val_metrics), "test": dict(test_metrics)},
        "speed": dict(speed or {}),
    }


def write_model(folder: Path, model: torch.nn.Module, card: Mapping[str, Any]) -> dict[str, Any]:
    """Write the weights, then the card that names their checksum; returns the card."""
    from safetensors.torch import save_model

    weights = folder / WEIGHTS
    save_model(model, str(weights))
    complete = {**card, "weights": {"file": WEIGHTS, "sha256": file_sha256(weights),
                                    "bytes": weights.stat().st_size}}
    (folder / CARD).write_text(json.dumps(complete, indent=1, sort_keys=True, default=str))
    return complete


def read_card(folder: Path) -> dict[str, Any]:
    """A kept model's card; one line naming the folder when it is missing or not a card."""
    path = folder / CARD
    try:
        card: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"{folder}: no model card ({CARD}): not a kept model") from None
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: not a readable model card ({exc})") from None
    if card.get("format") != CARD_FORMAT:
        raise HarnessError(f"{path}: not a {CARD_FORMAT} model card")
    return card
