"""Tracker ``wandb``: ``[tracking] wandb = "PROJECT"``.

One Weights & Biases run per trial, grouped by study (``group``), with its parameters as
``config``, each epoch's metrics at their ``step`` and the final metrics and speed in its
summary. Without a network, set ``WANDB_MODE=offline``: runs are written under the results
folder's ``tracking/`` and can be synced later (``wandb sync``). Install with
``pip install 'harness[wandb]'``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import harness


def _missing() -> str | None:
    if importlib.util.find_spec("wandb") is None:
        return "Weights & Biases is not installed: pip install 'harness[wandb]'"
    return None


class WandbTracker:
    def __init__(self, setup: harness.TrackerSetup) -> None:
        self.project, self.group, self.folder = setup.setting, setup.study, setup.folder
        self.device_class = setup.device_class
        self.runs: dict[int, Any] = {}

    def _run(self, plan: harness.TrialPlan) -> Any:
        if plan.number not in self.runs:
            import wandb

            config = {**plan.hyperparameters(), "architecture": plan.architecture,
                      "optimizer": plan.optimizer, "scheduler": plan.scheduler,
                      "seed": plan.seed, "hardware": f"{self.device_class} | {plan.precision}"}
            self.runs[plan.number] = wandb.init(
                project=self.project, group=self.group, name=f"trial-{plan.number}",
                config=config, dir=self.folder, reinit="create_new",
                settings=wandb.Settings(silent=True, console="off", disable_git=True))
        return self.runs[plan.number]

    def trial_started(self, plan: harness.TrialPlan) -> None:
        self._run(plan)

    def epoch_finished(self, plan: harness.TrialPlan, record: harness.EpochRecord) -> None:
        self._run(plan).log({**{f"val_{k}": v for k, v in record.val_metrics.items()},
                             "train_loss": record.train_loss, "lr": record.lr},
                            step=record.epoch)

    def trial_finished(self, result: harness.TrialResult, model_dir: str | None) -> None:
        run = self._run(result.plan)
        run.summary.update({**{f"final_val_{k}": v for k, v in result.val_metrics.items()},
                            **{f"test_{k}": v for k, v in result.test_metrics.items()},
                            "status": result.status,
                            "train_samples_per_s": result.train_samples_per_s,
                            "infer_samples_per_s": result.inference.samples_per_s
                            if result.inference else None})
        run.finish(exit_code=0 if result.status != "failed" else 1)
        self.runs.pop(result.plan.number, None)

    def study_finished(self, summary: harness.StudySummary) -> None:
        for run in self.runs.values():
            run.finish(exit_code=1)
        self.runs.clear()


@harness.hookimpl
def register_trackers(register: harness.RegisterTracker) -> None:
    register(harness.TrackerSpec(
        name="wandb", build=WandbTracker, missing=_missing, setting="project",
        description="Weights & Biases: a run per trial grouped by study (offline works)"))
