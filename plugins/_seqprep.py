"""Preprocessing shared by the sequence tasks: filling gaps, de-duplicating timestamps,
clipping outliers and normalising — always with statistics from the training part only."""

from __future__ import annotations

import warnings
from typing import Any


def fill_missing(values: Any, method: str) -> Any:
    """Fill NaN per column: ``interpolate`` (linear inside, nearest at the ends) or ``ffill``
    (then back-fill a leading gap). Uses only the rows it is given."""
    import numpy as np

    out = np.array(values, dtype=np.float64, copy=True)
    index = np.arange(len(out))
    for c in range(out.shape[1]):
        column = out[:, c]
        known = ~np.isnan(column)
        if known.all() or not known.any():
            continue
        if method == "interpolate":
            column[~known] = np.interp(index[~known], index[known], column[known])
        else:
            last = np.maximum.accumulate(np.where(known, index, -1))
            first_known = index[known][0]
            column[:] = column[np.where(last >= 0, last, first_known)]
    return out


def fill_progressively(values: Any, ends: list[int], method: str) -> Any:
    """Fill each span using only itself and what came before it: no value from a later
    (validation or test) span reaches an earlier one."""
    import numpy as np

    filled = np.empty_like(values, dtype=np.float64)
    start = 0
    for end in ends:
        filled[start:end] = fill_missing(np.concatenate([filled[:start], values[start:end]]),
                                         method)[start:end]
        start = end
    return filled


def deduplicate(values: Any, stamps: Any, how: str) -> tuple[Any, Any, int]:
    """Collapse rows with the same timestamp (``mean`` or ``last``); returns rows dropped."""
    import numpy as np

    if stamps is None:
        return values, stamps, 0
    unique, inverse = np.unique(stamps, return_inverse=True)
    if len(unique) == len(stamps):
        return values, stamps, 0
    out = np.full((len(unique), values.shape[1]), np.nan)
    for row in range(len(unique)):
        rows = values[inverse == row]
        if how == "last":
            out[row] = rows[-1]
        else:
            with warnings.catch_warnings():  # a column missing in every duplicate stays NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                out[row] = np.nanmean(rows, axis=0)
    return out, unique, len(stamps) - len(unique)


class Scaler:
    """Per-column clipping and normalisation fitted on training rows only."""

    def __init__(self, train: Any, normalize: str, clip_sigma: float) -> None:
        import numpy as np

        self.mean = np.nanmean(train, axis=0)
        self.std = np.nanstd(train, axis=0) + 1e-8
        self.low = np.nanmin(train, axis=0)
        self.high = np.nanmax(train, axis=0)
        self.normalize, self.clip_sigma = normalize, clip_sigma

    @classmethod
    def streaming(cls, chunks: Any, normalize: str, clip_sigma: float) -> Scaler:
        """The same statistics, accumulated chunk by chunk (no copy of all training rows)."""
        import numpy as np

        count = total = squares = low = high = None
        for chunk in chunks:
            known = ~np.isnan(chunk)
            values = np.where(known, chunk, 0.0)
            count = known.sum(0) if count is None else count + known.sum(0)
            total = values.sum(0) if total is None else total + values.sum(0)
            squares = (values ** 2).sum(0) if squares is None else squares + (values ** 2).sum(0)
            lo, hi = np.nanmin(np.where(known, chunk, np.inf), 0), np.nanmax(
                np.where(known, chunk, -np.inf), 0)
            low = lo if low is None else np.minimum(low, lo)
            high = hi if high is None else np.maximum(high, hi)
        scaler = cls.__new__(cls)
        assert count is not None, "fit() was given no chunk"
        seen = np.maximum(count, 1)
        scaler.mean = total / seen
        scaler.std = np.sqrt(np.maximum(squares / seen - scaler.mean ** 2, 0.0)) + 1e-8
        scaler.low, scaler.high = low, high
        scaler.normalize, scaler.clip_sigma = normalize, clip_sigma
        return scaler

    def to_dict(self) -> dict[str, Any]:
        """Its statistics as plain data (a kept model's card)."""
        import numpy as np

        return {"normalize": self.normalize, "clip_sigma": self.clip_sigma,
                **{name: np.asarray(getattr(self, name), dtype=np.float64).tolist()
                   for name in ("mean", "std", "low", "high")}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        import numpy as np

        scaler = cls.__new__(cls)
        for name in ("mean", "std", "low", "high"):
            setattr(scaler, name, np.asarray(data[name], dtype=np.float64))
        scaler.normalize, scaler.clip_sigma = data["normalize"], float(data["clip_sigma"])
        return scaler

    def transform(self, values: Any) -> Any:
        import numpy as np

        if self.clip_sigma > 0:
            values = np.clip(values, self.mean - self.clip_sigma * self.std,
                             self.mean + self.clip_sigma * self.std)
        if self.normalize == "zscore":
            return (values - self.mean) / self.std
        if self.normalize == "minmax":
            return (values - self.low) / (self.high - self.low + 1e-8)
        return values

    def inverse(self, values: Any, columns: Any) -> Any:
        if self.normalize == "zscore":
            return values * self.std[columns] + self.mean[columns]
        if self.normalize == "minmax":
            return values * (self.high[columns] - self.low[columns] + 1e-8) + self.low[columns]
        return values
