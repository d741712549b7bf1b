"""What the best kept model does, for the report: its predictions on the validation split, as
the task's own optional ``showcase(model, split, device)`` describes them (a confusion matrix
and the most confident mistakes, detections drawn on images, forecasts against the actual
series). Whatever goes wrong says why in the report, never stops it."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from harness._errors import HarnessError
from harness._export.loading import build_model
from harness._export.loading import find_kept
from harness._export.loading import open_kept
from harness._export.loading import study_task
from harness._plugins import load_registry
from harness._store.results import ResultsStore

__all__ = ["Showcase", "showcase_winner"]

SPLIT = "val"


@dataclass(frozen=True)
class Showcase:
    study: str
    trial: int
    architecture: str
    optimizer: str
    metric: str
    value: float | None
    items: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    """Why nothing is shown (the data is gone, the plugin is missing), when it is not."""


def showcase_winner(store: ResultsStore, study: str, pm: Any) -> Showcase | None:
    """The study's best kept model on its validation split; None when it keeps no model."""
    import torch

    try:
        row = find_kept(store, study)
    except HarnessError:
        return None
    label = Showcase(study, row["trial"], row["architecture"], row["optimizer"],
                     row["primary_metric"], row["metrics"].get(row["primary_metric"]))
    try:
        kept = open_kept(store, row)
        model = build_model(load_registry(pm), kept.card, kept.folder)
        task = study_task(store, kept, pm)
        show = getattr(task, "showcase", None)
        if show is None:
            return _with(label, note=f"task '{kept.card['task']}' shows no predictions")
        with torch.inference_mode():
            return _with(label, items=dict(show(model, SPLIT, torch.device("cpu"))))
    except Exception as exc:  # a report is written whatever the model's files or data say
        return _with(label, note=f"its predictions could not be shown: {type(exc).__name__}: "
                                 f"{' '.join(str(exc).split())[:200]}")


def _with(showcase: Showcase, **changes: Any) -> Showcase:
    from dataclasses import replace

    return replace(showcase, **changes)
