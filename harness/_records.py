"""The frozen records a study produces and hooks receive: what a trial will do (TrialPlan),
each epoch (EpochRecord), what it produced (TrialResult), and what a ``harness run`` did
(StudySummary). They travel between processes (pickled) and into the results store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from harness._meter import InferenceFigures

__all__ = ["INPUT_BOUND_SHARE", "PROBE_SPLIT", "EpochRecord", "Status", "StudySummary",
           "TrialPlan", "TrialResult"]

Status = Literal["complete", "pruned", "failed"]
INPUT_BOUND_SHARE = 0.10
"""A trial that spent more than this share of its training time waiting for data is
input-bound: its speed says more about the data path than about the model."""
PROBE_SPLIT = "probe"
"""Where a trial's linear-probe reference metrics are stored (``probe_val_accuracy``, …)."""


@dataclass(frozen=True)
class TrialPlan:
    """Everything one trial will do, as chosen by the search."""

    number: int
    seed: int
    architecture: str
    optimizer: str
    scheduler: str
    batch_size: int
    architecture_params: Mapping[str, Any] = field(default_factory=dict)
    optimizer_params: Mapping[str, Any] = field(default_factory=dict)
    scheduler_params: Mapping[str, Any] = field(default_factory=dict)
    task_params: Mapping[str, Any] = field(default_factory=dict)
    precision: str = "fp32"
    memory_format: str = "contiguous"
    compile: str = "none"
    optimizer_owned: tuple[str, ...] = ()
    """Keys of ``optimizer_params`` the optimizer declares itself (stored as ``opt.<key>``)."""
    repeat_of: int | None = None
    """For a repeat (``[budget] repeats``): the number of the search trial whose
    configuration it trains again under another seed."""

    def config_key(self) -> str:
        """Identifies the configuration (everything but the seed): repeats of one
        configuration share it."""
        import hashlib
        import json

        chosen = [self.architecture, self.optimizer, self.scheduler, self.hyperparameters(),
                  self.precision, self.memory_format, self.compile]
        text = json.dumps(chosen, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def hyperparameters(self) -> dict[str, Any]:
        """A flat view for storage and reports: the generic hyperparameters bare (``lr``,
        ``batch_size``, ``weight_decay``, ``momentum``), every plugin's own qualified by its
        role (``opt.beta2``, ``arch.width``, ``sched.gamma``, ``task.augment``) — so an
        optimizer's own ``lr`` shows as ``opt.lr`` and no plugin name overwrites another."""
        flat: dict[str, Any] = {"batch_size": self.batch_size}
        owned = {k: v for k, v in self.optimizer_params.items() if k in self.optimizer_owned}
        flat.update({k: v for k, v in self.optimizer_params.items() if k not in owned})
        for prefix, params in (("opt", owned), ("arch", self.architecture_params),
                               ("sched", self.scheduler_params), ("task", self.task_params)):
            flat.update({f"{prefix}.{k}": v for k, v in params.items()})
        return flat

    @property
    def lr(self) -> float | None:
        """The learning rate the optimizer got (generic or its own), if it takes one."""
        value = self.optimizer_params.get("lr")
        return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_metrics: Mapping[str, float]
    lr: float
    train_seconds: float
    train_samples: int
    val_seconds: float = 0.0
    data_wait_s: float = 0.0
    """Seconds of ``train_seconds`` the loop spent waiting for the next batch."""


@dataclass(frozen=True)
class TrialResult:
    """What a trial produced. Frozen: a stored result is never rewritten."""

    plan: TrialPlan
    status: Status
    val_metrics: Mapping[str, float] = field(default_factory=dict)
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    history: tuple[EpochRecord, ...] = ()
    train_samples_per_s: float | None = None
    inference: InferenceFigures | None = None
    latency_b1: InferenceFigures | None = None
    param_count: int | None = None
    duration_s: float = 0.0
    fail_reason: str | None = None
    batch_size_used: int | None = None
    peak_memory_mb: float | None = None
    flops_per_sample: float | None = None
    e2e_infer_samples_per_s: float | None = None
    data_wait_s: float | None = None
    """Seconds the training loop waited for data, over every epoch."""
    speed_key: str | None = None
    """What the speed figures depend on, hashed: trials sharing it share the figures."""
    speed_from_trial: int | None = None
    """The trial (row id) whose speed figures were reused; None: measured by this trial."""
    artifact: str | None = None
    """Where the trained model was staged for keeping (``[artifacts] keep``); None when it
    could not be among the study's best, or keeping is off."""
    artifact_error: str | None = None
    """Why a model that may have been kept could not be saved (a full disk)."""
    onnx: InferenceFigures | None = None
    """ONNX Runtime's speed on the exported model (staged models only)."""
    constraints: Mapping[str, Any] | None = None
    """``[constraints]``: per figure, its ``value``, ``op``, ``limit`` and whether it
    ``holds`` (None: the study sets no constraints)."""
    feasible: bool | None = None
    """Every constraint holds (None: no constraints, or none could be checked)."""
    compile_s: float | None = None
    """Seconds the meter's first call took beyond a warm one (``torch.compile``, lazy init)."""
    warmup_s: float | None = None
    """Seconds the meter warmed up until its timings were stable (autotuning included)."""
    probe_metrics: Mapping[str, float] = field(default_factory=dict)
    """A pretrained model's linear-probe reference, before any training: the task's metrics
    of a logistic regression on the frozen features, named ``val_<metric>``/``test_<metric>``
    (empty: no pretrained weights, or the task cannot probe). Stored under split ``probe``."""

    @property
    def data_wait_share(self) -> float | None:
        """The share of training time spent waiting for data (above 0.10: input-bound)."""
        seconds = sum(e.train_seconds for e in self.history)
        return (self.data_wait_s or 0.0) / seconds if seconds > 0 and self.history else None


@dataclass(frozen=True)
class StudySummary:
    """What ``harness run`` reports at the end."""

    study_name: str
    db: str
    ran: int
    complete: int
    pruned: int
    failed: int
    total_finished: int
    budget: int
    interrupted: bool
    duration_s: float
    repeats: int = 0
    """Finished repeats of the best configurations (``[budget] repeats``)."""
    suspended: int = 0
    """Trials this run stopped with a checkpoint (Ctrl-C, SIGTERM): the next run resumes them."""
    tracking_failures: int = 0
    """Events an experiment tracker (``[tracking]``) failed to record (each tracker's first
    failure was a warning)."""
    infeasible_pruned: int = 0
    """Trials of the study that broke a ``[constraints]`` limit before training, so never
    trained."""
    constraints_saved_s: float = 0.0
    """Compute those checks saved: each pruned trial at the median complete trial's duration,
    less the seconds the checks took."""
