"""The data path at GPU speed: resnet50, AMP, channels_last, 224 px from the dataset cache.

    python benchmarks/gpu_data_path.py [--images 20000] [--batch 256] [--steps 60] [--workers 8]

Builds a synthetic ImageFolder (256 px JPEGs) into the cache once, then trains resnet50 on it
through the classification task's own batches (``harness.data.batches`` with ``workers``
loader processes, pinned memory, non-blocking copies; resize, normalisation and flips on the
GPU) and reports train samples/s, the share of step time spent waiting for data (target
≤ 5%), and inference samples/s at the same batch — with the same model fed from a tensor
already on the GPU as the ceiling. Prints one JSON line and a Markdown row.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_folder(root: Path, count: int) -> None:
    if (root / "done").exists():
        return
    rng = np.random.default_rng(0)
    base = np.linspace(30, 220, 256)[None, :, None]
    for i in range(count):
        folder = root / f"class{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = base * rng.uniform(0.5, 1.0, (1, 1, 3)) + rng.normal(0, 18, (256, 256, 3))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg",
                                                                    quality=90)
    (root / "done").write_text("")


def main() -> None:
    import timm
    import torch

    from harness.data._cache import DataCache
    from harness.data._materialize import materialize
    from harness.testing import installed_registry
    from harness_plugins.task_classification import ClassificationTask

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--work", type=Path, default=Path("/tmp/harness-gpu"))
    args = parser.parse_args()
    assert torch.cuda.is_available(), "needs a CUDA device"
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True

    write_folder(args.work / "images", args.images)
    spec = installed_registry().datasets.get("imagefolder")
    options = {"path": str(args.work / "images"), "image_size": 224, "channels": 3,
               "val_fraction": 0.05, "test_fraction": 0.05, "split_seed": 0, "strict": False}
    started = time.perf_counter()
    data, _ = materialize(dataset="imagefolder", kind=spec.kind, options=options,
                          data=spec.load(options), owner="gpu check", load=spec.load,
                          cache=DataCache(args.work / "cache"))
    build_s = time.perf_counter() - started

    params = {"image_size": 224, "normalize": "standard", "augment": "flip", "blur_sigma": 0.0}
    task = ClassificationTask(data, params, seed=0, device="cuda", data_workers=args.workers)
    model = timm.create_model("resnet50", num_classes=len(data.classes)).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda")

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(model(images), labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def train_from_cache() -> tuple[float, float]:
        waited = 0.0
        batches = iter(task.train_batches(args.batch, 1))
        for _ in range(5):  # warm-up: cudnn autotuning, loader processes starting
            step(*next(batches))
        torch.cuda.synchronize()
        started, seen = time.perf_counter(), 0
        for _ in range(args.steps):
            asked = time.perf_counter()
            images, labels = next(batches)
            waited += time.perf_counter() - asked
            step(images, labels)
            seen += len(labels)
        torch.cuda.synchronize()
        total = time.perf_counter() - started
        return seen / total, waited / total

    def train_ceiling() -> float:
        images = torch.randn(args.batch, 3, 224, 224, device=device).contiguous(
            memory_format=torch.channels_last)
        labels = torch.randint(0, len(data.classes), (args.batch,), device=device)
        for _ in range(5):
            step(images, labels)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(args.steps):
            step(images, labels)
        torch.cuda.synchronize()
        return args.steps * args.batch / (time.perf_counter() - started)

    def inference() -> float:
        images = torch.randn(args.batch, 3, 224, 224, device=device).contiguous(
            memory_format=torch.channels_last)
        model.eval()
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            for _ in range(10):
                model(images)
            torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(args.steps):
                model(images)
            torch.cuda.synchronize()
        model.train()
        return args.steps * args.batch / (time.perf_counter() - started)

    cached, wait_share = train_from_cache()
    ceiling = train_ceiling()
    infer = inference()
    result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "timm": timm.__version__, "images": args.images, "batch": args.batch,
              "loader_workers": args.workers, "cache_build_s": round(build_s, 1),
              "train_samples_per_s_from_cache": round(cached, 1),
              "train_samples_per_s_on_gpu_tensor": round(ceiling, 1),
              "data_wait_share": round(wait_share, 4),
              "infer_samples_per_s": round(infer, 1)}
    print(json.dumps(result))
    print(f"| {result['gpu']} | resnet50 AMP channels_last b{args.batch} | {cached:,.0f} "
          f"| {ceiling:,.0f} | {100 * wait_share:.1f}% | {infer:,.0f} |")


if __name__ == "__main__":
    main()
