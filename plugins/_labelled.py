"""What the sequence, text and audio classification tasks share: batches of (inputs, labels)
drawn from a cached split, cross-entropy, and (for text and audio) metrics that stay honest on
imbalanced classes."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

import harness
import harness.data
from harness_plugins.task_classification import classification_metrics
from harness_plugins.task_classification import confusion_showcase

if TYPE_CHECKING:
    import torch

METRICS = (
    harness.MetricSpec("accuracy", "maximize", "top-1 accuracy"),
    harness.MetricSpec("macro_f1", "maximize", "F1 averaged over classes"),
    harness.MetricSpec("balanced_accuracy", "maximize",
                       "recall averaged over classes (a 13%-spam corpus scores 0.5 by "
                       "always saying ham)"),
    harness.MetricSpec("loss", "minimize", "mean cross-entropy"),
)


def labelled_metrics(logits: torch.Tensor, labels: torch.Tensor,
                     classes: int) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score

    metrics = classification_metrics(logits, labels, classes)
    metrics.pop("top5_accuracy", None)
    metrics["balanced_accuracy"] = float(balanced_accuracy_score(labels.numpy(),
                                                                 logits.argmax(1).numpy()))
    return metrics


class LabelledTask:
    """The Task protocol for one label per sample, over ``fetch(split, train)`` functions that
    turn row indices into ``(inputs, labels)`` tensors."""

    classes: tuple[str, ...]
    generator: torch.Generator
    data_workers: int

    def fetch(self, split: str, train: bool) -> Callable[[Any], tuple[Any, Any]]:
        raise NotImplementedError

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """The metrics of ``evaluate``: the task's own, from logits and true labels."""
        return labelled_metrics(logits, labels, len(self.classes))

    def split_size(self, split: str) -> int:
        raise NotImplementedError

    def _ordered(self, split: str, batch_size: int) -> Iterator[Any]:
        import torch

        n = self.split_size(split)
        order = [torch.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        return harness.data.batches(self.fetch(split, False), order, workers=self.data_workers)

    def _outputs(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        logits, labels = [], []
        for x, y in self._ordered(split, batch_size):
            logits.append(model(x.to(device)).float().cpu())
            labels.append(y)
        return torch.cat(logits), torch.cat(labels)

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        order = harness.shuffled_batches(self.split_size("train"), batch_size, self.generator)
        yield from harness.data.batches(self.fetch("train", True), order,
                                        workers=self.data_workers)

    def train_step(self, model: torch.nn.Module, batch: Any,
                   device: torch.device) -> tuple[torch.Tensor, int]:
        import torch.nn.functional as F

        x, y = batch
        return F.cross_entropy(model(x.to(device)).float(), y.to(device)), int(len(y))

    def evaluate(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
        logits, labels = self._outputs(model, split, batch_size, device)
        return self.score(logits, labels)

    def showcase(self, model: torch.nn.Module, split: str, device: torch.device) -> dict[str, Any]:
        """The confusion matrix and most confident mistakes on ``split``."""
        logits, labels = self._outputs(model, split, 64, device)
        return confusion_showcase(logits, labels, list(self.classes))
