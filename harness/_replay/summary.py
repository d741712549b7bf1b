"""What a set of replays says: any-time curves, compute to reach a target, and how each
candidate compares with random search without pruning (always replayed as the baseline)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness._files import atomic_path
from harness._files import atomic_write
from harness._files import output_error
from harness._replay.blackbox import Blackbox
from harness._replay.simulate import Candidate
from harness._replay.simulate import SeedRun

__all__ = ["BASELINE", "Outcome", "render_markdown", "summarise", "write_outputs"]

BASELINE = Candidate("random", "none")


@dataclass(frozen=True)
class Outcome:
    """One candidate over every seed."""

    candidate: Candidate
    runs: tuple[SeedRun, ...]
    target: float
    maximize: bool

    @property
    def times(self) -> list[float]:
        return [run.time_to(self.target, self.maximize) for run in self.runs]

    @property
    def median_time(self) -> float:
        return float(statistics.median(self.times))

    @property
    def reached(self) -> float:
        return sum(math.isfinite(t) for t in self.times) / len(self.runs)

    @property
    def inexact_share(self) -> float:
        asked = sum(r.asked for r in self.runs)
        return sum(r.inexact for r in self.runs) / asked if asked else 0.0

    def curve(self, grid: np.ndarray) -> dict[str, list[float | None]]:
        """Median and quartiles over seeds of the best value found by each time of ``grid``."""
        rows = [[run.best_at(float(t)) for t in grid] for run in self.runs]
        quantiles: dict[str, list[float | None]] = {"p25": [], "median": [], "p75": []}
        for column in zip(*rows, strict=True):
            known = [v for v in column if v is not None]
            if len(known) * 2 < len(column):  # most seeds have nothing yet
                for key in quantiles:
                    quantiles[key].append(None)
                continue
            filled = sorted(v if v is not None else (-math.inf if self.maximize else math.inf)
                            for v in column)
            # Order statistics, not interpolation: a seed that has found nothing counts as
            # the worst value (an infinity), and nothing interpolates to or from it.
            for key, q in (("p25", 0.25), ("median", 0.5), ("p75", 0.75)):
                value = float(np.quantile(filled, q, method="nearest"))
                quantiles[key].append(value if math.isfinite(value) else None)
        return quantiles


def summarise(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per candidate: median compute to target, speed-up over the baseline, …"""
    baseline = next(o for o in outcomes if o.candidate == BASELINE)
    rows = []
    for outcome in outcomes:
        time, base = outcome.median_time, baseline.median_time
        rows.append({
            "candidate": outcome.candidate.label,
            "median_seconds_to_target": time,
            "speedup_vs_random": base / time if math.isfinite(base) and time > 0 else (
                math.inf if not math.isfinite(base) and math.isfinite(time) else None),
            "seeds_reaching_target": outcome.reached,
            "median_best_at_budget": statistics.median(
                [r.points[-1][1] for r in outcome.runs if r.points] or [math.nan]),
            "median_trials": statistics.median(r.trials for r in outcome.runs),
            "inexact_share": outcome.inexact_share,
        })
    return rows


def _seconds(value: float) -> str:
    return "never" if not math.isfinite(value) else f"{value:,.0f} s"


def render_markdown(blackbox: Blackbox, rows: list[dict[str, Any]], *, seeds: int,
                    budget_s: float, target: float, tolerance: float) -> str:
    arrow = "≥" if blackbox.maximize else "≤"
    # Names come from whoever recorded the study: escaped, as the HTML report escapes them,
    # so a Markdown renderer shows them as text and never runs them.
    study, task, dataset, source, objective = (_md(str(v)) for v in (
        blackbox.study, blackbox.task, blackbox.dataset, blackbox.source, blackbox.objective))
    lines = [f"Replay of study '{study}' ({task} on {dataset}; "
             f"{len(blackbox.trials)} recorded trials, {blackbox.epochs} epochs each) from "
             f"{source}: {seeds} seeds per candidate, a simulated budget of "
             f"{budget_s:,.0f} s; target val {objective} {arrow} {target:.4f} "
             f"(the best recorded, {tolerance:g} away).", "",
             "| sampler/pruner | median compute to target | vs random search | seeds reaching "
             "it | median best at budget | trials (median) | asks answered by a neighbour |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        speedup = row["speedup_vs_random"]
        shown = "–" if speedup is None else ("∞" if not math.isfinite(speedup) else
                                             f"{speedup:.2f}×")
        lines.append(f"| {_md(row['candidate'])} | {_seconds(row['median_seconds_to_target'])} | "
                     f"{shown} | {row['seeds_reaching_target']:.0%} | "
                     f"{row['median_best_at_budget']:.4f} | {row['median_trials']:.0f} | "
                     f"{row['inexact_share']:.0%} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text safe in Markdown: no raw HTML, no table-breaking pipe."""
    import html

    return html.escape(text, quote=False).replace("|", "\\|")


def write_outputs(out: Path, blackbox: Blackbox, outcomes: Sequence[Outcome],
                  rows: list[dict[str, Any]], markdown: str, budget_s: float) -> list[Path]:
    """``replay.md``, ``replay.json`` (rows and any-time curves) and ``anytime.png``; a folder
    that cannot take them (read-only, full) is one line."""
    try:
        return _write_outputs(out, blackbox, outcomes, rows, markdown, budget_s)
    except OSError as exc:
        raise output_error(Path(exc.filename) if exc.filename else out, exc) from None


def _write_outputs(out: Path, blackbox: Blackbox, outcomes: Sequence[Outcome],
                   rows: list[dict[str, Any]], markdown: str, budget_s: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    grid = np.geomspace(budget_s / 1000, budget_s, 101)  # even on the plot's log axis
    curves = {o.candidate.label: o.curve(grid) for o in outcomes}
    with atomic_write(out / "replay.md", encoding="utf-8") as fh:
        fh.write(markdown)
    with atomic_write(out / "replay.json", encoding="utf-8") as fh:
        fh.write(json.dumps({"study": blackbox.study, "objective": blackbox.objective,
                             "target": outcomes[0].target if outcomes else None,
                             "rows": rows, "seconds": grid.tolist(), "curves": curves},
                            indent=1, default=str))
    return [out / "replay.md", out / "replay.json",
            _plot(out / "anytime.png", blackbox, grid, curves, outcomes)]


def _plot(path: Path, blackbox: Blackbox, grid: np.ndarray,
          curves: dict[str, dict[str, list[float | None]]],
          outcomes: Sequence[Outcome] = ()) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, curve in curves.items():
        median = np.array([np.nan if v is None else v for v in curve["median"]])
        low = np.array([np.nan if v is None else v for v in curve["p25"]])
        high = np.array([np.nan if v is None else v for v in curve["p75"]])
        ax.plot(grid, median, label=label)
        ax.fill_between(grid, low, high, alpha=0.15)
    # Log time: the interesting part is where the curves separate, usually the first tenth of
    # the budget. The value axis is zoomed on what the medians span over the later half of
    # that log axis — near the target, where candidates differ; early values fall below it.
    ax.set_xscale("log")
    settled = [v for c in curves.values() for v in c["median"][len(grid) // 2:] if v is not None]
    if settled:
        bottom, top = min(settled), max(settled)
        span = max(top - bottom, 0.01 * max(abs(top), 1e-9))
        ax.set_ylim(bottom - span, top + 0.3 * span)
    if outcomes:
        ax.axhline(outcomes[0].target, color="k", linestyle=":", linewidth=1, label="target")
    ax.set(xlabel="compute (simulated seconds, log scale)",
           ylabel=f"best val {blackbox.objective} so far",
           title=f"any-time performance on '{blackbox.study}' (median, quartiles)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=90, format="png")
    plt.close(fig)
    return path
