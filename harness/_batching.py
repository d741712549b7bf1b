"""Helpers tasks share when they batch their own data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["shuffled_batches"]


def shuffled_batches(n: int, batch_size: int,
                     generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors for one shuffled epoch over ``n`` samples, reproducible from
    ``generator``. A last batch of a single sample is dropped: batch norm cannot train on it."""
    import torch

    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        if len(index) > 1:
            yield index
