"""Datasets of kind ``series`` shipped inside statsmodels (no download): ``sunspots`` (yearly,
1700–2008), ``co2`` (weekly Mauna Loa CO₂, 1958–2001, with missing weeks), ``nile`` (yearly
flow, 1871–1970) and ``macrodata`` (quarterly US macroeconomics, multivariate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import harness
import harness.data

# name: (loader attribute, time column or None for the index, value columns, default
# targets, seasonal period, description)
SOURCES = {
    "sunspots": ("sunspots", "YEAR", ("SUNACTIVITY",), ("SUNACTIVITY",), 11,
                 "yearly sunspot activity, 1700–2008 (season: the 11-year cycle)"),
    "co2": ("co2", None, ("co2",), ("co2",), 52,
            "weekly Mauna Loa CO₂, 1958–2001, with missing weeks (season 52)"),
    "nile": ("nile", "year", ("volume",), ("volume",), 1,
             "yearly Nile flow at Aswan, 1871–1970 (no season: naive = last value)"),
    "macrodata": ("macrodata", None, ("realgdp", "realcons", "realinv", "cpi", "unemp"),
                  ("realgdp",), 4, "quarterly US macroeconomic series, 1959–2009 (season 4)"),
}


def _loader(name: str) -> Any:
    module, time_column, columns, targets, season, _ = SOURCES[name]

    def load(options: Mapping[str, Any]) -> harness.data.SeriesData:
        import numpy as np
        import statsmodels.api as sm

        frame = getattr(sm.datasets, module).load_pandas().data
        wanted = tuple(options["targets"]) or targets
        unknown = [c for c in wanted if c not in columns]
        if unknown:
            raise harness.DataError(f"{name}: no column '{unknown[0]}' "
                                    f"(columns: {', '.join(columns)})")
        stamps = frame[time_column].to_numpy() if time_column else frame.index.to_numpy()
        values = frame[list(columns)].to_numpy(dtype=np.float64)
        return harness.data.SeriesData(values, columns, wanted, options["season"] or season,
                                       stamps)

    return load


OPTIONS = {
    "targets": harness.Option(list, [], "columns to forecast (default: the series' own)"),
    "season": harness.Option(int, 0, "seasonal period of the naive baseline (0: the default)"),
}


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    for name, (*_, description) in SOURCES.items():
        register(harness.DatasetSpec(name=name, data_kind=harness.data.SERIES, load=_loader(name),
                                     options=OPTIONS, description=description,
                                     test_options={}))
