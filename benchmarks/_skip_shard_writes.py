"""Benchmark-only pool initializer: decode processes that skip writing their shards, to
separate the decode pipeline's speed from the cost of writing the cache (see data_scale.py)."""

from __future__ import annotations

from typing import Any

import harness.data._build as build


def _count_images(path: Any, images: Any, labels: Any, stats: bool) -> build.Shard:
    return build.Shard(path.name, len(images), 0, tuple(images.shape[1:]))


def _count_samples(kind: str, path: Any, items: list[Any], stats: bool) -> build.Shard:
    return build.Shard(path.name, len(items), 0)


def initializer(reads: dict[str, Any]) -> None:
    build._remember(reads)
    build._write_images = _count_images  # image classification
    build._write = _count_samples  # detection
