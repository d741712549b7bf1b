"""SQLAlchemy 2.0 typed models of what harness stores beside Optuna's own tables.

Table names carry a ``harness_`` prefix: Optuna keeps ``studies`` and ``trials`` tables in the
same database, so ``optuna-dashboard <url>`` opens the study where our results live.
"""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import false
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

__all__ = ["Base", "EpochRow", "MetricRow", "ModelRow", "SpeedRow", "StudyRow", "TrialRow",
           "now", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def now() -> float:
    """The clock heartbeats use: Unix time, so machines sharing a database must keep NTP time
    (grace periods of a minute dwarf ordinary clock skew)."""
    return time.time()


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class StudyRow(Base):
    __tablename__ = "harness_studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(100))
    dataset: Mapped[str] = mapped_column(String(100))
    primary_metric: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(8))
    objectives: Mapped[list[Any]]
    space_hash: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]]
    runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many ``harness run`` sessions have joined the study (each samples with its own seed)."""
    claimed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Trials that count in the budget (running or finished, less re-run failures): kept with
    every insert so claiming a trial reads one row, not a count of the whole study."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    tracking: Mapped[dict[str, Any] | None]
    """What experiment trackers need to find the study again (an MLflow parent run id), shared
    by every process of the study."""


class TrialRow(Base):
    __tablename__ = "harness_trials"
    __table_args__ = (UniqueConstraint("study_id", "number"),
                      Index("ix_harness_trials_study_status", "study_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("harness_studies.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    architecture: Mapped[str] = mapped_column(String(200), index=True)
    optimizer: Mapped[str] = mapped_column(String(100))
    scheduler: Mapped[str] = mapped_column(String(100))
    batch_size: Mapped[int]
    hyperparameters: Mapped[dict[str, Any]]
    seed: Mapped[int]
    device: Mapped[str] = mapped_column(String(200))
    hardware: Mapped[str] = mapped_column(String(300), index=True)
    precision: Mapped[str] = mapped_column(String(16))
    space_hash: Mapped[str] = mapped_column(String(64))
    environment: Mapped[dict[str, Any]]
    param_count: Mapped[int | None]
    train_samples_per_s: Mapped[float | None] = mapped_column(Float)
    infer_samples_per_s: Mapped[float | None] = mapped_column(Float)
    infer_batch_size: Mapped[int | None]
    infer_latency_ms_p50: Mapped[float | None] = mapped_column(Float)
    infer_latency_ms_p90: Mapped[float | None] = mapped_column(Float)
    infer_latency_ms_p99: Mapped[float | None] = mapped_column(Float)
    latency_b1_ms_p50: Mapped[float | None] = mapped_column(Float)
    latency_b1_ms_p90: Mapped[float | None] = mapped_column(Float)
    latency_b1_ms_p99: Mapped[float | None] = mapped_column(Float)
    e2e_infer_samples_per_s: Mapped[float | None] = mapped_column(Float)
    batch_size_used: Mapped[int | None]
    memory_format: Mapped[str] = mapped_column(String(16), default="contiguous")
    compile_mode: Mapped[str] = mapped_column(String(32), default="none")
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    gflops_per_sample: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    fail_reason: Mapped[str | None] = mapped_column(Text)
    retried: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A failed trial that was re-run under a new number: it no longer counts in the budget."""
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    """Unix time of the running trial's last sign of life (see harness._recover.heartbeat)."""
    data_wait_s: Mapped[float | None] = mapped_column(Float)
    """Seconds the training loop waited for batches, over every epoch."""
    data_wait_share: Mapped[float | None] = mapped_column(Float)
    """``data_wait_s`` ÷ training seconds: above 0.10 the trial was input-bound."""
    speed_from_trial: Mapped[int | None] = mapped_column(Integer)
    """The trial (row id) whose speed measurement this one reused; None: measured itself."""
    config_key: Mapped[str | None] = mapped_column(String(32), index=True)
    """Everything but the seed: the repeats of one configuration share it."""
    repeat_of: Mapped[int | None] = mapped_column(Integer)
    """A repeat: the number of the search trial whose configuration it trains again."""
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str | None] = mapped_column(String(200))
    """The process running the trial (``host pid start-time``): on its own host a run tells a
    dead owner at once, without waiting out the heartbeat grace period."""
    resumes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How often the trial was resumed from its checkpoint after its process died."""
    infer_onnx_samples_per_s: Mapped[float | None] = mapped_column(Float)
    """ONNX Runtime's throughput at ``infer_onnx_batch_size`` (kept models only)."""
    infer_onnx_batch_size: Mapped[int | None]
    infer_onnx_ms_p50: Mapped[float | None] = mapped_column(Float)
    infer_onnx_ms_p90: Mapped[float | None] = mapped_column(Float)
    infer_onnx_ms_p99: Mapped[float | None] = mapped_column(Float)
    constraints: Mapped[dict[str, Any] | None]
    """``[constraints]``: per limit, the measured figure, the limit and whether it holds."""
    feasible: Mapped[bool | None] = mapped_column(Boolean)
    """Every constraint holds (None: the study sets none)."""
    compile_s: Mapped[float | None] = mapped_column(Float)
    """Seconds ``torch.compile`` took before the first measured call (never in throughput)."""
    warmup_s: Mapped[float | None] = mapped_column(Float)
    """Seconds the meter warmed up until its timings were stable (autotuning included)."""


class MetricRow(Base):
    __tablename__ = "harness_metrics"
    __table_args__ = (UniqueConstraint("trial_id", "split", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("harness_trials.id"), index=True)
    split: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)


class EpochRow(Base):
    __tablename__ = "harness_epochs"
    __table_args__ = (UniqueConstraint("trial_id", "epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("harness_trials.id"), index=True)
    epoch: Mapped[int]
    train_loss: Mapped[float] = mapped_column(Float)
    lr: Mapped[float] = mapped_column(Float)
    train_seconds: Mapped[float] = mapped_column(Float)
    val_metrics: Mapped[dict[str, Any]]
    data_wait_s: Mapped[float | None] = mapped_column(Float)
    val_seconds: Mapped[float | None] = mapped_column(Float)


class SpeedRow(Base):
    """A speed measurement (throughput, latency, FLOPs) reused by every trial with the same
    key: architecture and its parameters, batch, precision, layout, compile mode, input shape
    and hardware class. Trained weights do not change these figures, except where an
    architecture says they do (a detector's post-processing), whose trials always measure."""

    __tablename__ = "harness_speed"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    architecture: Mapped[str] = mapped_column(String(200))
    hardware: Mapped[str] = mapped_column(String(300))
    figures: Mapped[dict[str, Any]]
    trial_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelRow(Base):
    """A kept model: a trial's trained weights and model card in the artifact store
    (``[artifacts] keep``). ``status`` is ``kept``, or ``missing`` with the ``reason`` (a full
    disk, an unreachable bucket): the trial's results are stored either way."""

    __tablename__ = "harness_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("harness_trials.id"), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("harness_studies.id"), index=True)
    location: Mapped[str] = mapped_column(String(1000))
    """The model's folder: a local path or an ``s3://`` URI."""
    checksum: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of ``model.safetensors``: checked whenever the model is loaded."""
    bytes: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Kept on request (``harness reproduce --keep``), whatever its rank."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
