"""``harness export`` and ``harness replay``: a stored study as a tabular benchmark.

- ``blackbox``: the format, written and read (Parquet or JSON), or read from a database.
- ``simulate``: one replay of a sampler and pruner, with a simulated clock.
- ``summary``: any-time curves, compute to target, the comparison with random search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from harness._replay.blackbox import Blackbox
from harness._replay.simulate import Candidate
from harness._replay.simulate import nearest_index
from harness._replay.simulate import prior_trials
from harness._replay.simulate import replay
from harness._replay.summary import BASELINE
from harness._replay.summary import Outcome

__all__ = ["replay_candidates"]


def replay_candidates(blackbox: Blackbox, candidates: Sequence[Candidate], registry: Any, *,
                      seeds: int, budget_s: float | None = None, tolerance: float = 0.005,
                      max_trials: int | None = None, warm_start: Blackbox | None = None,
                      ) -> tuple[list[Outcome], float, float]:
    """Every candidate (and random search without pruning) over ``seeds`` seeds; with
    ``warm_start`` (an earlier study), every candidate also seeded with its trials.

    Returns the outcomes, the budget used (default: the compute the recorded study spent) and
    the target (the best recorded value, ``tolerance`` away).
    """
    nearest = nearest_index(blackbox)
    spent = sum(sum(t.seconds) for t in blackbox.trials)
    budget = budget_s if budget_s is not None else spent
    limit = max_trials if max_trials is not None else 10 * len(blackbox.trials)
    best = blackbox.best_final()
    target = best - tolerance if blackbox.maximize else best + tolerance
    chosen = [BASELINE, *[c for c in candidates if c != BASELINE]]
    prior: list[Any] = []
    if warm_start is not None:
        prior = prior_trials(warm_start, blackbox)
        chosen += [replace(c, warm=True) for c in chosen]
    outcomes = []
    for candidate in chosen:
        runs = tuple(replay(blackbox, candidate, registry, seed, budget_s=budget,
                            max_trials=limit, nearest=nearest, prior=prior)
                     for seed in range(seeds))
        outcomes.append(Outcome(candidate, runs, target, blackbox.maximize))
    assert math.isfinite(target)
    return outcomes, budget, target
