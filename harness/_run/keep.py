"""At the end of a trial that may be kept: its weights and model card, staged for the keeper.

The worker that trained the model asks the coordinating process whether these validation
metrics could enter the study's best ``[artifacts] keep``; if so it writes ``model.safetensors``
and ``card.json`` into a staging folder (whole or not at all), and measures ONNX Runtime's
speed on the exported model when the architecture exports. The coordinating process then
keeps or drops the staged folder under the study lock (:mod:`harness._store.kept`). A full disk
loses the model, never the trial: the reason travels with the result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from harness._export.card import card_for
from harness._export.card import write_model
from harness._meter import InferenceFigures

if TYPE_CHECKING:
    from harness._plan.resolved import ResolvedTask
    from harness._run.epochs import Training

__all__ = ["KeepPlan", "KeepSetup", "Staged", "stage_model"]


@dataclass(frozen=True)
class KeepPlan:
    """What a trial needs to stage its model."""

    staging: str
    """The folder this trial's files go to (local to the worker's machine)."""
    candidate: Callable[[Mapping[str, float]], bool]
    """Whether a trial with these validation metrics could be kept (asked of the
    coordinating process)."""
    card: Mapping[str, Any]
    """What the coordinating process knows for the model card: study, trial, data, task file,
    environment."""
    onnx_speed: bool = True


@dataclass(frozen=True)
class KeepSetup:
    """What the coordinating process sends a worker so its trial can stage a kept model (the
    worker asks whether to, over its pipe)."""

    staging: str
    card: Mapping[str, Any]
    repeat: bool = False


@dataclass(frozen=True)
class Staged:
    path: str | None = None
    error: str | None = None
    onnx: InferenceFigures | None = None


def stage_model(keep: KeepPlan, resolved: ResolvedTask, training: Training,
                val_metrics: Mapping[str, float], test_metrics: Mapping[str, float],
                speed: Mapping[str, Any], budget_s: float) -> Staged | None:
    """Stage the trained model if it may be kept; None when it may not."""
    if not keep.candidate(val_metrics):
        return None
    staging = Path(keep.staging)
    card = card_for(keep.card, resolved, training, val_metrics, test_metrics, speed)
    try:
        _write_whole(staging, lambda folder: write_model(folder, training.eager, card))
    except OSError as exc:
        return Staged(error=f"the model could not be saved: {_os_reason(exc)}")
    onnx = _onnx_speed(resolved, training, staging, budget_s) if keep.onnx_speed else None
    return Staged(path=str(staging), onnx=onnx)


def _write_whole(folder: Path, write: Callable[[Path], Any]) -> None:
    """Fill ``folder`` through a temporary sibling renamed into place: never half there."""
    temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        write(temporary)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(temporary, folder)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _onnx_speed(resolved: ResolvedTask, training: Training, staging: Path,
                budget_s: float) -> InferenceFigures | None:
    """ONNX Runtime's throughput and latency of the exported model at the trial's batch (one
    sample per call for architectures that export so); None when it does not export or
    onnxruntime is missing."""
    from harness._export.onnx import measure_onnx

    spec = resolved.architecture(training.plan.architecture).spec
    if spec.onnx_export == "none":
        return None
    with contextlib.suppress(Exception):  # a model that will not export is slower to deploy,
        return measure_onnx(training.eager, training.task, training.plan,  # not a failure
                            single=spec.onnx_export == "single", folder=staging,
                            budget_s=budget_s)
    return None


def _os_reason(exc: OSError) -> str:
    import errno

    return "no space left on device" if exc.errno == errno.ENOSPC else str(exc)
