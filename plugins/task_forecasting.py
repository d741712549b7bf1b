"""Task ``forecasting``: predict the next ``horizon`` steps from a window of past steps.

Splits are chronological (train, then validation, then test); a window belongs to the split
that holds all of its targets, so training never sees a validation or test target, and every
statistic (fill, clipping, normalisation) comes from the training span only. The series is the
dataset's cache, memory-mapped; the trial's filled and scaled copy is one float32 T×C array,
and windows are cut per batch. Metrics are on
the original scale: MAE, RMSE, sMAPE (%) and MASE — the MAE divided by that of the
seasonal-naive forecast on the same windows, so a value below 1 beats naive.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import harness
import harness.data
from harness_plugins._inference import SERIES_EXTENSIONS
from harness_plugins._inference import files_with
from harness_plugins._inference import read_table
from harness_plugins._seqdata import summarize_series
from harness_plugins._seqprep import Scaler
from harness_plugins._seqprep import deduplicate
from harness_plugins._seqprep import fill_missing
from harness_plugins._seqprep import fill_progressively

if TYPE_CHECKING:
    import torch

PARAMS = {
    "window": harness.Choice(48, (24, 48, 96), help="input window length (steps)",
                             check=lambda v: None if isinstance(v, int) and v >= 2 else
                             f"window must be an integer of at least 2, got {v!r}"),
    "fill": harness.Choice("interpolate", ("interpolate", "ffill"), help="missing values"),
    "dedup": harness.Choice("mean", ("mean", "last"), help="rows sharing a timestamp"),
    "clip_sigma": harness.Choice(0.0, (0.0, 3.0, 5.0),
                                 help="clip beyond this many training std devs (0 = off)"),
    "normalize": harness.Choice("zscore", ("zscore", "minmax", "none"),
                                help="scaling fitted on the training span"),
    "window_norm": harness.Choice("last", ("last", "none"),
                                  help="predict changes from each window's last value"),
}
OPTIONS = {
    "horizon": harness.Option(int, 4, "steps to forecast"),
    "val_fraction": harness.Option(float, 0.15, "share of the series (its end) for validation"),
    "test_fraction": harness.Option(float, 0.15, "share of the series (its very end) for test"),
}
METRICS = (
    harness.MetricSpec("mase", "minimize", "MAE ÷ seasonal-naive MAE on the same windows"),
    harness.MetricSpec("mae", "minimize", "mean absolute error"),
    harness.MetricSpec("rmse", "minimize", "root mean squared error"),
    harness.MetricSpec("smape", "minimize", "symmetric mean absolute percentage error (%)"),
    harness.MetricSpec("loss", "minimize", "mean squared error in model space"),
)


class ForecastingTask:
    def __init__(self, data: harness.data.CachedSeries, params: Mapping[str, Any],
                 options: Mapping[str, Any], seed: int, data_workers: int = 0) -> None:
        import numpy as np
        import torch

        self.params, self.horizon = params, int(options["horizon"])
        self.window = int(params["window"])
        values, _, self.duplicates = deduplicate(data.values, data.timestamps, params["dedup"])
        self.columns = tuple(data.columns)
        self.targets = np.array([data.columns.index(t) for t in data.targets])
        self.season = max(1, int(data.season))
        n = len(values)
        n_test = int(round(n * options["test_fraction"]))
        n_val = int(round(n * options["val_fraction"]))
        self.bounds = (n - n_val - n_test, n - n_test, n)
        if self.bounds[0] < self.window + self.horizon or min(n_val, n_test) < self.horizon:
            raise harness.TrialFailed(f"series of {n} steps is too short for window "
                                      f"{self.window} and horizon {self.horizon}")
        self.raw = fill_progressively(values, list(self.bounds), params["fill"])
        self.scaler = Scaler(self.raw[:self.bounds[0]], params["normalize"],
                             float(params["clip_sigma"]))
        self.scaled = torch.tensor(self.scaler.transform(self.raw), dtype=torch.float32)
        self.origins = self._origins()
        self.generator = torch.Generator().manual_seed(seed)
        self.data_workers = data_workers

    def _origins(self) -> dict[str, list[int]]:
        """Forecast origins t (first target step) per split, all targets inside the split."""
        train_end, val_end, end = self.bounds
        spans = {"train": (self.window, train_end), "val": (train_end, val_end),
                 "test": (val_end, end)}
        return {split: [t for t in range(max(lo, self.window), hi - self.horizon + 1)]
                for split, (lo, hi) in spans.items()}

    def _windows(self, origins: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        index = torch.tensor(origins)
        steps = torch.arange(self.window)
        x = self.scaled[(index[:, None] - self.window + steps)]
        y = self.scaled[index[:, None] + torch.arange(self.horizon)][:, :, self.targets]
        offset = torch.zeros(len(origins), 1, len(self.targets))
        if self.params["window_norm"] == "last":
            offset = x[:, -1:, self.targets].clone()
            x = x.clone()
            x[:, :, self.targets] -= offset
            y = y - offset
        return x, y, offset

    def inference_card(self) -> dict[str, Any]:
        """How windows were prepared, for a kept model's card."""
        return {"input": "series", "window": self.window, "horizon": self.horizon,
                "columns": list(self.columns), "targets": [self.columns[t] for t in self.targets],
                "target_index": [int(t) for t in self.targets], "fill": self.params["fill"],
                "window_norm": self.params["window_norm"], "scaler": self.scaler.to_dict()}

    # -- the Task protocol -------------------------------------------------------------------

    def model_io(self) -> dict[str, Any]:
        return {"in_features": int(self.scaled.shape[1]), "seq_len": self.window,
                "output_shape": (self.horizon, len(self.targets)), "horizon": self.horizon,
                "target_index": [int(t) for t in self.targets]}

    def split_size(self, split: str) -> int:
        return len(self.origins[split])

    def _fetch(self, split: str) -> Any:
        origins = self.origins[split]
        return lambda index: self._windows([origins[i] for i in index.tolist()])

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        order = harness.shuffled_batches(len(self.origins["train"]), batch_size, self.generator)
        for x, y, _ in harness.data.batches(self._fetch("train"), order,
                                            workers=self.data_workers):
            yield x, y

    def train_step(self, model: torch.nn.Module, batch: Any,
                   device: torch.device) -> tuple[torch.Tensor, int]:
        import torch.nn.functional as F

        x, y = batch
        return F.mse_loss(model(x.to(device)).float(), y.to(device)), int(len(x))

    def evaluate(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
        import torch

        n = len(self.origins[split])
        order = [torch.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        predicted, truth, offsets = [], [], []
        for x, y, offset in harness.data.batches(self._fetch(split), order,
                                                 workers=self.data_workers):
            predicted.append(model(x.to(device)).float().cpu())
            truth.append(y)
            offsets.append(offset)
        prediction, y_all = torch.cat(predicted), torch.cat(truth)
        loss = float(torch.nn.functional.mse_loss(prediction, y_all))
        return {**self.forecast_metrics(prediction + torch.cat(offsets), self.origins[split]),
                "loss": loss}

    def forecast_metrics(self, scaled_prediction: torch.Tensor,
                         origins: list[int]) -> dict[str, float]:
        """Metrics on the original scale, with the seasonal-naive MAE on the same windows."""
        import numpy as np

        pred = self.scaler.inverse(scaled_prediction.numpy().astype(np.float64), self.targets)
        steps = np.array(origins)[:, None] + np.arange(self.horizon)
        truth = self.raw[steps][:, :, self.targets]
        # seasonal naive: the value one (or more) whole seasons before each target step
        lag = self.season * np.ceil((np.arange(self.horizon) + 1) / self.season).astype(int)
        naive = self.raw[steps - lag][:, :, self.targets]
        error = pred - truth
        mae = float(np.abs(error).mean())
        naive_mae = float(np.abs(naive - truth).mean())
        denominator = np.abs(truth) + np.abs(pred)
        smape = float(np.mean(np.where(denominator > 0, 2 * np.abs(error) / denominator, 0)))
        return {"mae": mae, "rmse": float(np.sqrt((error ** 2).mean())),
                "smape": 100 * smape, "mase": mae / naive_mae if naive_mae > 0 else mae}

    def example_input(self, batch_size: int, device: torch.device) -> torch.Tensor:
        import torch

        return torch.randn(batch_size, self.window, int(self.scaled.shape[1]), device=device)

    def showcase(self, model: torch.nn.Module, split: str, device: torch.device,
                 windows: int = 4) -> dict[str, Any]:
        """Forecast against actual for a few windows of ``split``, on the series' own scale."""
        import numpy as np

        origins = self.origins[split]
        chosen = [origins[int(i)] for i in np.linspace(0, len(origins) - 1,
                                                      min(windows, len(origins)))]
        x, _, offset = self._windows(chosen)
        scaled = model(x.to(device)).float().cpu() + offset
        forecast = self.scaler.inverse(scaled.numpy().astype(np.float64), self.targets)
        shown = []
        for k, t in enumerate(chosen):
            for j, target in enumerate(self.targets):
                shown.append({"origin": int(t), "target": self.columns[target],
                              "history": self.raw[t - self.window:t, target].tolist(),
                              "actual": self.raw[t:t + self.horizon, target].tolist(),
                              "forecast": forecast[k, :, j].tolist()})
        return {"forecasts": shown}


def _load_window(path: str, card: Any) -> Any:
    """The last ``window`` steps of a series file's columns, gaps filled."""
    info = card["inference"]
    values = fill_missing(read_table(path, info["columns"]), info["fill"])
    if len(values) < int(info["window"]):
        raise harness.DataError(f"{path}: {len(values)} time step(s); this model needs the "
                                f"last {info['window']}")
    return values[-int(info["window"]):]


def _prepare_windows(samples: Any, card: Any) -> Any:
    """Windows scaled with the training statistics, each relative to its last value when the
    trial predicted changes."""
    import numpy as np
    import torch

    info = card["inference"]
    scaler = Scaler.from_dict(info["scaler"])
    x = torch.tensor(np.stack([scaler.transform(s) for s in samples]), dtype=torch.float32)
    if info["window_norm"] == "last":
        x[:, :, info["target_index"]] -= x[:, -1:, info["target_index"]].clone()
    return x


def _describe_forecasts(names: Any, samples: Any, outputs: Any, card: Any) -> list[dict[str, Any]]:
    """One row per input, step and target: the forecast on the series' own scale."""
    import numpy as np

    info = card["inference"]
    scaler = Scaler.from_dict(info["scaler"])
    targets = np.array(info["target_index"])
    predicted = np.asarray(outputs, dtype=np.float64)
    if info["window_norm"] == "last":
        last = np.stack([scaler.transform(s)[-1, targets] for s in samples])
        predicted = predicted + last[:, None, :]
    values = scaler.inverse(predicted, targets)
    return [{"path": name, "prediction": float(values[i, step, k]), "score": None,
             "step": step + 1, "target": target}
            for i, name in enumerate(names) for step in range(values.shape[1])
            for k, target in enumerate(info["targets"])]


INFERENCE = harness.InferenceSpec(
    inputs="series: CSV files holding the trained columns by name (at least a window of rows)",
    files=files_with(SERIES_EXTENSIONS, "series file"), load=_load_window,
    prepare=_prepare_windows, describe=_describe_forecasts)


def build(context: harness.TaskContext) -> ForecastingTask:
    return ForecastingTask(context.data, context.params, context.options, context.seed,
                           context.data_workers)


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="forecasting", build=build, data_kind=harness.data.SERIES, metrics=METRICS,
        primary_metric="mase", params=PARAMS, options=OPTIONS, summarize_data=summarize_series,
        test_params={"window": 24}, inference=INFERENCE,
        description="forecast the next steps of a series; MAE, RMSE, sMAPE, MASE vs naive"))
