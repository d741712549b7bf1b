"""Dataset ``csv`` (kind ``series``): a time series from a CSV file.

``target`` names the column(s) to forecast, ``time`` an optional time column (parsed as dates
when it can be, else used as numbers; rows are put in time order), ``covariates`` extra input
columns. Values that are not numbers become missing and are counted; the task fills them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import harness
import harness.data

OPTIONS = {
    "path": harness.Option("path", help="the CSV file"),
    "target": harness.Option(list, help="column(s) to forecast"),
    "time": harness.Option(str, "", help="time column (optional)"),
    "covariates": harness.Option(list, [], "extra input columns"),
    "season": harness.Option(int, 1, "seasonal period of the naive baseline (1: last value)"),
}


def load_csv(options: Mapping[str, Any]) -> harness.data.SeriesData:
    import numpy as np
    import pandas as pd

    path = Path(options["path"])
    frame = _read(path)
    targets = [str(t) for t in options["target"]]
    if not targets:
        raise harness.DataError(f"{path}: `target` names no column")
    covariates = [str(c) for c in options["covariates"]]
    for column in [*targets, *covariates, *([options["time"]] if options["time"] else [])]:
        if column not in frame.columns:
            raise harness.DataError(f"{path}: no column '{column}'"
                                    f"{harness.did_you_mean(column, list(frame.columns))}")
    repairs: dict[str, int] = {}
    stamps = None
    if options["time"]:
        stamps = _parse_time(frame[options["time"]])
        order = np.argsort(stamps, kind="stable")
        if (order != np.arange(len(order))).any():
            repairs["rows_sorted_by_time"] = 1
        frame, stamps = frame.iloc[order].reset_index(drop=True), stamps[order]
    columns = [*targets, *covariates]
    numeric = frame[columns].apply(pd.to_numeric, errors="coerce")
    coerced = int((numeric.isna() & frame[columns].notna()).sum().sum())
    if coerced:
        repairs["non_numeric_to_missing"] = coerced
    if numeric.isna().all().any():
        empty = numeric.columns[numeric.isna().all()][0]
        raise harness.DataError(f"{path}: column '{empty}' holds no numbers")
    return harness.data.SeriesData(numeric.to_numpy(dtype=np.float64), tuple(columns),
                                   tuple(targets), max(1, options["season"]), stamps, repairs,
                                   fingerprint=harness.data.fingerprint_files([path]))


def _read(path: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise harness.DataError(f"csv file '{path}' does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise harness.DataError(f"{path}: {' '.join(str(exc).split())}") from None


def _parse_time(column: Any) -> Any:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy()
    try:
        return pd.to_datetime(column, errors="raise").to_numpy()
    except (ValueError, TypeError):
        return column.astype(str).to_numpy()


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(name="csv", data_kind=harness.data.SERIES, load=load_csv,
                                 options=OPTIONS, description="a time series from a CSV file"))
