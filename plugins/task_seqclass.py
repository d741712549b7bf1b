"""Task ``sequence_classification``: one label per (possibly variable-length) series.

Series are brought to one length (the last ``length`` steps; shorter ones padded at the front
with zeros after normalisation, so the padding carries no signal), gaps filled inside each
series, and normalised per series or with training-split statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import harness
import harness.data
from harness_plugins._inference import SERIES_EXTENSIONS
from harness_plugins._inference import files_with
from harness_plugins._inference import read_rows
from harness_plugins._inference import softmax_rows
from harness_plugins._labelled import LabelledTask
from harness_plugins._seqdata import summarize_sequences
from harness_plugins._seqprep import Scaler
from harness_plugins._seqprep import fill_missing
from harness_plugins.task_classification import classification_metrics

if TYPE_CHECKING:
    import torch

PARAMS = {
    "length": harness.Choice(0, (0, 32, 64, 128, 256), search=False,
                             help="steps kept per series (0: the longest training series)"),
    "fill": harness.Choice("interpolate", ("interpolate", "ffill"), help="missing values"),
    "normalize": harness.Choice("series", ("series", "global", "none"),
                                help="z-score each series, or with training statistics"),
    "clip_sigma": harness.Choice(0.0, (0.0, 3.0), help="clip beyond k training std devs"),
}
METRICS = (
    harness.MetricSpec("accuracy", "maximize", "top-1 accuracy"),
    harness.MetricSpec("macro_f1", "maximize", "F1 averaged over classes"),
    harness.MetricSpec("loss", "minimize", "mean cross-entropy"),
)


class SequenceClassificationTask(LabelledTask):  # type: ignore[misc]  # harness_plugins: Any to mypy
    """One trial's view of cached labelled series: batches are filled, scaled and padded as
    they are read, so a trial's memory does not grow with the dataset."""

    def __init__(self, data: harness.data.CachedSequences, params: Mapping[str, Any],
                 seed: int, data_workers: int = 0) -> None:
        import torch

        self.data, self.params, self.classes = data, params, data.classes
        train = data.split("train")
        self.length = int(params["length"]) or int(train.lengths.max())
        self.scaler = Scaler.streaming(
            (fill_missing(train.series(i), params["fill"]) for i in range(len(train))),
            "zscore" if params["normalize"] == "global" else "none", float(params["clip_sigma"]))
        self.generator = torch.Generator().manual_seed(seed)
        self.data_workers = data_workers

    def fetch(self, split: str, train: bool) -> Any:
        table = self.data.split(split)

        def fetch(index: Any) -> tuple[torch.Tensor, torch.Tensor]:
            import numpy as np
            import torch

            rows = np.asarray(index, dtype=np.int64)
            series = [table.series(i) for i in rows.tolist()]
            out = prepare_series(series, self.length, table.channels, self.params["fill"],
                                 self.scaler, self.params["normalize"] == "series")
            return torch.from_numpy(out), torch.from_numpy(table.labels[rows])

        return fetch

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        metrics = classification_metrics(logits, labels, len(self.classes))
        metrics.pop("top5_accuracy", None)
        return metrics

    def inference_card(self) -> dict[str, Any]:
        """How series were prepared, for a kept model's card."""
        return {"input": "series", "length": self.length,
                "channels": int(self.data.split("train").channels),
                "fill": self.params["fill"], "per_series": self.params["normalize"] == "series",
                "scaler": self.scaler.to_dict(), "classes": list(self.classes)}

    # -- the Task protocol -------------------------------------------------------------------

    def model_io(self) -> dict[str, Any]:
        return {"in_features": self.data.split("train").channels, "seq_len": self.length,
                "output_shape": (len(self.classes),), "num_classes": len(self.classes)}

    def split_size(self, split: str) -> int:
        return len(self.data.split(split))

    def example_input(self, batch_size: int, device: torch.device) -> torch.Tensor:
        import torch

        channels = self.data.split("train").channels
        return torch.randn(batch_size, self.length, channels, device=device)


def prepare_series(series: Any, length: int, channels: int, fill: str, scaler: Scaler,
                   per_series: bool) -> Any:
    """Series (T×C each) as one float32 N×length×C batch: gaps filled, scaled, the last
    ``length`` steps kept, shorter ones zero-padded at the front (shared by training and
    ``harness model predict``)."""
    import numpy as np

    out = np.zeros((len(series), length, channels), dtype=np.float32)
    for slot, values in enumerate(series):
        s = scaler.transform(fill_missing(values, fill))[-length:]
        if per_series:
            s = (s - s.mean(axis=0)) / (s.std(axis=0) + 1e-8)
        out[slot, length - len(s):] = np.nan_to_num(s)
    return out


def _load_series(path: str, card: Any) -> Any:
    return read_rows(path, int(card["inference"]["channels"]))


def _prepare_for_inference(samples: Any, card: Any) -> Any:
    import torch

    info = card["inference"]
    return torch.from_numpy(prepare_series(samples, int(info["length"]), int(info["channels"]),
                                           info["fill"], Scaler.from_dict(info["scaler"]),
                                           bool(info["per_series"])))


INFERENCE = harness.InferenceSpec(
    inputs="series: CSV files, one row per time step and one column per channel",
    files=files_with(SERIES_EXTENSIONS, "series file"), load=_load_series,
    prepare=_prepare_for_inference,
    describe=lambda names, samples, logits, card: softmax_rows(
        names, logits, card["inference"]["classes"]))


def build(context: harness.TaskContext) -> SequenceClassificationTask:
    return SequenceClassificationTask(context.data, context.params, context.seed,
                                      context.data_workers)


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="sequence_classification", build=build, data_kind=harness.data.SEQUENCES,
        metrics=METRICS, primary_metric="accuracy", params=PARAMS,
        summarize_data=summarize_sequences, inference=INFERENCE,
        description="classify whole series (variable length, multivariate); accuracy, macro-F1"))
