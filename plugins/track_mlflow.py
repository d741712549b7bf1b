"""Tracker ``mlflow``: ``[tracking] mlflow = "URI"``: a tracking server's URL, any URI MLflow
takes (``sqlite:///mlflow.db``, ``file:///…`` for its legacy file store), or a plain folder,
which holds MLflow's recommended local store (``<folder>/mlflow.db``, artifacts beside it).

One MLflow experiment per study, one parent run per study shared by every process of it (its
id is stored with the study), and a nested run per trial carrying its parameters, each
epoch's metrics with their ``step``, its final validation and test metrics and speed, tags
(architecture, optimizer, scheduler, hardware class) and its kept model as an artifact. Uses
MLflow's client API only: no global state of the ``mlflow`` module is touched, so a notebook
keeps its own active run. Install with ``pip install 'harness[mlflow]'``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

import harness

PARENT_KEY = "mlflow_parent_run"

# MLflow retries an unreachable server 7 times with doubling waits (minutes per call) and waits
# 120 s for an answer: a down server would stall the study at every event. Tracking is not
# worth that; these bounds apply unless the user set MLflow's own variables.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def _missing() -> str | None:
    if importlib.util.find_spec("mlflow") is None:
        return "MLflow is not installed: pip install 'harness[mlflow]'"
    return None


def tracking_uri(setting: str) -> tuple[str, str | None]:
    """A URI as given (its server or store decides where artifacts go); a folder as MLflow's
    local SQLite store inside it, with the artifacts beside it (MLflow's own default would be
    ``./mlruns`` under whatever folder harness happened to run in)."""
    if "://" in setting:
        return setting, None
    folder = Path(setting).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class MlflowTracker:
    def __init__(self, setup: harness.TrackerSetup) -> None:
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines are not ours
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)

        uri, self.artifact_location = tracking_uri(setup.setting)
        self.client = MlflowClient(tracking_uri=uri)
        self.device_class = setup.device_class
        self.experiment = self._experiment(setup.study)
        self.parent = setup.shared(PARENT_KEY, lambda: self.client.create_run(
            self.experiment, run_name=setup.study,
            tags={"harness.study": setup.study, "harness.task": setup.task}).info.run_id)
        self.runs: dict[int, str] = {}

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(
                name, artifact_location=self.artifact_location))
        except Exception:  # another process of the study created it first
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def _run(self, plan: harness.TrialPlan) -> str:
        """The trial's nested run: this process's, another process's (a resumed trial), or
        a new one."""
        if plan.number in self.runs:
            return self.runs[plan.number]
        found = self.client.search_runs(
            [self.experiment], filter_string=f"tags.`harness.trial` = '{plan.number}' and "
                                             f"tags.`mlflow.parentRunId` = '{self.parent}'")
        if found:
            self.runs[plan.number] = found[0].info.run_id
            return self.runs[plan.number]
        run = self.client.create_run(self.experiment, run_name=f"trial-{plan.number}", tags={
            "mlflow.parentRunId": self.parent, "harness.trial": str(plan.number),
            "architecture": plan.architecture, "optimizer": plan.optimizer,
            "scheduler": plan.scheduler,
            "hardware": f"{self.device_class} | {plan.precision}"})
        from mlflow.entities import Param

        params = {**plan.hyperparameters(), "architecture": plan.architecture,
                  "optimizer": plan.optimizer, "scheduler": plan.scheduler, "seed": plan.seed}
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)[:500])
                                                       for k, v in params.items()])
        self.runs[plan.number] = run.info.run_id
        return run.info.run_id

    def trial_started(self, plan: harness.TrialPlan) -> None:
        self._run(plan)

    def epoch_finished(self, plan: harness.TrialPlan, record: harness.EpochRecord) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = {**{f"val_{k}": v for k, v in record.val_metrics.items()},
                  "train_loss": record.train_loss, "lr": record.lr,
                  "epoch_seconds": record.train_seconds}
        self.client.log_batch(self._run(plan), metrics=[
            Metric(k, float(v), now, record.epoch) for k, v in values.items() if _number(v)])

    def trial_finished(self, result: harness.TrialResult, model_dir: str | None) -> None:
        from mlflow.entities import Metric

        run = self._run(result.plan)
        step = len(result.history)
        now = int(time.time() * 1000)
        values: dict[str, Any] = {
            **{f"final_val_{k}": v for k, v in result.val_metrics.items()},
            **{f"test_{k}": v for k, v in result.test_metrics.items()},
            "train_samples_per_s": result.train_samples_per_s,
            "infer_samples_per_s": result.inference.samples_per_s if result.inference else None,
            "latency_b1_ms_p50": result.latency_b1.latency_ms_p50 if result.latency_b1 else None,
            "param_count": result.param_count, "duration_s": result.duration_s}
        self.client.log_batch(run, metrics=[Metric(k, float(v), now, step)
                                            for k, v in values.items() if _number(v)])
        self.client.set_tag(run, "status", result.status)
        if model_dir is not None:
            self.client.log_artifacts(run, model_dir, artifact_path="model")
        ended = {"complete": "FINISHED", "pruned": "KILLED"}.get(result.status, "FAILED")
        self.client.set_terminated(run, ended)
        self.runs.pop(result.plan.number, None)

    def study_finished(self, summary: harness.StudySummary) -> None:
        if not summary.interrupted and summary.total_finished >= summary.budget:
            self.client.set_terminated(self.parent, "FINISHED")


@harness.hookimpl
def register_trackers(register: harness.RegisterTracker) -> None:
    register(harness.TrackerSpec(
        name="mlflow", build=MlflowTracker, missing=_missing, setting="tracking URI or folder",
        description="MLflow: a parent run per study, a nested run per trial, kept models"))
