"""Across studies: which architecture (or optimizer) is best over several tasks and datasets.

For a report over two or more studies, per dimension (architecture, optimizer):

- **mean rank**: in each study, the groups are ranked by their best configuration (each
  study's leaderboard rows); groups the seeds cannot tell apart (:func:`rank_groups`) share the
  average of their positions, as in Demšar's (2006) mean ranks. Reported with the number of
  studies and a 95% t-interval over studies.
- **performance profile** (Dolan & Moré 2002, as AlgoPerf uses them): in each study a group's
  ratio to the best group is ``best / value`` for a metric to maximise (``value / best`` to
  minimise), 1 for the best; ``ρ(τ)`` is the share of studies where the group is within a
  factor ``τ`` of the best (a study without the group counts as never). A curve that is high
  early is a group that is near the best on most studies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness._report.data import StudyReport
from harness._report.rankings import Summary
from harness._report.rankings import rank_groups
from harness._report.rankings import summarize

__all__ = ["Profile", "cross_study", "figure", "markdown_lines", "profiles_of", "rho_at"]

DIMENSIONS = ("architecture", "optimizer")


@dataclass(frozen=True)
class Profile:
    dimension: str
    studies: list[str]
    ranks: dict[str, list[float | None]]
    """Per group, its rank in each study (None: absent there)."""
    mean_rank: dict[str, Summary]
    taus: list[float]
    curves: dict[str, list[float]]
    """Per group, ρ(τ) at each of ``taus``."""

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "studies": self.studies, "ranks": self.ranks,
                "mean_rank": {g: {"mean": s.mean, "ci_low": s.low, "ci_high": s.high,
                                  "studies": s.n} for g, s in self.mean_rank.items()},
                "taus": self.taus, "profile": self.curves}


def profiles_of(reports: Sequence[StudyReport]) -> list[Profile]:
    """The profile of every dimension that two or more of ``reports`` rank."""
    return [p for p in (cross_study(reports, d) for d in DIMENSIONS) if p is not None]


def cross_study(reports: Sequence[StudyReport], dimension: str) -> Profile | None:
    """The profile of ``dimension`` over ``reports`` (None: fewer than two studies ranked)."""
    per_study = [(r, r.best_by(dimension)) for r in reports]
    per_study = [(r, rows) for r, rows in per_study if rows]
    if len(per_study) < 2:
        return None
    groups = sorted({str(row[dimension]) for _, rows in per_study for row in rows})
    ranks: dict[str, list[float | None]] = {g: [] for g in groups}
    ratios: dict[str, list[float]] = {g: [] for g in groups}
    for report, rows in per_study:
        study_ranks = _average_ranks(report, rows, dimension)
        study_ratios = _ratios(report, rows, dimension)
        for g in groups:
            ranks[g].append(study_ranks.get(g))
            ratios[g].append(study_ratios.get(g, math.inf))
    mean_rank = {g: summarize([r for r in ranks[g] if r is not None]) for g in groups
                 if any(r is not None for r in ranks[g])}
    finite = sorted({v for values in ratios.values() for v in values if math.isfinite(v)})
    taus = sorted({1.0, *finite})
    studies = len(per_study)
    curves = {g: [sum(v <= tau for v in ratios[g]) / studies for tau in taus] for g in groups}
    return Profile(dimension, [r.study for r, _ in per_study], ranks, mean_rank, taus, curves)


def _summary(row: dict[str, Any], metric: str) -> Summary:
    """A row as seed statistics: its mean, and the spread its 95% interval implies."""
    from scipy import stats

    n, mean = int(row.get("seeds") or 1), float(row[metric])
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if n < 2 or low is None or high is None:
        return Summary(n, mean, None, None, None)
    std = (high - low) / 2 * math.sqrt(n) / float(stats.t.ppf(0.975, n - 1))
    return Summary(n, mean, std, low, high)


def _average_ranks(report: StudyReport, rows: list[dict[str, Any]],
                   dimension: str) -> dict[str, float]:
    """Rank of each group in one study; tied groups share the mean of their positions."""
    ordered = rows  # best first (StudyReport.best_by)
    groups = rank_groups([_summary(r, report.primary) for r in ordered])
    found: dict[str, float] = {}
    for first in sorted(set(groups)):
        members = [i for i, g in enumerate(groups) if g == first]
        shared = sum(i + 1 for i in members) / len(members)
        for i in members:
            found[str(ordered[i][dimension])] = shared
    return found


def _ratios(report: StudyReport, rows: list[dict[str, Any]],
            dimension: str) -> dict[str, float]:
    """Each group's performance ratio to the study's best group (≥ 1; inf: not comparable)."""
    maximize = report.direction == "maximize"
    values = {str(r[dimension]): float(r[report.primary]) for r in rows}
    best = max(values.values()) if maximize else min(values.values())
    found = {}
    for group, value in values.items():
        if maximize:
            found[group] = best / value if value > 0 and best > 0 else math.inf
        else:
            found[group] = value / best if best > 0 else math.inf
    return found


TAUS_SHOWN = (1.0, 1.01, 1.02, 1.05, 1.1, 1.25)
"""Where the Markdown report reads the profiles (the HTML one draws them whole)."""


def rho_at(profile: Profile, group: str, tau: float) -> float:
    """ρ(τ) of ``group``: the share of studies where it is within ``tau`` of the best."""
    values = [t for t in profile.taus if t <= tau]
    return profile.curves[group][len(values) - 1] if values else 0.0


def markdown_lines(profiles: Sequence[Profile]) -> list[str]:
    lines = ["## Across studies", ""]
    for p in profiles:
        lines += [f"### Per {p.dimension}, over {len(p.studies)} studies", "",
                  f"| {p.dimension} | mean rank (95%) | studies | "
                  + " | ".join(f"ρ({t:g})" for t in TAUS_SHOWN) + " |",
                  "|---|---:|---:|" + "---:|" * len(TAUS_SHOWN)]
        for group, summary in sorted(p.mean_rank.items(), key=lambda kv: kv[1].mean):
            interval = (f" ({summary.low:.2f}–{summary.high:.2f})"
                        if summary.low is not None and summary.high is not None else "")
            lines.append(f"| {group} | {summary.mean:.2f}{interval} | {summary.n} | "
                         + " | ".join(f"{rho_at(p, group, t):.2f}" for t in TAUS_SHOWN) + " |")
        lines.append("")
    lines += ["Ranks: each study's best configuration per group, ties (Welch, Holm) sharing the "
              "mean of their positions. ρ(τ): share of studies where the group is within a "
              "factor τ of that study's best (performance profiles).", ""]
    return lines


def figure(profile: Profile) -> dict[str, Any]:
    """A step plot of the profile, as a plotly.js spec."""
    finite = [t for t in profile.taus if math.isfinite(t)]
    data = [{"type": "scatter", "x": finite, "y": profile.curves[g][:len(finite)],
             "mode": "lines", "line": {"shape": "hv"}, "name": g}
            for g in sorted(profile.curves)]
    layout = {"title": {"text": f"Performance profile per {profile.dimension}"},
              "xaxis": {"title": {"text": "τ (ratio to the best of each study)"}},
              "yaxis": {"title": {"text": "ρ(τ): share of studies"}, "range": [0, 1.05]},
              "template": "plotly_white", "height": 380}
    return {"data": data, "layout": layout}
