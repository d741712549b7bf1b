"""One leaderboard: its record, and how a stored row becomes a public one.

Shared by the two ways a study is ranked: best trial per architecture × optimizer
(:mod:`harness._report.leaderboard`), and configurations over seeds for studies with repeats
(:mod:`harness._report.configurations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from harness._records import INPUT_BOUND_SHARE
from harness._records import PROBE_SPLIT
from harness._store.models import StudyRow
from harness._store.queries import metrics_by_trial

__all__ = ["PROBE_NOTE", "Leaderboard", "attach_metrics", "broken_constraints", "empty_board",
           "probe_references", "ruleset", "shape_row"]

PROBE_NOTE = ("ref: a logistic regression on the frozen pretrained features, before any "
              "training (linear probe); a fine-tuned row below it lost what the weights knew")


@dataclass(frozen=True)
class Leaderboard:
    """One ranked table: a study on one hardware class."""

    study: str
    task: str
    dataset: str
    hardware: str
    primary: str
    direction: str
    rows: tuple[dict[str, Any], ...]
    counts: dict[str, int]
    ruleset: str = ""
    """How the study shared its budget, when not one sampler over everything."""
    references: tuple[dict[str, Any], ...] = ()
    """Unranked reference rows: the linear probe of each pretrained architecture."""

    @property
    def by_configuration(self) -> bool:
        """Its rows are configurations over seeds (a study with repeats), not single runs."""
        return any("seeds" in row for row in self.rows)


def empty_board(study: StudyRow, counts: dict[str, int]) -> Leaderboard:
    """The board of a study without a complete trial: its counts, no rows."""
    return Leaderboard(study.name, study.task, study.dataset, "-", study.primary_metric,
                       study.direction, (), counts, ruleset(study))


def ruleset(study: StudyRow) -> str:
    """``[search] budget_per``, said in words for the report."""
    per = (study.config.get("search") or {}).get("budget_per")
    return (f"equal trial budget and own sampler per {per}" if per else "")


def attach_metrics(session: Session, rows: list[dict[str, Any]]) -> None:
    """Give each row its validation and test metrics, as ``row["metrics"]``."""
    found = metrics_by_trial(session, [r["id"] for r in rows])
    for row in rows:
        row["metrics"] = dict(sorted(found.get(row["id"], {}).items()))


def probe_references(rows: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """One reference row per pretrained architecture whose trials recorded a linear probe
    (stored under split ``probe``): its validation and test metrics, unranked."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        probe = {key.removeprefix(f"{PROBE_SPLIT}_"): value for key, value in row.items()
                 if key.startswith(f"{PROBE_SPLIT}_")}
        if probe and row["architecture"] not in found:
            found[row["architecture"]] = {
                "rank": "ref", "trial": row["trial"], "reference": "linear_probe",
                "architecture": f"{row['architecture']} (linear probe)",
                "optimizer": "logistic regression", "scheduler": "frozen features", **probe}
    return tuple(found.values())


def broken_constraints(stored: dict[str, Any] | None) -> str | None:
    """The constraints a row breaks, in one line (None when it meets them or has none)."""
    broken = [f"{figure} {value['value']:.4g} (limit {value['op']} {value['limit']:.4g})"
              for figure, value in (stored or {}).items() if not value.get("holds", True)]
    return "; ".join(broken) or None


def shape_row(rank: int, study: StudyRow, row: dict[str, Any]) -> dict[str, Any]:
    """The public row: trial number, choices, hyperparameters, metrics, speed, hardware."""
    shaped: dict[str, Any] = {"rank": rank, "study": study.name, "trial": row["number"]}
    for key in ("architecture", "optimizer", "scheduler", "batch_size", "hyperparameters"):
        shaped[key] = row[key]
    shaped.update(row.get("metrics", {}))
    for key in ("train_samples_per_s", "infer_samples_per_s", "infer_latency_ms_p50",
                "infer_latency_ms_p99", "latency_b1_ms_p50", "latency_b1_ms_p99", "param_count",
                "duration_s", "hardware", "precision", "status", "data_wait_share",
                "infer_onnx_samples_per_s", "infer_onnx_batch_size", "infer_onnx_ms_p50",
                "infer_onnx_ms_p99", "feasible", "constraints"):
        shaped[key] = row[key]
    shaped["broken"] = broken_constraints(row["constraints"])
    share = row["data_wait_share"]
    shaped["input_bound"] = share is not None and share > INPUT_BOUND_SHARE
    return shaped
