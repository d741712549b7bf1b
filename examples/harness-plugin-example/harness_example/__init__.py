"""harness-plugin-example: a task, two datasets, an architecture, an optimizer and a sampler.

Everything a plugin needs is here: hook implementations that register frozen spec records,
factories that import torch only when called, a data contract of its own (``VectorData``) that
one dataset produces and its task consumes — and a dataset for harness's builtin
``classification`` task (``stripes``), written against the public ``harness.data`` contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import harness
import harness.data

KIND = "vectors"


@dataclass(frozen=True)
class VectorData:
    """Feature vectors (N×D float) and zero-based labels for each split."""

    splits: Mapping[str, tuple[Any, Any]]
    num_classes: int


# -- dataset ---------------------------------------------------------------------------------

def load_blobs(options: Mapping[str, Any]) -> VectorData:
    import torch
    from sklearn.datasets import make_blobs

    if options["samples"] < 30:
        raise harness.DataError(f"blobs: samples must be at least 30, got {options['samples']}")
    x, y = make_blobs(n_samples=options["samples"], centers=options["centers"],
                      n_features=options["features"], cluster_std=options["spread"],
                      random_state=options["seed"])
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    n = len(y)
    cut1, cut2 = int(n * 0.6), int(n * 0.8)
    return VectorData({"train": (x[:cut1], y[:cut1]), "val": (x[cut1:cut2], y[cut1:cut2]),
                       "test": (x[cut2:], y[cut2:])}, options["centers"])


# -- a dataset for the builtin classification task --------------------------------------------

STRIPE_ANGLES = (0, 45, 90, 135)


@dataclass(frozen=True)
class StripesReader:
    """Draws image ``i`` of one split. It must pickle: harness reads lazy splits in parallel
    processes when it builds the dataset's cache, once; trials then read the cache."""

    size: int
    seed: int
    split: int

    def __call__(self, i: int) -> harness.data.ImageSample:
        import numpy as np

        rng = np.random.default_rng([self.seed, self.split, i])
        label = int(rng.integers(len(STRIPE_ANGLES)))
        angle = np.deg2rad(STRIPE_ANGLES[label])
        yy, xx = np.mgrid[0:self.size, 0:self.size]
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * rng.uniform(0.5, 1.2)
                      + rng.uniform(0, 6.3))
        pixels = 128 + 90 * wave + rng.normal(0, 30, wave.shape)
        image = pixels.clip(0, 255).astype(np.uint8)[:, :, None]  # H×W×1 uint8
        return harness.data.ImageSample(image, label)


def load_stripes(options: Mapping[str, Any]) -> harness.data.ImageClassificationData:
    counts = (options["train"], options["val"], options["test"])
    if min(counts) < 4:
        raise harness.DataError(f"stripes: every split needs 4 images or more, got {counts}")
    splits = [harness.data.LazySplit(n, StripesReader(options["size"], options["seed"], k))
              for k, n in enumerate(counts)]
    names = tuple(f"{angle} degrees" for angle in STRIPE_ANGLES)
    return harness.data.ImageClassificationData(names, *splits)


# -- task ------------------------------------------------------------------------------------

class VectorTask:
    def __init__(self, data: VectorData, params: Mapping[str, Any], seed: int) -> None:
        import torch

        self.data = data
        train_x = data.splits["train"][0]
        # Standardise with training statistics only: nothing leaks from val or test.
        mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
        scale = params["standardize"]
        self.splits = {k: (((x - mean) / std) if scale else x, y)
                       for k, (x, y) in data.splits.items()}
        self.generator = torch.Generator().manual_seed(seed)

    def model_io(self) -> dict[str, Any]:
        features = int(self.splits["train"][0].shape[1])
        return {"features": features, "num_classes": self.data.num_classes,
                "input_shape": (features,)}

    def split_size(self, split: str) -> int:
        return int(self.splits[split][1].shape[0])

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        x, y = self.splits["train"]
        for index in harness.shuffled_batches(len(y), batch_size, self.generator):
            yield x[index], y[index]

    def train_step(self, model: Any, batch: Any, device: Any) -> tuple[Any, int]:
        import torch.nn.functional as F

        x, y = batch
        return F.cross_entropy(model(x.to(device)).float(), y.to(device)), int(len(y))

    def evaluate(self, model: Any, split: str, batch_size: int, device: Any) -> dict[str, float]:
        import torch.nn.functional as F

        x, y = self.splits[split]
        logits = model(x.to(device)).float().cpu()
        return {"accuracy": float((logits.argmax(1) == y).float().mean()),
                "loss": float(F.cross_entropy(logits, y))}

    def example_input(self, batch_size: int, device: Any) -> Any:
        import torch

        return torch.randn(batch_size, self.model_io()["features"], device=device)


def build_task(context: harness.TaskContext) -> VectorTask:
    return VectorTask(context.data, context.params, context.seed)


def summarize(data: VectorData) -> harness.DataSummary:
    prints = {k: [hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in x]
              for k, (x, _) in data.splits.items()}
    return harness.DataSummary(prints, {k: y.tolist() for k, (_, y) in data.splits.items()},
                               data.num_classes)


# -- architecture and optimizer --------------------------------------------------------------

def build_mlp(request: harness.ModelRequest) -> Any:
    from torch import nn

    p, io = request.params, request.io
    layers: list[nn.Module] = []
    width, inputs = int(p["width"]), int(io["features"])
    for _ in range(int(p["depth"])):
        layers += [nn.Linear(inputs, width), nn.ReLU(), nn.Dropout(float(p["dropout"]))]
        inputs = width
    layers.append(nn.Linear(inputs, int(io["num_classes"])))
    return nn.Sequential(*layers)


def build_adamax(params: Any, hp: Mapping[str, Any]) -> Any:
    import torch

    return torch.optim.Adamax(params, lr=hp["lr"], weight_decay=hp["weight_decay"])


# -- hooks -----------------------------------------------------------------------------------

@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="blobs", data_kind=KIND, load=load_blobs, description="Gaussian blobs (scikit-learn)",
        options={"samples": harness.Option(int, 500, "how many points"),
                 "centers": harness.Option(int, 4, "how many classes"),
                 "features": harness.Option(int, 8, "dimensions"),
                 "spread": harness.Option(float, 2.5, "cluster standard deviation"),
                 "seed": harness.Option(int, 0, "generator seed")},
        test_options={"samples": 60}))
    register(harness.DatasetSpec(
        name="stripes", data_kind=harness.data.IMAGE_CLASSIFICATION, load=load_stripes,
        description="grey stripes in four orientations (for the builtin classification task)",
        options={"size": harness.Option(int, 16, "image side, pixels"),
                 "train": harness.Option(int, 400, "training images"),
                 "val": harness.Option(int, 100, "validation images"),
                 "test": harness.Option(int, 100, "test images"),
                 "seed": harness.Option(int, 0, "generator seed")},
        test_options={"train": 16, "val": 8, "test": 8}))


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="vector_classification", data_kind=KIND,
        build=build_task,
        metrics=(harness.MetricSpec("accuracy", "maximize"),
                 harness.MetricSpec("loss", "minimize")),
        primary_metric="accuracy", summarize_data=summarize,
        params={"standardize": harness.Choice(True, (True, False),
                                              help="z-score with training statistics")},
        description="classify feature vectors"))


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    register(harness.ArchitectureSpec(
        name="example_mlp", build=build_mlp, tasks=("vector_classification",),
        description="MLP over feature vectors",
        params={"width": harness.Int(64, 16, 256, log=True, help="hidden units"),
                "depth": harness.Int(2, 1, 3, help="hidden layers"),
                "dropout": harness.Float(0.1, 0.0, 0.5, help="dropout after each layer")}))


@harness.hookimpl
def register_optimizers(register: harness.RegisterOptimizer) -> None:
    register(harness.OptimizerSpec("example_adamax", build_adamax,
                                   "Adamax (infinity-norm Adam)", has_betas=True))


# -- a search strategy -----------------------------------------------------------------------

def build_sobol(request: harness.SearchRequest) -> Any:
    """Scrambled Sobol points: an even cover of the space, a classic baseline. Import inside:
    Optuna is loaded only when a study uses it."""
    import optuna

    return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=request.seed,
                                      **request.options)


@harness.hookimpl
def register_samplers(register: harness.RegisterSampler) -> None:
    register(harness.SamplerSpec("example_sobol", build_sobol,
                                 "scrambled Sobol sequence (quasi-random cover)"))
