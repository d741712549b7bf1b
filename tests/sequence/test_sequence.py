"""Sequence tasks: chronological splits, no leakage, MASE, every architecture on uni- and
multivariate data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness._specs import ModelRequest
from harness.data import SeriesData
from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it
from harness_plugins._seqprep import deduplicate
from harness_plugins._seqprep import fill_progressively
from harness_plugins.data_statsmodels import _loader
from harness_plugins.data_waveforms import OPTIONS as WAVE_OPTIONS
from harness_plugins.task_forecasting import ForecastingTask
from harness_plugins.task_seqclass import SequenceClassificationTask

REGISTRY = installed_registry()
FORECAST_PARAMS = {"window": 8, "fill": "interpolate", "dedup": "mean", "clip_sigma": 0.0,
                   "normalize": "zscore", "window_norm": "none"}
FORECAST_OPTIONS = {"horizon": 2, "val_fraction": 0.2, "test_fraction": 0.2}


def _series(values, season=1, stamps=None):
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    columns = tuple(f"c{i}" for i in range(values.shape[1]))
    return SeriesData(values, columns, columns[:1], season, stamps)


def test_normalisation_statistics_come_from_the_training_span_only():
    values = np.r_[np.arange(60.0), np.full(20, 1e6), np.full(20, -1e6)]
    task = ForecastingTask(_series(values), FORECAST_PARAMS, FORECAST_OPTIONS, seed=0)
    assert task.bounds == (60, 80, 100)
    assert task.scaler.mean[0] == pytest.approx(np.arange(60.0).mean())
    assert task.scaler.std[0] == pytest.approx(np.arange(60.0).std(), rel=1e-6)


def test_splits_are_chronological_and_windows_never_straddle():
    task = ForecastingTask(_series(np.sin(np.arange(100.0))), FORECAST_PARAMS,
                           FORECAST_OPTIONS, seed=0)
    train_end, val_end, end = task.bounds
    assert max(task.origins["train"]) + 2 <= train_end
    assert min(task.origins["val"]) >= train_end and max(task.origins["val"]) + 2 <= val_end
    assert min(task.origins["test"]) >= val_end and max(task.origins["test"]) + 2 <= end


def test_filling_never_reads_later_spans():
    values = np.array([[1.0], [2.0], [np.nan], [100.0], [200.0]])
    filled = fill_progressively(values, [3, 5], "interpolate")
    assert filled[2, 0] == 2.0  # the gap ends the training span: no peeking at 100
    assert fill_progressively(values, [5], "interpolate")[2, 0] == 51.0
    assert fill_progressively(values, [5], "ffill")[2, 0] == 2.0


def test_duplicate_timestamps_are_collapsed():
    values = np.array([[1.0], [3.0], [5.0], [7.0]])
    stamps = np.array([1, 2, 2, 3])
    mean, unique, dropped = deduplicate(values, stamps, "mean")
    assert mean[:, 0].tolist() == [1.0, 4.0, 7.0] and unique.tolist() == [1, 2, 3]
    assert dropped == 1
    assert deduplicate(values, stamps, "last")[0][:, 0].tolist() == [1.0, 5.0, 7.0]


def test_mase_is_one_for_the_naive_forecast_and_zero_for_a_perfect_one():
    values = np.tile([1.0, 5.0, 2.0, 8.0], 30) + np.arange(120) * 0.1
    task = ForecastingTask(_series(values, season=4), FORECAST_PARAMS, FORECAST_OPTIONS, 0)
    origins = task.origins["test"]
    steps = np.array(origins)[:, None] + np.arange(2)
    truth = task.raw[steps][:, :, [0]]
    naive = task.raw[steps - 4][:, :, [0]]

    def scaled(x):
        return torch.tensor((x - task.scaler.mean[0]) / task.scaler.std[0])

    assert task.forecast_metrics(scaled(truth), origins)["mase"] == pytest.approx(0.0)
    assert task.forecast_metrics(scaled(naive), origins)["mase"] == pytest.approx(1.0)


def _forecast_task(name, targets=()):
    spec = REGISTRY.datasets.get(name)
    data = _loader(name)({"targets": list(targets), "season": 0})
    assert spec.data_kind == "series"
    return ForecastingTask(data, {**FORECAST_PARAMS, "window": 12, "window_norm": "last"},
                           {"horizon": 3, "val_fraction": 0.15, "test_fraction": 0.15}, 0)


def _waveform_task(channels):
    options = {k: o.default for k, o in WAVE_OPTIONS.items()}
    options.update(per_class=6, channels=channels, min_length=12, max_length=20)
    params = {"length": 0, "fill": "interpolate", "normalize": "series", "clip_sigma": 0.0}
    spec = installed_registry().datasets.get("waveforms")
    return SequenceClassificationTask(load_as_tasks_see_it(spec, options), params, 0)


TASKS = {
    "forecasting-univariate": lambda: _forecast_task("nile"),
    "forecasting-multivariate": lambda: _forecast_task("macrodata", ["realgdp", "cpi"]),
    "classification-univariate": lambda: _waveform_task(1),
    "classification-multivariate": lambda: _waveform_task(3),
}
ARCHS = ("rnn", "lstm", "gru", "tcn", "transformer", "mlp", "cnn_rnn",
         # the reference models, at their papers' settings
         "fcn", "resnet1d", "inception_time", "dlinear", "nlinear", "nbeats", "patchtst")


@pytest.fixture(scope="module")
def tasks():
    return {name: make() for name, make in TASKS.items()}


@pytest.mark.parametrize("variant", list(TASKS))
@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_trains_on_every_task(tasks, arch, variant):
    task = tasks[variant]
    spec = REGISTRY.architectures.get(arch)
    task_name = "forecasting" if variant.startswith("forecasting") else "sequence_classification"
    assert task_name in spec.tasks
    params = {k: p.default for k, p in spec.params.items()}
    params.update({"bidirectional": True} if "bidirectional" in params else {})
    torch.manual_seed(0)
    model = spec.build(ModelRequest(arch, task_name, task.model_io(), params))
    batch = next(iter(task.train_batches(4, 1)))
    loss, count = task.train_step(model, batch, torch.device("cpu"))
    loss.backward()
    assert torch.isfinite(loss) and count == 4
    model.eval()
    with torch.inference_mode():
        metrics = task.evaluate(model, "val", 32, torch.device("cpu"))
    assert all(np.isfinite(v) for v in metrics.values())
    assert ("mase" in metrics) == (task_name == "forecasting")


def test_co2_missing_weeks_are_filled():
    data = _loader("co2")({"targets": [], "season": 0})
    assert np.isnan(data.values).sum() == 59
    task = ForecastingTask(data, {**FORECAST_PARAMS, "window": 52},
                           {"horizon": 4, "val_fraction": 0.15, "test_fraction": 0.15}, 0)
    assert not np.isnan(task.raw).any() and data.season == 52


def test_channelwise_forecasters_answer_for_the_target_channels(tasks):
    """NLinear with a zero linear layer is the naive forecast: each target's last value. The
    multivariate task forecasts realgdp and cpi out of all macrodata columns: the output must
    be those two channels, not the first two."""
    task = tasks["forecasting-multivariate"]
    io = task.model_io()
    spec = REGISTRY.architectures.get("nlinear")
    model = spec.build(ModelRequest("nlinear", "forecasting", io, {}))
    with torch.no_grad():
        model.network.linear.weight.zero_()
        model.network.linear.bias.zero_()
    x = torch.randn(5, io["seq_len"], io["in_features"])
    out = model(x)
    assert out.shape == (5, *io["output_shape"])
    last = x[:, -1, io["target_index"]]
    assert torch.allclose(out, last[:, None, :].expand_as(out))
    assert io["target_index"] != list(range(len(io["target_index"])))
