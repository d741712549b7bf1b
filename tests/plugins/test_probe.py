"""The linear probe: a logistic regression on the features a model's classifier receives."""

from __future__ import annotations

import math

import numpy as np
import torch

from harness_plugins._probe import _all_classes
from harness_plugins._probe import linear_probe
from harness_plugins.task_classification import classification_metrics


class Features(torch.nn.Module):
    """Its classifier receives its input unchanged: the probe sees the data itself."""

    def __init__(self, width: int, classes: int) -> None:
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(width)  # running statistics that must not move
        self.head = torch.nn.Linear(width, classes)

    def get_classifier(self) -> torch.nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.norm(x)
        return self.head(x)


def _blobs(n: int, separation: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    centres = torch.eye(3, 8) * separation
    return centres[labels] + torch.randn(n, 8, generator=generator), labels


def _batches(data: tuple[torch.Tensor, torch.Tensor]):
    x, y = data
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, len(x), 16)]


def _probe(model: torch.nn.Module, separation: float, shuffle_labels: bool = False):
    splits = {split: _blobs(90, separation, seed) for seed, split in
              enumerate(("train", "val", "test"))}
    if shuffle_labels:
        x, y = splits["train"]
        splits["train"] = (x, y[torch.randperm(len(y), generator=torch.Generator()
                                               .manual_seed(9))])
    return linear_probe(model, {s: _batches(d) for s, d in splits.items()}, torch.device("cpu"),
                        lambda logits, labels: classification_metrics(logits, labels, 3), 3)


def test_separable_features_are_probed_perfectly_and_nothing_in_the_model_moves():
    model = Features(8, 3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    metrics = _probe(model, separation=12.0)
    assert metrics["val_accuracy"] == 1.0 and metrics["test_accuracy"] == 1.0
    assert {"val_macro_f1", "test_macro_f1", "val_loss", "test_loss"} <= set(metrics)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.head._forward_pre_hooks  # the hook is gone


def test_features_that_say_nothing_about_the_labels_probe_near_chance():
    metrics = _probe(Features(8, 3), separation=12.0, shuffle_labels=True)
    assert metrics["test_accuracy"] < 0.6


def test_a_model_without_a_classifier_to_find_has_no_probe():
    model = torch.nn.Sequential(torch.nn.Linear(8, 3))
    assert _probe(model, separation=12.0) == {}


class _Certain:
    """A probe as scikit-learn returns it, certain to the last bit."""

    classes_ = np.array([0, 2])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile([1.0, 0.0], (len(x), 1))


def test_certainty_is_a_finite_loss_and_an_unseen_class_is_ruled_out():
    logits = torch.from_numpy(_all_classes(_Certain(), np.zeros((4, 8)), 3)).float()
    assert torch.isfinite(logits).all()
    assert logits.argmax(dim=1).tolist() == [0, 0, 0, 0]
    loss = classification_metrics(logits, torch.tensor([2, 2, 0, 1]), 3)["loss"]
    assert math.isfinite(loss) and loss > 10  # confidently wrong costs a lot, not infinity
