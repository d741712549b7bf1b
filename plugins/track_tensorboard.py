"""Tracker ``tensorboard``: ``[tracking] tensorboard = "DIR"`` (relative to where harness
runs).

One run folder per trial (``DIR/<study>/trial-<n>``) with each epoch's validation metrics,
training loss and learning rate as scalars, and an hparams summary of the trial's final
metrics (TensorBoard's HPARAMS tab compares trials by their hyperparameters). Written with
PyTorch's own ``SummaryWriter``; install with ``pip install 'harness[tensorboard]'``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import harness


def _missing() -> str | None:
    if importlib.util.find_spec("tensorboard") is None:
        return "TensorBoard is not installed: pip install 'harness[tensorboard]'"
    return None


def folder_name(study: str) -> str:
    """A study's name as a folder name (anything but letters, digits, ``.``, ``_``, ``-``
    becomes ``-``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", study).strip("-.") or "study"


class TensorBoardTracker:
    def __init__(self, setup: harness.TrackerSetup) -> None:
        self.root = Path(setup.setting).expanduser() / folder_name(setup.study)
        self.writers: dict[int, Any] = {}

    def _writer(self, plan: harness.TrialPlan) -> Any:
        if plan.number not in self.writers:
            from torch.utils.tensorboard import SummaryWriter

            self.writers[plan.number] = SummaryWriter(log_dir=str(
                self.root / f"trial-{plan.number}"))
        return self.writers[plan.number]

    def trial_started(self, plan: harness.TrialPlan) -> None:
        self._writer(plan)

    def epoch_finished(self, plan: harness.TrialPlan, record: harness.EpochRecord) -> None:
        writer = self._writer(plan)
        for name, value in record.val_metrics.items():
            writer.add_scalar(f"val/{name}", value, record.epoch)
        writer.add_scalar("train/loss", record.train_loss, record.epoch)
        writer.add_scalar("train/lr", record.lr, record.epoch)
        writer.flush()

    def trial_finished(self, result: harness.TrialResult, model_dir: str | None) -> None:
        plan = result.plan
        writer = self._writer(plan)
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                   for k, v in {**plan.hyperparameters(), "architecture": plan.architecture,
                                "optimizer": plan.optimizer, "scheduler": plan.scheduler,
                                "status": result.status}.items()}
        metrics = {f"hparam/val_{k}": v for k, v in result.val_metrics.items()}
        metrics.update({f"hparam/test_{k}": v for k, v in result.test_metrics.items()})
        if result.inference is not None:
            metrics["hparam/infer_samples_per_s"] = result.inference.samples_per_s
        writer.add_hparams(hparams, metrics, run_name=".")
        writer.close()
        self.writers.pop(plan.number, None)

    def study_finished(self, summary: harness.StudySummary) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


@harness.hookimpl
def register_trackers(register: harness.RegisterTracker) -> None:
    register(harness.TrackerSpec(
        name="tensorboard", build=TensorBoardTracker, missing=_missing,
        setting="log folder", description="TensorBoard: a run folder per trial, hparams"))
