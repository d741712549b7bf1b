"""Task ``sequence_classification``: one label per (possibly variable-length) series.

Series are brought to one length (the last ``length`` steps; shorter ones padded at the front
with zeros after normalisation, so the padding carries no signal), gaps filled inside each
series, and normalised per series or with training-split statistics.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import harness
from harness_plugins._seqdata import SEQUENCES
from harness_plugins._seqdata import SequenceData
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


class SequenceClassificationTask:
    def __init__(self, data: SequenceData, params: Mapping[str, Any], seed: int) -> None:
        import numpy as np
        import torch

        self.params, self.classes = params, data.classes
        longest = max(len(s) for s in data.train.series)
        self.length = int(params["length"]) or longest
        filled = {k: [fill_missing(s, params["fill"]) for s in data.split(k).series]
                  for k in ("train", "val", "test")}
        train_rows = np.concatenate(filled["train"])
        self.scaler = Scaler(train_rows, "zscore" if params["normalize"] == "global" else "none",
                             float(params["clip_sigma"]))
        self.x = {k: self._stack(v) for k, v in filled.items()}
        self.y = {k: torch.tensor(data.split(k).labels, dtype=torch.long)
                  for k in ("train", "val", "test")}
        self.generator = torch.Generator().manual_seed(seed)

    def _stack(self, series: list[Any]) -> torch.Tensor:
        import numpy as np
        import torch

        out = np.zeros((len(series), self.length, series[0].shape[1]), dtype=np.float32)
        for i, s in enumerate(series):
            s = self.scaler.transform(s)[-self.length:]
            if self.params["normalize"] == "series":
                s = (s - s.mean(axis=0)) / (s.std(axis=0) + 1e-8)
            out[i, self.length - len(s):] = np.nan_to_num(s)
        return torch.from_numpy(out)

    # -- the Task protocol -------------------------------------------------------------------

    def model_io(self) -> dict[str, Any]:
        return {"in_features": int(self.x["train"].shape[2]), "seq_len": self.length,
                "output_shape": (len(self.classes),), "num_classes": len(self.classes)}

    def split_size(self, split: str) -> int:
        return int(len(self.y[split]))

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        for index in harness.shuffled_batches(len(self.y["train"]), batch_size,
                                              self.generator):
            yield self.x["train"][index], self.y["train"][index]

    def train_step(self, model: torch.nn.Module, batch: Any,
                   device: torch.device) -> tuple[torch.Tensor, int]:
        import torch.nn.functional as F

        x, y = batch
        return F.cross_entropy(model(x.to(device)).float(), y.to(device)), int(len(y))

    def evaluate(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
        import torch

        x = self.x[split]
        logits = torch.cat([model(x[i:i + batch_size].to(device)).float().cpu()
                            for i in range(0, len(x), batch_size)])
        metrics = classification_metrics(logits, self.y[split], len(self.classes))
        metrics.pop("top5_accuracy", None)
        return metrics

    def example_input(self, batch_size: int, device: torch.device) -> torch.Tensor:
        import torch

        return torch.randn(batch_size, self.length, int(self.x["train"].shape[2]), device=device)


def build(context: harness.TaskContext) -> SequenceClassificationTask:
    return SequenceClassificationTask(context.data, context.params, context.seed)


@harness.hookimpl
def register_tasks(register: Any) -> None:
    register(harness.TaskSpec(
        name="sequence_classification", build=build, data_kind=SEQUENCES, metrics=METRICS,
        primary_metric="accuracy", params=PARAMS, summarize_data=summarize_sequences,
        description="classify whole series (variable length, multivariate); accuracy, macro-F1"))
