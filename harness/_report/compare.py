"""``harness compare A B``: per (architecture, optimizer) deltas between two studies or two
databases, with exit codes for CI gates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from harness._report.leaderboard import query_leaderboards

__all__ = ["Delta", "compare_boards"]


@dataclass(frozen=True)
class Delta:
    study: str
    hardware: str
    architecture: str
    optimizer: str
    metric: str
    before: float
    after: float
    speed_before: float | None
    speed_after: float | None
    maximize: bool
    before_interval: tuple[float, float] | None = None
    after_interval: tuple[float, float] | None = None

    @property
    def within_noise(self) -> bool:
        """Both sides were repeated and their 95% seed intervals overlap: the seeds cannot
        tell them apart (a conservative test), so a CI gate does not fire on the difference."""
        if self.before_interval is None or self.after_interval is None:
            return False
        (a_low, a_high), (b_low, b_high) = self.before_interval, self.after_interval
        return a_low <= b_high and b_low <= a_high

    @property
    def worse_pct(self) -> float:
        """How much worse B is than A in the primary metric, in per cent (negative: better)."""
        if self.before == 0:
            return 0.0
        change = (self.after - self.before) / abs(self.before) * 100
        return -change if self.maximize else change

    @property
    def slower_pct(self) -> float | None:
        if not self.speed_before or self.speed_after is None:
            return None
        return (self.speed_before - self.speed_after) / self.speed_before * 100


def _best(engine: Engine, study: str | None) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    rows = {}
    for board in query_leaderboards(engine, study=study):
        for row in board.rows:
            rows[(board.study if study is None else "", board.hardware, row["architecture"],
                  row["optimizer"])] = {**row, "_primary": board.primary,
                                        "_maximize": board.direction == "maximize"}
    return rows


def _interval(row: dict[str, Any], metric: str) -> tuple[float, float] | None:
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    return None if low is None or high is None else (float(low), float(high))


def compare_boards(a: Engine, b: Engine, study_a: str | None = None,
                   study_b: str | None = None) -> list[Delta]:
    """Deltas for every (study, hardware, architecture, optimizer) present in both."""
    left, right = _best(a, study_a), _best(b, study_b)
    deltas = []
    for key in sorted(left.keys() & right.keys()):
        x, y = left[key], right[key]
        primary = x["_primary"]
        if x.get(primary) is None or y.get(primary) is None:
            continue
        deltas.append(Delta(key[0] or f"{study_a} → {study_b}", key[1], key[2], key[3],
                            primary, x[primary], y[primary], x.get("infer_samples_per_s"),
                            y.get("infer_samples_per_s"), x["_maximize"],
                            _interval(x, primary), _interval(y, primary)))
    return deltas
