"""Task ``detection``: boxes and labels; the detector computes its own loss; COCO-style mAP.

Metrics come from torchmetrics' ``MeanAveragePrecision`` (pycocotools underneath), never from a
hand-written AP: ``map`` (mAP@[.5:.95]), ``map_50``, ``map_75``, ``mar_100`` and ``ap_<class>``
per class. Choose the primary one with ``objectives`` in the task file.

Preprocessing keeps boxes right: every image is resized (letterboxed or stretched) once per
trial with its boxes; training batches are augmented per sample (horizontal flip, random crop
with box clipping, colour jitter) from the trial's seeded generator; Gaussian blur filters every
split alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import harness
from harness_plugins._detdata import KIND
from harness_plugins._detdata import DetectionData
from harness_plugins._detdata import DetectionSample
from harness_plugins._detdata import summarize

if TYPE_CHECKING:
    import torch

PARAMS = {
    "image_size": harness.Choice(96, (64, 96, 128, 160, 224, 256, 320, 416, 512), search=False,
                                 help="images are resized to this square size"),
    "resize": harness.Choice("letterbox", ("letterbox", "stretch"), search=False,
                             help="keep the aspect ratio and pad, or stretch"),
    "hflip": harness.Choice(True, (True, False), help="random horizontal flips"),
    "random_crop": harness.Choice(False, (False, True),
                                  help="random crops (60–100% of the side), boxes clipped"),
    "color_jitter": harness.Choice(False, (False, True),
                                   help="random brightness, contrast and saturation"),
    "blur_sigma": harness.Choice(0.0, (0.0, 0.5, 1.0), search=False,
                                 help="Gaussian blur filter applied to every split (0 = off)"),
}

METRICS = (
    harness.MetricSpec("map", "maximize", "COCO mAP@[.5:.95]"),
    harness.MetricSpec("map_50", "maximize", "mAP at IoU 0.5"),
    harness.MetricSpec("map_75", "maximize", "mAP at IoU 0.75"),
    harness.MetricSpec("mar_100", "maximize", "mean recall, 100 detections per image"),
)

MIN_BOX_SIDE = 2.0  # pixels: thinner boxes after a crop are dropped, never passed to a detector
MIN_KEPT_AREA = 0.4  # a cropped box survives if it keeps this share of its area


class DetectionTask:
    """One trial's view of a detection dataset: fixed-size tensors and box targets."""

    def __init__(self, data: DetectionData, params: Mapping[str, Any], seed: int) -> None:
        import torch

        self.params = params
        self.classes = data.classes
        self.size = int(params["image_size"])
        self.splits = {name: self._prepare(data.split(name)) for name in ("train", "val", "test")}
        self.generator = torch.Generator().manual_seed(seed)

    def _prepare(self, samples: Sequence[DetectionSample]) -> tuple[Any, list[Any], list[Any]]:
        import torch
        from torchvision.transforms.v2.functional import gaussian_blur

        images, boxes, labels = [], [], []
        for sample in samples:
            image, box = resize_sample(sample.image, sample.boxes, self.size,
                                       letterbox=self.params["resize"] == "letterbox")
            images.append(image)
            boxes.append(box)
            labels.append(sample.labels + 1)  # torchvision reserves 0 for the background
        stacked = torch.stack(images) if images else torch.zeros(0, 3, self.size, self.size)
        sigma = float(self.params["blur_sigma"])
        if sigma > 0 and len(stacked):
            kernel = 2 * round(3 * sigma) + 1
            stacked = gaussian_blur(stacked, [kernel, kernel], [sigma, sigma])
        return stacked, boxes, labels

    # -- the Task protocol -------------------------------------------------------------------

    def model_io(self) -> dict[str, Any]:
        return {"in_chans": 3, "num_classes": len(self.classes), "img_size": self.size,
                "input_shape": (3, self.size, self.size), "classes": self.classes}

    def split_size(self, split: str) -> int:
        return int(self.splits[split][0].shape[0])

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        images, boxes, labels = self.splits["train"]
        for picked in harness.shuffled_batches(len(boxes), batch_size, self.generator):
            index = picked.tolist()
            batch = images[index].clone()
            targets = [(boxes[i].clone(), labels[i].clone()) for i in index]
            yield self._augment(batch, targets)

    def _augment(self, images: torch.Tensor,
                 targets: list[tuple[Any, Any]]) -> tuple[Any, list[Any]]:
        import torch

        g = self.generator
        out_targets = []
        for i, (box, label) in enumerate(targets):
            if self.params["hflip"] and torch.rand((), generator=g) < 0.5:
                images[i], box = hflip(images[i], box)
            if self.params["random_crop"] and torch.rand((), generator=g) < 0.5:
                images[i], box, label = random_crop(images[i], box, label, g)
            out_targets.append({"boxes": box, "labels": label})
        if self.params["color_jitter"]:
            images = color_jitter(images, g)
        return images, out_targets

    def train_step(self, model: torch.nn.Module, batch: Any,
                   device: torch.device) -> tuple[torch.Tensor, int]:
        images, targets = batch
        images = list(images.to(device, non_blocking=True))
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        losses = model(images, targets)
        return sum(loss.float() for loss in losses.values()), len(images)

    def evaluate(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
        images, boxes, labels = self.splits[split]
        predictions: list[dict[str, Any]] = []
        for start in range(0, len(boxes), batch_size):
            chunk = list(images[start:start + batch_size].to(device))
            predictions += [{k: v.float().cpu() if k != "labels" else v.cpu()
                             for k, v in p.items()} for p in model(chunk)]
        targets = [{"boxes": b, "labels": lab} for b, lab in zip(boxes, labels, strict=True)]
        return detection_metrics(predictions, targets, self.classes)

    def example_input(self, batch_size: int, device: torch.device) -> list[torch.Tensor]:
        import torch

        return list(torch.rand(batch_size, 3, self.size, self.size, device=device))


def detection_metrics(predictions: list[dict[str, Any]], targets: list[dict[str, Any]],
                      classes: Sequence[str]) -> dict[str, float]:
    """COCO metrics from torchmetrics; labels are 1-based (0 is the background)."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True)
    metric.update(predictions, targets)
    result = metric.compute()
    metrics = {name: float(result[name]) for name in ("map", "map_50", "map_75", "mar_100")}
    per_class = result["map_per_class"].flatten().tolist()
    for label, ap in zip(result["classes"].flatten().tolist(), per_class, strict=True):
        if 1 <= label <= len(classes) and ap >= 0:  # -1 means "no such class in this split"
            metrics[f"ap_{classes[int(label) - 1]}"] = float(ap)
    # torchmetrics reports -1 where a quantity is undefined (no ground truth at all)
    return {k: max(v, 0.0) for k, v in metrics.items()}


def resize_sample(image: torch.Tensor, boxes: torch.Tensor, size: int,
                  letterbox: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 3×H×W → float 3×size×size in [0, 1], boxes mapped alike."""
    import torch
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    if letterbox:
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        sx = sy = scale
    else:
        nh = nw = size
        sx, sy = size / w, size / h
    resized = F.interpolate(image[None].float() / 255.0, size=(nh, nw), mode="bilinear",
                            antialias=True, align_corners=False)[0]
    canvas = torch.full((3, size, size), 0.5)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[:, top:top + nh, left:left + nw] = resized
    mapped = boxes * torch.tensor([sx, sy, sx, sy]) + torch.tensor([left, top, left, top])
    return canvas, mapped.clamp(0, size)


def hflip(image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    width = image.shape[-1]
    flipped = boxes.clone()
    flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return image.flip(-1), flipped


def random_crop(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop 60–100% of each side at a random place, resize back; clip boxes, drop lost ones."""
    import torch
    import torch.nn.functional as F

    _, h, w = image.shape
    scale = 0.6 + 0.4 * float(torch.rand((), generator=generator))
    ch, cw = max(2, int(h * scale)), max(2, int(w * scale))
    top = int(torch.randint(0, h - ch + 1, (), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (), generator=generator))
    crop = image[:, top:top + ch, left:left + cw]
    resized = F.interpolate(crop[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    shifted = boxes - torch.tensor([left, top, left, top], dtype=boxes.dtype)
    clipped = torch.stack([shifted[:, 0].clamp(0, cw), shifted[:, 1].clamp(0, ch),
                           shifted[:, 2].clamp(0, cw), shifted[:, 3].clamp(0, ch)], dim=1)
    clipped = clipped * torch.tensor([w / cw, h / ch, w / cw, h / ch])
    keep = _kept(boxes, clipped, w / cw, h / ch)
    return resized, clipped[keep], labels[keep]


def _kept(original: torch.Tensor, clipped: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    def area(b: torch.Tensor) -> torch.Tensor:
        return (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)

    widths, heights = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    retained = area(clipped) / (area(original) * sx * sy).clamp(min=1e-6)
    return (widths >= MIN_BOX_SIDE) & (heights >= MIN_BOX_SIDE) & (retained >= MIN_KEPT_AREA)


def color_jitter(images: torch.Tensor, generator: torch.Generator,
                 strength: float = 0.25) -> torch.Tensor:
    """Per-sample brightness, contrast and saturation, vectorised over the batch."""
    import torch

    n = images.shape[0]

    def factor() -> torch.Tensor:
        return 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * strength

    grey = images.mean(dim=1, keepdim=True)
    images = grey + (images - grey) * factor()  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = mean + (images - mean) * factor()  # contrast
    return (images * factor()).clamp(0, 1)  # brightness


def build(context: harness.TaskContext) -> DetectionTask:
    return DetectionTask(context.data, context.params, context.seed)


@harness.hookimpl
def register_tasks(register: Any) -> None:
    register(harness.TaskSpec(
        name="detection", build=build, data_kind=KIND, metrics=METRICS, primary_metric="map",
        params=PARAMS, summarize_data=summarize, test_params={"image_size": 64},
        description="object detection: boxes + labels; COCO mAP (torchmetrics/pycocotools)"))
