"""CSV and UCR loaders on fixture files written here."""

from __future__ import annotations

import numpy as np
import pytest

from harness._errors import DataError
from harness.data import SeriesData
from harness_plugins.data_csv import load_csv
from harness_plugins.data_ucr import load_ucr
from harness_plugins.task_forecasting import ForecastingTask

CSV_DEFAULTS = {"time": "", "covariates": [], "season": 1}


def _csv(tmp_path, text):
    path = tmp_path / "series.csv"
    path.write_text(text)
    return str(path)


def test_csv_with_dates_gaps_duplicates_and_covariates(tmp_path):
    rows = ["date,load,temp,note"]
    rows += [f"2024-01-{d:02d},{10 + d},{d % 5},x" for d in range(1, 29)]
    rows[5] = "2024-01-05,,1,x"                 # a missing value
    rows.insert(8, "2024-01-07,99,3,x")          # a repeated timestamp
    rows.append("2024-01-03,oops,2,x")           # not a number, and out of order
    path = _csv(tmp_path, "\n".join(rows) + "\n")
    data = load_csv({**CSV_DEFAULTS, "path": path, "target": ["load"], "time": "date",
                     "covariates": ["temp"]})
    assert data.columns == ("load", "temp") and data.targets == ("load",)
    assert np.issubdtype(data.timestamps.dtype, np.datetime64)
    assert (np.diff(data.timestamps.astype("int64")) >= 0).all()  # put in time order
    assert data.repairs == {"rows_sorted_by_time": 1, "non_numeric_to_missing": 1}
    assert np.isnan(data.values[:, 0]).sum() == 2
    params = {"window": 4, "fill": "interpolate", "dedup": "mean", "clip_sigma": 0.0,
              "normalize": "zscore", "window_norm": "last"}
    task = ForecastingTask(data, params, {"horizon": 1, "val_fraction": 0.2,
                                          "test_fraction": 0.2}, 0)
    assert task.duplicates == 2 and not np.isnan(task.raw).any()
    assert task.model_io()["in_features"] == 2


def test_csv_errors_name_the_file_column_and_line(tmp_path):
    path = _csv(tmp_path, "t,y\n1,2\n2,3\n")
    with pytest.raises(DataError, match=r"series.csv: no column 'yy' — did you mean 'y'\?"):
        load_csv({**CSV_DEFAULTS, "path": path, "target": ["yy"]})
    bad = _csv(tmp_path, "t,y\n1,2\n2,3,4,5\n3,4\n")
    with pytest.raises(DataError, match=r"series.csv: .*line 3"):
        load_csv({**CSV_DEFAULTS, "path": bad, "target": ["y"]})
    with pytest.raises(DataError, match="does not exist"):
        load_csv({**CSV_DEFAULTS, "path": str(tmp_path / "none.csv"), "target": ["y"]})


TS_TRAIN = """\
# a comment
@problemName Motions
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true walk run
@data
1,2,3,4:5,6,7,8:walk
1,?,3:4,5,6:run
2,3,4,5,6:1,1,1,1,1:walk
9,8:7,6:run
"""
TS_TEST = """\
@problemName Motions
@classLabel true walk run
@data
1,2,3:3,2,1:run
4,5,6,7:1,2,3,4:walk
"""


def test_ucr_ts_multivariate_variable_length_with_missing(tmp_path):
    (tmp_path / "Motions_TRAIN.ts").write_text(TS_TRAIN)
    (tmp_path / "Motions_TEST.ts").write_text(TS_TEST)
    data = load_ucr({"path": str(tmp_path), "problem": "", "val_fraction": 0.5,
                     "split_seed": 0})
    assert data.classes == ("run", "walk")
    everything = data.train.series + data.val.series
    assert sorted(len(s) for s in everything) == [2, 3, 4, 5]
    assert all(s.shape[1] == 2 for s in everything)
    assert sum(np.isnan(s).sum() for s in everything) == 1
    assert sorted(data.test.labels) == [0, 1] and len(data.val.series) == 2


@pytest.mark.parametrize("problem", ["Motions", ""])
def test_ucr_prefers_the_ts_file_when_a_problem_comes_in_two_formats(tmp_path, problem):
    """The sktime wheel ships ``<Name>_TRAIN.ts`` beside ``<Name>_TRAIN.tsv``."""
    (tmp_path / "Motions_TRAIN.ts").write_text(TS_TRAIN)
    (tmp_path / "Motions_TEST.ts").write_text(TS_TEST)
    (tmp_path / "Motions_TRAIN.tsv").write_text("1\t0\t1\n2\t1\t0\n")
    (tmp_path / "Motions_TEST.tsv").write_text("1\t0\t1\n")
    data = load_ucr({"path": str(tmp_path), "problem": problem, "val_fraction": 0.5,
                     "split_seed": 0})
    assert data.classes == ("run", "walk")  # the .ts file's labels, not the .tsv's


def test_ucr_classic_tab_separated(tmp_path):
    train = "\n".join(f"{1 + i % 2}\t" + "\t".join(str(v) for v in range(i, i + 6))
                      for i in range(10))
    (tmp_path / "Toy_TRAIN.tsv").write_text(train)
    (tmp_path / "Toy_TEST.tsv").write_text("1\t0\t1\t2\t3\t4\t5\n2\t5\t4\t3\t2\t1\t0\n")
    data = load_ucr({"path": str(tmp_path), "problem": "Toy", "val_fraction": 0.2,
                     "split_seed": 0})
    assert data.classes == ("1", "2")
    assert len(data.train.series) == 8 and data.train.series[0].shape == (6, 1)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("@data\n1,2:3,4:a\n1,2:b\n", 3, "1 dimensions, expected 2"),
    ("@data\n1,2,x:a\n", 2, "not a number"),
    ("@data\n1,2,3\n", 2, "expected 'values:…:label'"),
])
def test_ucr_malformed_lines_name_file_and_line(tmp_path, text, line, message):
    (tmp_path / "Bad_TRAIN.ts").write_text(text)
    (tmp_path / "Bad_TEST.ts").write_text("@data\n1,2:a\n")
    with pytest.raises(DataError, match=rf"Bad_TRAIN.ts:{line}: {message}"):
        load_ucr({"path": str(tmp_path), "problem": "", "val_fraction": 0.2,
                  "split_seed": 0})


def test_ucr_missing_files(tmp_path):
    with pytest.raises(DataError, match="need exactly one <Name>_TRAIN file"):
        load_ucr({"path": str(tmp_path), "problem": "", "val_fraction": 0.2,
                  "split_seed": 0})
    (tmp_path / "X_TRAIN.ts").write_text("@data\n1:a\n")
    with pytest.raises(DataError, match="X_TEST.ts' is missing"):
        load_ucr({"path": str(tmp_path), "problem": "", "val_fraction": 0.2,
                  "split_seed": 0})


def test_series_contract_type():
    assert SeriesData(np.zeros((3, 1)), ("a",), ("a",), 1).season == 1


def test_csv_target_may_be_one_column_name(tmp_path):
    """`target = "Passengers"` (the common case) was refused: the option wanted a list."""
    from harness._config import validate_options
    from harness_plugins.data_csv import OPTIONS

    path = _csv(tmp_path, "month,Passengers\n" + "".join(f"{m},{100 + m}\n" for m in range(30)))
    options = validate_options(OPTIONS, {"path": path, "target": "Passengers", "time": "month"},
                               source="air.toml", key="dataset", base_dir=tmp_path)
    assert load_csv(options).targets == ("Passengers",)
