"""Data at scale: the dataset cache on synthetic ImageFolders and a VOC folder.

    python benchmarks/data_scale.py [--sizes 2000 8000 32000] [--voc 5000] [--work DIR]

For each size N (JPEGs of 256×256, stored at 224×224):

1. first decode: build the cache (all cores) ÷ cores → images/s per core, next to the bare
   decode-and-resize rate of the same decoder (``harness.data.read_image``) on one core,
   measured in this script; target ratio ≥ 0.8;
2. per-trial data setup once the cache exists: a fresh process maps the entry and builds the
   trial's task (what a worker does), median of 5; target ≤ 0.5 s, flat in N;
3. peak RSS of a trial's worker: one real ``harness run`` trial (small_cnn, one epoch, trained
   at 64 px from the 224 px cache, as the issue's own measurement trained), the worker's RSS
   high-water mark from the trial row; target ≤ 1.5 GB, flat in N;
4. train samples/s reading from the cache ÷ train samples/s reading an in-memory uint8 tensor
   of the same shape (the same images, gathered by the same task: resize 224→64, normalise,
   flip per batch; same model, batches, threads; alternating, median of 3); target ≥ 0.9.

The VOC folder (N images of 320×240 with 1–4 boxes each) gets 1, 2 and 3 (detection trial:
FCOS on resnet18 at 128 px, one epoch). Printed as Markdown tables for docs/benchmarks.md.

The project's VMs fault in never-touched guest memory at ~350 MB/s (dd: 1.2 GB into fresh
page cache 3.5 s, into just-freed page cache 0.3 s), so on them writing a cache of fresh data
costs about as much as decoding it. The first-decode figures are therefore given twice: the
whole first build as a user sees it here, and the same parallel decode-and-shard pipeline with
the shard writes skipped (``benchmarks/_skip_shard_writes.py``), which is what the ratio to the
bare decoder measures.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CORES = os.cpu_count() or 1

FOLDER_TASK = """\
[study]
name = "scale"
task = "classification"
[dataset]
name = "imagefolder"
path = "{images}"
image_size = 224
[search]
sampler = "random"
pruner = "none"
architectures = ["small_cnn"]
optimizers = ["adamw"]
batch_size = [32]
[search.space.small_cnn]
width = 16
depth = 2
[search.space.classification]
image_size = 64
augment = "flip"
[budget]
n_trials = 1
epochs = 1
[device]
device = "cpu"
"""

VOC_TASK = """\
[study]
name = "scale-voc"
task = "detection"
objectives = ["map_50"]
[dataset]
name = "voc"
path = "{root}"
max_side = 320
[search]
sampler = "random"
pruner = "none"
architectures = ["fcos"]
optimizers = ["adamw"]
batch_size = [16]
[search.space.detection]
image_size = 128
[budget]
n_trials = 1
epochs = 1
[device]
device = "cpu"
"""


# -- synthetic data ---------------------------------------------------------------------------

def write_folder(root: Path, count: int) -> None:
    if (root / "done").exists():
        return
    rng = np.random.default_rng(0)
    base = np.linspace(30, 220, 256)[None, :, None]
    for i in range(count):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = base * rng.uniform(0.5, 1.0, (1, 1, 3)) + rng.normal(0, 18, (256, 256, 3))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg",
                                                                    quality=90)
    (root / "done").write_text("")


def write_voc(root: Path, count: int) -> None:
    if (root / "done").exists():
        return
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = rng.normal(120, 25, (240, 320, 3))
        objects = []
        for _ in range(int(rng.integers(1, 5))):
            w, h = (int(v) for v in rng.integers(24, 100, 2))
            x, y = int(rng.integers(0, 320 - w)), int(rng.integers(0, 240 - h))
            label = int(rng.integers(0, 3))
            pixels[y:y + h, x:x + w] = (60 + 70 * label, 200 - 50 * label, 90)
            objects.append((f"c{label}", x + 1, y + 1, x + w, y + h))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / f"{i:06d}.jpg",
                                                                    quality=90)
        (root / f"{i:06d}.xml").write_text(voc_xml(f"{i:06d}.jpg", (320, 240), objects))
    (root / "done").write_text("")


def voc_xml(filename: str, size: tuple[int, int],
            objects: list[tuple[str, int, int, int, int]]) -> str:
    """A Pascal VOC annotation: ``objects`` as (class, xmin, ymin, xmax, ymax), 1-based
    inclusive pixels as VOC counts them."""
    body = "".join(f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
                   f"<xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>"
                   for n, a, b, c, d in objects)
    return (f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width>"
            f"<height>{size[1]}</height></size>{body}</annotation>")


# -- measurements -----------------------------------------------------------------------------

def bare_rate(files: list[Path], **resize: int) -> float:
    """Images/s of decode + resize alone, one core, the decoder the cache uses."""
    import cv2

    from harness.data import read_image

    cv2.setNumThreads(1)
    sample = files[:400]
    read_image(sample[0], **resize)
    started = time.perf_counter()
    for path in sample:
        read_image(path, **resize)
    return len(sample) / (time.perf_counter() - started)


def build(dataset: str, options: dict[str, object], cache: Path) -> tuple[float, str]:
    """Seconds to build the cache from scratch (every core), and the entry's path."""
    from harness.data._cache import DataCache
    from harness.data._materialize import materialize
    from harness.testing import installed_registry

    spec = installed_registry().datasets.get(dataset)
    started = time.perf_counter()
    data = spec.load(options)
    _, path = materialize(dataset=dataset, kind=spec.kind, options=options, data=data,
                          owner="benchmark", load=spec.load, cache=DataCache(cache))
    return time.perf_counter() - started, str(path)


SETUP = """
import sys, time
started = time.perf_counter()
from harness.data._materialize import open_entry
data = open_entry(sys.argv[1])
if sys.argv[2] == "classification":
    from harness_plugins.task_classification import ClassificationTask
    ClassificationTask(data, {"image_size": 64, "normalize": "standard", "augment": "flip",
                              "blur_sigma": 0.0}, seed=0)
else:
    from harness_plugins.task_detection import DetectionTask
    DetectionTask(data, {"image_size": 128, "resize": "letterbox", "hflip": True,
                         "random_crop": False, "color_jitter": False, "blur_sigma": 0.0}, 0)
print(time.perf_counter() - started)
"""


def setup_seconds(entry: str, task: str) -> float:
    """What a worker pays to get its data: map the entry, build the task (imports warm)."""
    # A worker starts from the fork server, which has imported these already.
    pre = "import torch, torchvision, pyarrow, harness.data._materialize, " \
          "harness_plugins.task_classification, harness_plugins.task_detection\n"
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", pre + SETUP, entry, task], check=True,
                             capture_output=True, text=True, cwd=REPO).stdout
        runs.append(float(out.strip().splitlines()[-1]))
    return statistics.median(runs)


def trial_peak_rss_mb(task_text: str, work: Path) -> tuple[float, float]:
    """One real ``harness run`` trial: the worker's peak RSS (MB) and its train samples/s."""
    task = work / "task.toml"
    task.write_text(task_text)
    db = work / "bench.db"
    db.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(task), "--db", str(db)],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "HARNESS_CACHE": str(work / "cache")})
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    peak, speed = sqlite3.connect(db).execute(
        "SELECT peak_memory_mb, train_samples_per_s FROM harness_trials").fetchone()
    return float(peak), float(speed or 0)


class MemoryTable:
    """The first images of a cached split, held in RAM: the baseline the cache is compared to."""

    def __init__(self, table: Any, count: int) -> None:
        self.held = table.images(np.arange(count))
        self.labels = table.labels[:count]
        self.shape = table.shape

    def __len__(self) -> int:
        return len(self.held)

    def images(self, index: Any) -> np.ndarray:
        return self.held[np.asarray(index, dtype=np.int64)]


def train_ratio(entry: str, steps: int = 12, batch: int = 32) -> tuple[float, float, float]:
    """Training samples/s reading the cache vs reading the same images from RAM, alternating."""
    import dataclasses

    import torch

    import harness
    from harness.data._materialize import open_entry
    from harness_plugins.arch_small_cnn import build as build_cnn
    from harness_plugins.task_classification import ClassificationTask

    torch.set_num_threads(CORES)
    data = open_entry(entry)
    params = {"image_size": 64, "normalize": "standard", "augment": "flip", "blur_sigma": 0.0}
    task = ClassificationTask(data, params, seed=0)
    held = dataclasses.replace(data, splits={**data.splits, "train": MemoryTable(
        data.split("train"), min(len(data.split("train")), 4 * steps * batch))})
    in_memory = ClassificationTask(held, params, seed=0)
    model = build_cnn(harness.ModelRequest("small_cnn", "classification", task.model_io(),
                                           {"width": 16, "depth": 2, "dropout": 0.0}))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(images: torch.Tensor, target: torch.Tensor) -> None:
        loss = torch.nn.functional.cross_entropy(model(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def samples_per_s(source: ClassificationTask) -> float:
        started, seen = time.perf_counter(), 0
        for i, (images, target) in enumerate(source.train_batches(batch, 1)):
            if i == steps:
                break
            step(images, target)
            seen += len(target)
        return seen / (time.perf_counter() - started)

    samples_per_s(in_memory)  # warm-up
    cached, memory = [], []
    for _ in range(3):
        cached.append(samples_per_s(task))
        memory.append(samples_per_s(in_memory))
    c, m = statistics.median(cached), statistics.median(memory)
    return c, m, c / m


def pipeline_seconds(dataset: str, options: dict[str, object], work: Path) -> float:
    """The first build's decode pipeline alone (every core, shard writes skipped)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import harness.data._build as build
    from harness.testing import installed_registry

    sys.path.insert(0, str(Path(__file__).parent))
    from _skip_shard_writes import initializer

    spec = installed_registry().datasets.get(dataset)
    data = spec.load(options)
    kind, rows = spec.kind, build.SHARD_ROWS[spec.kind]
    jobs, reads = [], {}
    for split in build.SPLITS:
        source = getattr(data, split)
        reads[split] = source.read
        jobs += [(kind, split, start, min(start + rows, source.count), str(work / "x"), False)
                 for start in range(0, source.count, rows)]
    started = time.perf_counter()
    with ProcessPoolExecutor(CORES, mp_context=multiprocessing.get_context("spawn"),
                             initializer=initializer, initargs=(reads,)) as pool:
        list(pool.map(build._pipelined, build._runs(jobs, CORES)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[2000, 8000, 32000])
    parser.add_argument("--voc", type=int, default=5000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/harness-data-scale"))
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        root = args.work / f"folder{n}"
        write_folder(root / "images", n)
        files = sorted((root / "images").rglob("*.jpg"))
        bare = bare_rate(files, size=224)
        options = {"path": str(root / "images"), "image_size": 224, "channels": 3,
                   "val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0, "strict": False}
        cache = root / "cache"
        subprocess.run(["rm", "-rf", str(cache)], check=True)
        seconds, entry = build("imagefolder", options, cache)
        pipeline = n / pipeline_seconds("imagefolder", options, root) / CORES
        setup = setup_seconds(entry, "classification")
        peak, _ = trial_peak_rss_mb(FOLDER_TASK.format(images=root / "images"), root)
        cached, held, ratio = train_ratio(entry)
        rows.append((n, pipeline, bare, pipeline / bare, setup, peak, cached, held, ratio,
                     n / seconds / CORES))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| N | whole first build /core | decode pipeline /core | bare decode /core | ratio "
          "| setup s | worker peak RSS MB | train from cache | in memory | ratio |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]:,} | {r[9]:.0f} | {r[1]:.0f} | {r[2]:.0f} | {r[3]:.2f} | {r[4]:.2f} "
              f"| {r[5]:,.0f} | {r[6]:.1f} | {r[7]:.1f} | {r[8]:.2f} |")
    if args.voc:
        voc = args.work / f"voc{args.voc}"
        write_voc(voc / "data", args.voc)
        files = sorted((voc / "data").glob("*.jpg"))
        bare = bare_rate(files, max_side=320)
        options = {"path": str(voc / "data"), "images": None, "annotations": None,
                   "classes": [], "include_difficult": False, "val_fraction": 0.2,
                   "test_fraction": 0.2, "split_seed": 0, "strict": False, "max_side": 320}
        subprocess.run(["rm", "-rf", str(voc / "cache")], check=True)
        seconds, entry = build("voc", options, voc / "cache")
        whole = args.voc / seconds / CORES
        per_core = args.voc / pipeline_seconds("voc", options, voc) / CORES
        setup = setup_seconds(entry, "detection")
        peak, speed = trial_peak_rss_mb(VOC_TASK.format(root=voc / "data"), voc)
        print(f"\nVOC {args.voc:,} images: whole first build {whole:.0f}/s per core; decode "
              f"pipeline {per_core:.0f}/s per core, bare {bare:.0f}/s (ratio "
              f"{per_core / bare:.2f}); setup {setup:.2f} s; worker peak RSS {peak:,.0f} MB; "
              f"FCOS train {speed:.1f} samples/s")


if __name__ == "__main__":
    main()
