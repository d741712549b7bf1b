"""Task ``classification``: images in, one class out; cross-entropy; accuracy, top-5, macro-F1.

Preprocessing is part of the search: resize, normalisation, augmentation (flip, random crop,
colour jitter) and Gaussian-blur filtering. Resizing, blurring and normalisation run once per
trial on whole tensors; augmentation runs per batch with the trial's seeded generator, so a trial
is reproducible. Normalisation statistics come from the training split only.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import harness
from harness_plugins._imagedata import KIND
from harness_plugins._imagedata import ImageClassificationData
from harness_plugins._imagedata import summarize

if TYPE_CHECKING:
    import torch

AUGMENTATIONS = ("none", "flip", "crop", "flip_crop", "jitter", "crop_jitter")

PARAMS = {
    "image_size": harness.Choice(32, (16, 32, 64), search=False,
                                 help="images are resized to this square size"),
    "normalize": harness.Choice("standard", ("standard", "none"),
                                help="per-channel z-score (train statistics) or none"),
    "augment": harness.Choice("none", AUGMENTATIONS, help="training-time augmentation"),
    "blur_sigma": harness.Choice(0.0, (0.0, 0.5, 1.0),
                                 help="Gaussian blur filter applied to every split (0 = off)"),
}

METRICS = (
    harness.MetricSpec("accuracy", "maximize", "top-1 accuracy"),
    harness.MetricSpec("top5_accuracy", "maximize", "top-5 accuracy (more than 5 classes)"),
    harness.MetricSpec("macro_f1", "maximize", "F1 averaged over classes"),
    harness.MetricSpec("loss", "minimize", "mean cross-entropy"),
)


class ClassificationTask:
    """One trial's view of an image-classification dataset."""

    def __init__(self, data: ImageClassificationData, params: Mapping[str, Any], seed: int):
        import torch

        self.params = params
        self.num_classes = len(data.classes)
        self.size = int(params["image_size"])
        self.splits = {name: self._prepare(data.split(name).images)
                       for name in ("train", "val", "test")}
        self.labels = {name: data.split(name).labels for name in ("train", "val", "test")}
        if params["normalize"] == "standard":
            train = self.splits["train"]
            mean = train.mean(dim=(0, 2, 3), keepdim=True)
            std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
            self.splits = {k: (v - mean) / std for k, v in self.splits.items()}
        self.channels = int(self.splits["train"].shape[1])
        self.generator = torch.Generator().manual_seed(seed)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F
        from torchvision.transforms.v2.functional import gaussian_blur

        if images.shape[-1] != self.size or images.shape[-2] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear",
                                   antialias=True, align_corners=False)
        sigma = float(self.params["blur_sigma"])
        if sigma > 0:
            kernel = 2 * round(3 * sigma) + 1
            images = gaussian_blur(images, [kernel, kernel], [sigma, sigma])
        return images.contiguous()

    # -- the Task protocol -------------------------------------------------------------------

    def model_io(self) -> dict[str, Any]:
        return {"in_chans": self.channels, "num_classes": self.num_classes,
                "img_size": self.size, "input_shape": (self.channels, self.size, self.size)}

    def split_size(self, split: str) -> int:
        return int(self.labels[split].shape[0])

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        images, labels = self.splits["train"], self.labels["train"]
        for index in harness.shuffled_batches(len(labels), batch_size, self.generator):
            yield augment(images[index], str(self.params["augment"]), self.generator), \
                labels[index]

    def train_step(self, model: torch.nn.Module, batch: Any,
                   device: torch.device) -> tuple[torch.Tensor, int]:
        import torch.nn.functional as F

        images, labels = batch
        logits = model(images.to(device, non_blocking=True))
        return F.cross_entropy(logits.float(), labels.to(device)), int(labels.shape[0])

    def evaluate(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
        import torch

        images, labels = self.splits[split], self.labels[split]
        logits = torch.cat([model(images[i:i + batch_size].to(device)).float().cpu()
                            for i in range(0, len(labels), batch_size)])
        return classification_metrics(logits, labels, self.num_classes)

    def example_input(self, batch_size: int, device: torch.device) -> torch.Tensor:
        import torch

        return torch.randn(batch_size, self.channels, self.size, self.size, device=device)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor,
                           num_classes: int) -> dict[str, float]:
    """Accuracy, top-5 accuracy (more than five classes), macro-F1 and loss."""
    import torch.nn.functional as F
    from sklearn.metrics import f1_score

    predicted = logits.argmax(dim=1)
    metrics = {
        "accuracy": float((predicted == labels).float().mean()),
        "macro_f1": float(f1_score(labels.numpy(), predicted.numpy(), average="macro",
                                   labels=list(range(num_classes)), zero_division=0)),
        "loss": float(F.cross_entropy(logits, labels)),
    }
    if num_classes > 5:
        top5 = logits.topk(5, dim=1).indices
        metrics["top5_accuracy"] = float((top5 == labels[:, None]).any(dim=1).float().mean())
    return metrics


def augment(images: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """Per-sample random flip / crop / colour jitter, vectorised over the batch."""
    if "flip" in mode:
        images = _random_flip(images, generator)
    if "crop" in mode:
        images = _random_crop(images, generator)
    if "jitter" in mode:
        images = _colour_jitter(images, generator)
    return images


def _random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    import torch

    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def _random_crop(images: torch.Tensor, generator: torch.Generator,
                 pad_fraction: float = 0.125) -> torch.Tensor:
    """Pad by ``pad_fraction`` of the side (reflect) and crop back at a random offset."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = images.shape
    pad = max(1, int(round(min(h, w) * pad_fraction)))
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    c = images.shape[1]
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cropped = padded.gather(2, rows.expand(n, c, h, w + 2 * pad))
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    return cropped.gather(3, cols.expand(n, c, h, w))


def _colour_jitter(images: torch.Tensor, generator: torch.Generator,
                   strength: float = 0.2) -> torch.Tensor:
    """Random brightness and contrast per sample (works on normalised tensors too)."""
    import torch

    n = images.shape[0]
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * strength
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * strength
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * contrast + mean + brightness


def build(context: harness.TaskContext) -> ClassificationTask:
    return ClassificationTask(context.data, context.params, context.seed)


@harness.hookimpl
def register_tasks(register: Any) -> None:
    register(harness.TaskSpec(
        name="classification", build=build, data_kind=KIND, metrics=METRICS,
        primary_metric="accuracy", params=PARAMS, summarize_data=summarize,
        test_params={"image_size": 16},
        description="image classification: cross-entropy; accuracy, top-5, macro-F1"))
