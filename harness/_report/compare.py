"""``harness compare A B``: per (architecture, optimizer) deltas between two studies or two
databases, with exit codes for CI gates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from harness._errors import HarnessError
from harness._report.leaderboard import query_leaderboards
from harness._store import ResultsStore

__all__ = ["Delta", "Judged", "compare_boards", "compare_sources", "judge"]


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


def compare_sources(a: str, b: str, open_store: Callable[[str | None], ResultsStore],
                    db: str | None) -> list[Delta]:
    """``harness compare A B``: each side is a database (a path or URL, opened with
    ``open_store(side)``) or a study name in ``db``."""
    stores: list[ResultsStore] = []
    studies: list[str | None] = []
    try:
        for side in (a, b):
            if "://" in side or side.endswith(".db") or Path(side).is_file():
                stores.append(open_store(side))
                studies.append(None)
            else:
                stores.append(open_store(db))
                studies.append(side)
        deltas = compare_boards(stores[0].engine, stores[1].engine, studies[0], studies[1])
    finally:
        for store in stores:
            store.close()
    if not deltas:
        raise HarnessError(f"nothing to compare: '{a}' and '{b}' share no (hardware, "
                           "architecture, optimizer) with complete trials")
    return deltas


@dataclass(frozen=True)
class Judged:
    """A delta and what the CI gates said about it."""

    delta: Delta
    flags: tuple[str, ...]

    @property
    def fails(self) -> bool:
        return any(f.startswith(("WORSE", "SLOWER")) for f in self.flags)

    def line(self) -> str:
        d, slower = self.delta, self.delta.slower_pct
        speed = f"{-slower:+.1f}%" if slower is not None else "n/a"
        return (f"{d.study} | {d.hardware} | {d.architecture} · {d.optimizer}: {d.metric} "
                f"{d.before:.4f} → {d.after:.4f} ({-d.worse_pct:+.1f}% better), inference "
                f"samples/s {speed}" + (f"  {' '.join(self.flags)}" if self.flags else ""))


def judge(deltas: list[Delta], fail_if_worse: float | None,
          fail_if_slower: float | None) -> list[Judged]:
    """Apply ``--fail-if-worse`` and ``--fail-if-slower``: a worse metric inside overlapping
    seed intervals is noted, never failed."""
    judged = []
    for d in deltas:
        flags = []
        if fail_if_worse is not None and d.worse_pct > fail_if_worse:
            flags.append("worse, within seed noise (95% intervals overlap)" if d.within_noise
                         else f"WORSE > {fail_if_worse:g}%")
        slower = d.slower_pct
        if fail_if_slower is not None and slower is not None and slower > fail_if_slower:
            flags.append(f"SLOWER > {fail_if_slower:g}%")
        judged.append(Judged(d, tuple(flags)))
    return judged
