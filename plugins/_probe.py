"""Linear probe: a logistic regression on a pretrained network's frozen features.

The reference every fine-tuning run should beat. If fine-tuning ends below it, the search
destroyed what the weights knew (too high a backbone rate, too short a warm-up): the
leaderboard shows the probe next to the fine-tuned rows so that this is seen at once. The
features are the input of the model's classifier (timm's ``get_classifier()``), read with a
forward pre-hook in evaluation mode: no weight, running statistic or random generator
changes. scikit-learn's ``LogisticRegression`` (L-BFGS) on standardised features, its inverse
regularisation ``C`` chosen on the validation split from a short grid, as linear-probe
protocols do (CLIP, SimCLR); seconds on a CPU for a few thousand samples.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["C_GRID", "frozen_features", "linear_probe"]

LOG_FLOOR = -30.0
"""Log-probability of a class the probe rules out (or never saw in training)."""
C_GRID = (0.01, 0.1, 1.0, 10.0)
"""Inverse L2 strengths tried; the one best on validation is reported."""

Batches = Iterable[tuple["torch.Tensor", "torch.Tensor"]]
Score = Callable[["torch.Tensor", "torch.Tensor"], Mapping[str, float]]


def frozen_features(model: torch.nn.Module, batches: Batches,
                    device: torch.device) -> tuple[np.ndarray, np.ndarray] | None:
    """``(features, labels)`` of every batch: what the classifier receives. None when the
    model has no classifier to find (``get_classifier``)."""
    import numpy as np
    import torch

    get_classifier = getattr(model, "get_classifier", None)
    head = get_classifier() if get_classifier is not None else None
    if not isinstance(head, torch.nn.Module):
        return None
    seen: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(
        lambda _module, args: seen.append(args[0].detach().flatten(1).float().cpu()))
    labels = []
    model.eval()
    try:
        with torch.no_grad():
            for inputs, target in batches:
                model(inputs.to(device))
                labels.append(target)
    finally:
        hook.remove()
    if not seen:
        return None
    return torch.cat(seen).numpy(), torch.cat(labels).numpy().astype(np.int64)


def linear_probe(model: torch.nn.Module, splits: Mapping[str, Batches], device: torch.device,
                 score: Score, num_classes: int) -> dict[str, float]:
    """Metrics of the probe on ``val`` and ``test`` (``val_accuracy``, ``test_accuracy``, …),
    trained on ``train``; ``score(logits, labels)`` is the task's own metric function."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    found = {split: frozen_features(model, batches, device) for split, batches in splits.items()}
    features = {split: v for split, v in found.items() if v is not None}
    if len(features) < len(found) or len(set(features["train"][1])) < 2:
        return {}
    scaler = StandardScaler().fit(features["train"][0])
    scaled = {split: (scaler.transform(x), y) for split, (x, y) in features.items()}

    def fitted(c: float) -> Any:
        return LogisticRegression(C=c, max_iter=2000).fit(*scaled["train"])

    def metrics(probe: Any, split: str) -> Mapping[str, float]:
        x, y = scaled[split]
        logits = _all_classes(probe, x, num_classes)
        return score(torch.from_numpy(logits).float(), torch.from_numpy(y))

    probes = [fitted(c) for c in C_GRID]
    best = max(probes, key=lambda p: (p.score(*scaled["val"]), -p.C))
    return {f"{split}_{name}": float(value) for split in ("val", "test")
            for name, value in metrics(best, split).items()}


def _all_classes(probe: Any, x: np.ndarray, num_classes: int) -> np.ndarray:
    """Log-probabilities over every class label 0…K-1, including classes the training split
    lacks (their column stays at the floor)."""
    import numpy as np

    out = np.full((len(x), num_classes), LOG_FLOOR, dtype=np.float64)
    # A confident probe rounds some probabilities to 0: their log is floored, not -inf (an
    # infinite loss would be stored).
    out[:, probe.classes_] = np.log(np.clip(probe.predict_proba(x), np.exp(LOG_FLOOR), 1.0))
    return out
