"""Pareto fronts of (quality, speed) points, vectorised: O(n log n) for 100k trials."""

from __future__ import annotations

from typing import Any


def pareto_mask(quality: Any, speed: Any, *, maximize_quality: bool = True) -> Any:
    """Boolean mask of the points no other point beats in both quality and speed (speed is
    always maximised). Ties: equal points are all on the front."""
    import numpy as np

    q = np.asarray(quality, dtype=float)
    s = np.asarray(speed, dtype=float)
    if not maximize_quality:
        q = -q
    if q.size == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((-s, -q))  # best quality first; among equals, fastest first
    best_speed = np.maximum.accumulate(s[order])
    previous = np.concatenate([[-np.inf], best_speed[:-1]])
    on_front = s[order] > previous
    # a point tying the running best speed is dominated only if a better-quality point has it
    tie = s[order] == previous
    same_quality = np.concatenate([[False], q[order][1:] == q[order][:-1]])
    on_front |= tie & same_quality
    mask = np.zeros(q.size, dtype=bool)
    mask[order] = on_front
    return mask
