"""Task ``detection``: boxes and labels; the detector computes its own loss; COCO-style mAP.

Metrics come from torchmetrics' ``MeanAveragePrecision`` (pycocotools underneath), never from a
hand-written AP: ``map`` (mAP@[.5:.95]), ``map_50``, ``map_75``, ``mar_100`` and ``ap_<class>``
per class. Choose the primary one with ``objectives`` in the task file.

Preprocessing keeps boxes right. The data is the dataset's cache
(``harness.data.CachedDetection``): each batch is read ahead of the step (a prefetch thread, or
``[device] data_workers`` processes), its images resized (letterboxed or stretched) to the
trial's size with their boxes, and Gaussian-blurred when asked — per batch, so a trial's memory
does not grow with the dataset. Training batches are then augmented per sample (horizontal
flip, random crop with box clipping, colour jitter) from the trial's seeded generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import harness
import harness.data
from harness_plugins._detdata import summarize
from harness_plugins._inference import IMAGE_EXTENSIONS
from harness_plugins._inference import MAX_SIDE
from harness_plugins._inference import check_image
from harness_plugins._inference import files_with

if TYPE_CHECKING:
    import torch

PARAMS = {
    "image_size": harness.Choice(96, (64, 96, 128, 160, 224, 256, 320, 384, 416, 448, 512, 576,
                                      640), search=False,
                                 help="images are resized to this square size"),
    "multiscale": harness.Choice(False, (False, True), search=False,
                                 help="train at random sizes (75–125% of image_size, multiples "
                                      "of 32) per image; evaluate at image_size"),
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

def train_sizes(size: int, multiscale: bool) -> tuple[int, ...]:
    """The sizes a detector trains at: ``size`` alone, or multiples of 32 from 75% to 125% of
    it (``size`` last: torchvision's detector transform evaluates at its last ``min_size``)."""
    if not multiscale:
        return (size,)
    low, high = int(size * 0.75) // 32 * 32, int(size * 1.25) // 32 * 32
    others = [s for s in range(max(32, low), high + 1, 32) if s != size]
    return (*others, size)


MIN_BOX_SIDE = 2.0  # pixels: thinner boxes after a crop are dropped, never passed to a detector
MIN_KEPT_AREA = 0.4  # a cropped box survives if it keeps this share of its area


class DetectionTask:
    """One trial's view of a cached detection dataset: batches of fixed-size images with
    their box targets."""

    def __init__(self, data: harness.data.CachedDetection, params: Mapping[str, Any],
                 seed: int, device: str = "cpu", data_workers: int = 0) -> None:
        import torch

        self.data = data
        self.params = params
        self.classes = data.classes
        self.size = int(params["image_size"])
        self.generator = torch.Generator().manual_seed(seed)
        self.data_workers = data_workers
        self.pin = torch.device(device).type == "cuda"

    def _fetch(self, split: str) -> Any:
        table, size = self.data.split(split), self.size
        letterbox, sigma = self.params["resize"] == "letterbox", float(self.params["blur_sigma"])

        def fetch(index: Any) -> tuple[Any, list[Any], list[Any]]:
            import numpy as np
            import torch
            from torchvision.transforms.v2.functional import gaussian_blur

            images, boxes, labels = [], [], []
            for i in np.asarray(index, dtype=np.int64).tolist():
                image, box, label = table.sample(i)
                resized, mapped = resize_sample(torch.from_numpy(np.array(image)).permute(2, 0, 1),
                                                torch.from_numpy(np.array(box)), size, letterbox)
                images.append(resized)
                boxes.append(mapped)
                labels.append(torch.from_numpy(np.array(label)) + 1)  # 0 is the background
            stacked = torch.stack(images) if images else torch.zeros(0, 3, size, size)
            if sigma > 0 and len(stacked):
                kernel = 2 * round(3 * sigma) + 1
                stacked = gaussian_blur(stacked, [kernel, kernel], [sigma, sigma])
            return stacked, boxes, labels

        return fetch

    def _batches(self, split: str, order: Any) -> Any:
        return harness.data.batches(self._fetch(split), order, workers=self.data_workers,
                                    pin_memory=self.pin)

    def inference_card(self) -> dict[str, Any]:
        """How images were prepared, for a kept model's card."""
        return {"input": "image", "image_size": self.size,
                "letterbox": self.params["resize"] == "letterbox",
                "blur_sigma": float(self.params["blur_sigma"]), "classes": list(self.classes)}

    # -- the Task protocol -------------------------------------------------------------------

    def model_io(self) -> dict[str, Any]:
        return {"in_chans": 3, "num_classes": len(self.classes), "img_size": self.size,
                "input_shape": (3, self.size, self.size), "classes": self.classes,
                "train_sizes": train_sizes(self.size, bool(self.params["multiscale"]))}

    def split_size(self, split: str) -> int:
        return len(self.data.split(split))

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        order = harness.shuffled_batches(self.split_size("train"), batch_size, self.generator)
        for images, boxes, labels in self._batches("train", order):
            targets = list(zip(boxes, labels, strict=True))
            yield self._augment(images, targets)

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
        import torch

        n = self.split_size(split)
        order = [torch.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        predictions: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        for images, boxes, labels in self._batches(split, order):
            predictions += [{k: v.float().cpu() if k != "labels" else v.cpu()
                             for k, v in p.items()} for p in model(list(images.to(device)))]
            targets += [{"boxes": b, "labels": lab} for b, lab in zip(boxes, labels,
                                                                      strict=True)]
        return detection_metrics(predictions, targets, self.classes)

    def example_input(self, batch_size: int, device: torch.device) -> list[torch.Tensor]:
        import torch

        return list(torch.rand(batch_size, 3, self.size, self.size, device=device))

    def showcase(self, model: torch.nn.Module, split: str, device: torch.device,
                 gallery: int = 6, min_score: float = 0.3) -> dict[str, Any]:
        """Per-class AP on ``split`` and a gallery of its images with predicted and true
        boxes (in the model's input frame)."""
        import torch

        n = self.split_size(split)
        order = [torch.arange(i, min(i + 16, n)) for i in range(0, n, 16)]
        predictions: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        shown: list[dict[str, Any]] = []
        for images, boxes, labels in self._batches(split, order):
            found = [{k: v.float().cpu() if k != "labels" else v.cpu() for k, v in p.items()}
                     for p in model(list(images.to(device)))]
            predictions += found
            targets += [{"boxes": b, "labels": lab} for b, lab in zip(boxes, labels,
                                                                      strict=True)]
            for image, p, b, lab in zip(images, found, boxes, labels, strict=True):
                if len(shown) < gallery:
                    shown.append(self._drawn(image, p, b, lab, min_score))
        metrics = detection_metrics(predictions, targets, self.classes)
        return {"per_class": {c: metrics.get(f"ap_{c}", 0.0) for c in self.classes},
                "map_50": metrics["map_50"], "gallery": shown}

    def _drawn(self, image: torch.Tensor, found: dict[str, Any], boxes: Any, labels: Any,
               min_score: float) -> dict[str, Any]:
        keep = found["scores"] >= min_score
        return {"image": (image.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy(),
                "true": [[*box, self.classes[int(label) - 1]]
                         for box, label in zip(boxes.tolist(), labels.tolist(), strict=True)],
                "predicted": [[*box, self.classes[int(label) - 1], float(score)]
                              for box, label, score in zip(found["boxes"][keep].tolist(),
                                                           found["labels"][keep].tolist(),
                                                           found["scores"][keep].tolist(),
                                                           strict=True)][:10]}


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


def _load_photo(path: str, card: Any) -> Any:
    try:
        return harness.data.read_image(path, max_side=MAX_SIDE, channels=3).image
    except harness.DataError as exc:
        raise harness.DataError(f"{path}: not an image this model reads ({exc})") from None


def _prepare_photos(samples: Any, card: Any) -> Any:
    """Images resized (letterboxed or stretched) and blurred as in training."""
    import torch
    from torchvision.transforms.v2.functional import gaussian_blur

    info = card["inference"]
    size, sigma = int(info["image_size"]), float(info["blur_sigma"])
    images = []
    for i, sample in enumerate(samples):
        array = check_image(f"input {i}", sample, card | {"inference": {"channels": 3}})
        image = torch.from_numpy(array).permute(2, 0, 1)
        images.append(resize_sample(image, torch.zeros(0, 4), size, bool(info["letterbox"]))[0])
    batch = torch.stack(images)
    if sigma > 0:
        kernel = 2 * round(3 * sigma) + 1
        batch = gaussian_blur(batch, [kernel, kernel], [sigma, sigma])
    return batch


def _describe_boxes(names: Any, samples: Any, outputs: Any, card: Any) -> list[dict[str, Any]]:
    """One row per detected box, in the input image's own pixel coordinates (an image with
    none gets one row with no prediction)."""
    info = card["inference"]
    size, classes = int(info["image_size"]), info["classes"]
    rows: list[dict[str, Any]] = []
    for name, sample, found in zip(names, samples, outputs, strict=True):
        h, w = sample.shape[:2]
        boxes = original_boxes(found["boxes"].float(), h, w, size, bool(info["letterbox"]))
        if not len(boxes):
            rows.append({"path": name, "prediction": "", "score": None})
        for box, score, label in zip(boxes.tolist(), found["scores"].tolist(),
                                     found["labels"].tolist(), strict=True):
            rows.append({"path": name, "prediction": classes[int(label) - 1], "score": score,
                         "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]})
    return rows


def original_boxes(boxes: torch.Tensor, h: int, w: int, size: int,
                   letterbox: bool) -> torch.Tensor:
    """Boxes on the model's square input, mapped back onto an H×W image (the inverse of
    :func:`resize_sample`)."""
    import torch

    if letterbox:
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        top, left = (size - nh) // 2, (size - nw) // 2
        mapped = (boxes - torch.tensor([left, top, left, top])) / scale
    else:
        mapped = boxes / torch.tensor([size / w, size / h, size / w, size / h])
    return mapped.clamp(min=0).minimum(torch.tensor([w, h, w, h], dtype=mapped.dtype))


INFERENCE = harness.InferenceSpec(
    inputs="images: files, or folders of them", files=files_with(IMAGE_EXTENSIONS, "image"),
    load=_load_photo, prepare=_prepare_photos, describe=_describe_boxes)


def build(context: harness.TaskContext) -> DetectionTask:
    return DetectionTask(context.data, context.params, context.seed, context.device,
                         context.data_workers)


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="detection", build=build, data_kind=harness.data.DETECTION, metrics=METRICS,
        primary_metric="map",
        params=PARAMS, summarize_data=summarize, test_params={"image_size": 64},
        inference=INFERENCE,
        description="object detection: boxes + labels; COCO mAP (torchmetrics/pycocotools)"))
