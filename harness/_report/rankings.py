"""Configuration-level rankings: a configuration's seeds summarised with a mean and a 95%
interval, and configurations whose difference the seeds cannot tell apart put in one rank.

- **Mean** of the seeds (not the median: with 3–5 seeds the mean's t-interval is the standard
  the field reports, DeepOBS and AlgoPerf included).
- **95% interval**: Student's t, ``mean ± t(0.975, n−1) · s/√n``. A single seed has none.
- **Ties**: walking down the ranking, a configuration joins the current rank group unless it
  is significantly worse than the group's leader by Welch's unequal-variance t-test, at 5%
  after Holm's correction for the comparisons made against that leader. A configuration with
  one seed borrows the study's seed spread (the pooled standard deviation of its repeated
  configurations); with no repeated configuration at all there is no noise estimate, and the
  order is the plain order of values (each row says how many seeds it has).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Summary", "rank_groups", "summarize", "welch_p"]

ALPHA = 0.05


@dataclass(frozen=True)
class Summary:
    """One configuration's seeds."""

    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None


def summarize(values: Sequence[float]) -> Summary:
    """Mean, sample standard deviation and the 95% t-interval of ``values``."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Summary(n, mean, None, None, None)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def pooled_std(summaries: Sequence[Summary]) -> float | None:
    """The seed spread of the repeated configurations, pooled (None: nothing repeated)."""
    repeated = [s for s in summaries if s.n > 1 and s.std is not None]
    dof = sum(s.n - 1 for s in repeated)
    if not dof:
        return None
    return math.sqrt(sum((s.n - 1) * s.std ** 2 for s in repeated if s.std is not None) / dof)


def welch_p(a: Summary, b: Summary, fallback_std: float | None) -> float | None:
    """Two-sided p-value of Welch's t-test between two configurations (None: untestable)."""
    from scipy import stats

    sa, sb = a.std if a.n > 1 else fallback_std, b.std if b.n > 1 else fallback_std
    if sa is None or sb is None:
        return None
    va, vb = sa ** 2 / a.n, sb ** 2 / b.n
    if va + vb == 0:
        return 0.0 if a.mean != b.mean else 1.0
    t = (a.mean - b.mean) / math.sqrt(va + vb)
    # Welch-Satterthwaite degrees of freedom; a borrowed spread counts its own seeds only.
    da, db = max(a.n - 1, 1), max(b.n - 1, 1)
    dof = (va + vb) ** 2 / (va ** 2 / da + vb ** 2 / db)
    return float(2 * stats.t.sf(abs(t), dof))


def rank_groups(summaries: Sequence[Summary]) -> list[int]:
    """The rank of each configuration (1 = best); tied configurations share one.

    ``summaries`` must be sorted best first. Each group starts at its leader; the next
    configurations are compared with the leader (Holm: the k-th comparison, in increasing
    p order, at ``ALPHA / (m − k + 1)``) and join while not significantly worse.
    """
    spread = pooled_std(summaries)
    ranks = [0] * len(summaries)
    start = 0
    while start < len(summaries):
        leader = summaries[start]
        ranks[start] = start + 1
        end = start + 1
        if spread is not None or leader.n > 1:
            p_values = [welch_p(leader, other, spread) for other in summaries[start + 1:]]
            tied = _holm_not_rejected(p_values)
            while end < len(summaries) and tied[end - start - 1]:
                ranks[end] = start + 1
                end += 1
        start = end
    return ranks


def _holm_not_rejected(p_values: Sequence[float | None]) -> list[bool]:
    """For each hypothesis "no difference", whether Holm's procedure keeps it."""
    testable = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    kept = [p is None for p in p_values]  # untestable: not shown to differ
    m = len(testable)
    for k, (p, _) in enumerate(testable):
        if p > ALPHA / (m - k):
            for _, j in testable[k:]:
                kept[j] = True
            break
    return kept
