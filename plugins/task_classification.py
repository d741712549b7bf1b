"""Task ``classification``: images in, one class out; cross-entropy; accuracy, top-5, macro-F1.

Preprocessing is part of the search: resize, normalisation, augmentation (flip, random crop,
colour jitter) and Gaussian-blur filtering. The data is the dataset's cache
(``harness.data.CachedImageClassification``): each batch is gathered as ``uint8`` ahead of the
step (a prefetch thread, or ``[device] data_workers`` processes), moved to the trial's device,
and resized, blurred and normalised there — per batch, never as a copy of the dataset. The
normalisation statistics are the training split's, computed once when the cache was built.
Augmentation draws from the trial's seeded generator, so a trial is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import harness
import harness.data
from harness_plugins._inference import IMAGE_EXTENSIONS
from harness_plugins._inference import check_image
from harness_plugins._inference import files_with
from harness_plugins._inference import load_image
from harness_plugins._inference import softmax_rows
from harness_plugins._probe import linear_probe

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENTATIONS = ("none", "flip", "crop", "flip_crop", "jitter", "crop_jitter")

PARAMS = {
    "image_size": harness.Choice(32, (16, 32, 64), search=False,
                                 help="images are resized to this square size"),
    "normalize": harness.Choice("standard", ("standard", "none", "pretrained"),
                                help="per-channel z-score by the training split's statistics, "
                                     "none, or the mean/std the pretrained weights expect"),
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
    """One trial's view of a cached image-classification dataset."""

    def __init__(self, data: harness.data.CachedImageClassification,
                 params: Mapping[str, Any], seed: int, device: str = "cpu",
                 data_workers: int = 0) -> None:
        import torch

        self.data = data
        self.params = params
        self.num_classes = len(data.classes)
        self.size = int(params["image_size"])
        self.channels = int(data.split("train").shape[2])
        self.device = torch.device(device)
        self.data_workers = data_workers
        self.generator = torch.Generator().manual_seed(seed)
        standard = params["normalize"] == "standard"
        self.mean = torch.tensor(data.mean if standard else [0.0] * self.channels)
        self.std = torch.tensor(data.std if standard else [1.0] * self.channels)

    def _fetch(self, split: str) -> Any:
        table = self.data.split(split)

        def fetch(index: Any) -> tuple[torch.Tensor, torch.Tensor]:
            import numpy as np
            import torch

            index = np.asarray(index, dtype=np.int64)
            return torch.from_numpy(table.images(index)), torch.from_numpy(table.labels[index])

        return fetch

    def _batches(self, split: str, order: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return harness.data.batches(self._fetch(split), order, workers=self.data_workers,
                                    pin_memory=self.device.type == "cuda")

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` B×H×W×C → float B×C×S×S on the trial's device: resized, blurred and
        normalised."""
        return prepare_images(images.to(self.device, non_blocking=True), self.size,
                              float(self.params["blur_sigma"]), self.mean, self.std)

    def inference_card(self) -> dict[str, Any]:
        """How inputs were prepared, for a kept model's card."""
        return {"input": "image", "stored_size": int(self.data.split("train").shape[1]),
                "channels": self.channels, "image_size": self.size,
                "blur_sigma": float(self.params["blur_sigma"]),
                "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
                "classes": list(self.data.classes)}

    def adapt_to_model(self, model: torch.nn.Module) -> None:
        """With ``normalize = "pretrained"``, the mean/std the model's weights were trained
        with (timm's ``pretrained_cfg``; ImageNet's where the model has none)."""
        import torch

        if self.params["normalize"] != "pretrained":
            return
        cfg = getattr(model, "pretrained_cfg", None) or {}
        mean = list(cfg.get("mean") or IMAGENET_MEAN)
        std = list(cfg.get("std") or IMAGENET_STD)
        if len(mean) != self.channels:  # grey images into an RGB network: one average channel
            mean = [sum(mean) / len(mean)] * self.channels
            std = [sum(std) / len(std)] * self.channels
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    # -- the Task protocol -------------------------------------------------------------------

    def model_io(self) -> dict[str, Any]:
        return {"in_chans": self.channels, "num_classes": self.num_classes,
                "img_size": self.size, "input_shape": (self.channels, self.size, self.size)}

    def split_size(self, split: str) -> int:
        return len(self.data.split(split))

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        order = harness.shuffled_batches(self.split_size("train"), batch_size, self.generator)
        for images, labels in self._batches("train", order):
            yield augment(self.prepare(images), str(self.params["augment"]),
                          self.generator), labels

    def train_step(self, model: torch.nn.Module, batch: Any,
                   device: torch.device) -> tuple[torch.Tensor, int]:
        import torch.nn.functional as F

        images, labels = batch
        logits = model(images.to(device, non_blocking=True))
        return F.cross_entropy(logits.float(), labels.to(device)), int(labels.shape[0])

    def evaluate(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
        return classification_metrics(*self._outputs(model, split, batch_size, device),
                                      self.num_classes)

    def _outputs(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's logits on ``split``, in order, and the true labels (on the CPU)."""
        import torch

        logits, labels = [], []
        for images, target in self._prepared(split, batch_size):
            logits.append(model(images.to(device)).float().cpu())
            labels.append(target)
        return torch.cat(logits), torch.cat(labels)

    def _prepared(self, split: str, batch_size: int) -> Iterator[tuple[torch.Tensor, Any]]:
        """The split in order, prepared as for evaluation (no augmentation)."""
        import torch

        n = self.split_size(split)
        order = [torch.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        for images, target in self._batches(split, order):
            yield self.prepare(images), target

    def linear_probe(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        """The pretrained model's reference: a logistic regression on its frozen features
        (``harness_plugins._probe``), scored with this task's metrics."""
        return linear_probe(model, {s: self._prepared(s, 64) for s in ("train", "val", "test")},
                            device, lambda logits, labels: classification_metrics(
                                logits, labels, self.num_classes), self.num_classes)

    def example_input(self, batch_size: int, device: torch.device) -> torch.Tensor:
        import torch

        return torch.randn(batch_size, self.channels, self.size, self.size, device=device)

    def showcase(self, model: torch.nn.Module, split: str, device: torch.device) -> dict[str, Any]:
        """What the model does on ``split``: its confusion matrix and most confident mistakes
        (for the report's section on the best kept model)."""
        import numpy as np

        logits, labels = self._outputs(model, split, 64, device)
        table = self.data.split(split)
        return confusion_showcase(logits, labels, list(self.data.classes),
                                  lambda i: table.images(np.array([i]))[0])


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

    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def _random_crop(images: torch.Tensor, generator: torch.Generator,
                 pad_fraction: float = 0.125) -> torch.Tensor:
    """Pad by ``pad_fraction`` of the side (reflect) and crop back at a random offset."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = images.shape
    pad = max(1, int(round(min(h, w) * pad_fraction)))
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
    c = images.shape[1]
    steps_h = torch.arange(h, device=images.device)
    steps_w = torch.arange(w, device=images.device)
    rows = (dy[:, None] + steps_h[None, :])[:, None, :, None]
    cropped = padded.gather(2, rows.expand(n, c, h, w + 2 * pad))
    cols = (dx[:, None] + steps_w[None, :])[:, None, None, :]
    return cropped.gather(3, cols.expand(n, c, h, w))


def _colour_jitter(images: torch.Tensor, generator: torch.Generator,
                   strength: float = 0.2) -> torch.Tensor:
    """Random brightness and contrast per sample (works on normalised tensors too)."""
    import torch

    n = images.shape[0]
    brightness = ((torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * strength).to(
        images.device)
    contrast = (1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * strength).to(
        images.device)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * contrast + mean + brightness


def confusion_showcase(logits: torch.Tensor, labels: torch.Tensor, classes: list[str],
                       image: Any = None, mistakes: int = 8) -> dict[str, Any]:
    """A confusion matrix (rows: true, columns: predicted) and the most confident mistakes,
    with their inputs as images when ``image(i)`` gives them."""
    import torch

    probabilities = torch.softmax(logits, dim=1)
    score, predicted = probabilities.max(dim=1)
    matrix = torch.zeros(len(classes), len(classes), dtype=torch.int64)
    for true, guess in zip(labels.tolist(), predicted.tolist(), strict=True):
        matrix[true, guess] += 1
    wrong = [i for i in torch.argsort(score, descending=True).tolist()
             if predicted[i] != labels[i]][:mistakes]
    return {"classes": classes, "confusion": matrix.tolist(),
            "mistakes": [{"image": image(i) if image is not None else None,
                          "true": classes[int(labels[i])],
                          "predicted": classes[int(predicted[i])], "score": float(score[i])}
                         for i in wrong]}


def prepare_images(images: torch.Tensor, size: int, blur_sigma: float, mean: Any,
                   std: Any) -> torch.Tensor:
    """``uint8`` B×H×W×C → float B×C×S×S on the images' device: resized, blurred and
    normalised (shared by training and ``harness model predict``)."""
    import torch
    import torch.nn.functional as F
    from torchvision.transforms.v2.functional import gaussian_blur

    x = images.permute(0, 3, 1, 2)
    if x.shape[-1] != size or x.shape[-2] != size:
        # On the CPU, resize the uint8 channels-last batch first: PyTorch's uint8 bilinear
        # path is ~5× faster than resizing floats (and the float work then shrinks too).
        if x.device.type != "cpu":
            x = x.float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    x = x.float().div_(255)
    if blur_sigma > 0:
        kernel = 2 * round(3 * blur_sigma) + 1
        x = gaussian_blur(x, [kernel, kernel], [blur_sigma, blur_sigma])
    mean = torch.as_tensor(mean, dtype=torch.float32).to(x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).to(x.device).view(1, -1, 1, 1)
    return ((x - mean) / std).contiguous()


def _prepare_for_inference(samples: Any, card: Any) -> torch.Tensor:
    import numpy as np
    import torch

    info = card["inference"]
    batch = np.stack([check_image(f"input {i}", s, card) for i, s in enumerate(samples)])
    return prepare_images(torch.from_numpy(batch), int(info["image_size"]),
                          float(info["blur_sigma"]), info["mean"], info["std"])


INFERENCE = harness.InferenceSpec(
    inputs="images: files, or folders of them (class sub-folders allowed)",
    files=files_with(IMAGE_EXTENSIONS, "image"), load=load_image,
    prepare=_prepare_for_inference,
    describe=lambda names, samples, logits, card: softmax_rows(
        names, logits, card["inference"]["classes"]))


def build(context: harness.TaskContext) -> ClassificationTask:
    return ClassificationTask(context.data, context.params, context.seed, context.device,
                              context.data_workers)


def summarize(data: harness.data.CachedImageClassification) -> harness.DataSummary:
    """Per-split image hashes and labels, for the conformance kit."""
    splits = ("train", "val", "test")
    return harness.DataSummary({s: data.split(s).fingerprints() for s in splits},
                               {s: data.split(s).labels.tolist() for s in splits},
                               len(data.classes))


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="classification", build=build, data_kind=harness.data.IMAGE_CLASSIFICATION,
        metrics=METRICS,
        primary_metric="accuracy", params=PARAMS, summarize_data=summarize,
        test_params={"image_size": 16}, inference=INFERENCE,
        description="image classification: cross-entropy; accuracy, top-5, macro-F1"))
