"""Producing batches ahead of the training step.

A task says how to fetch one batch from index lists (``fetch(indices) -> batch``, no
randomness: augmentation happens after, on the trial's device, from the trial's seed). With
``data_workers = 0`` a background thread of the trial's process fetches up to ``depth``
batches ahead (gathers from memory-mapped arrays and torch operations release the GIL); with
``N > 0``, N loader processes do, through torch's ``DataLoader``, which also pins host memory
for non-blocking copies to a GPU.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

__all__ = ["batches"]

_DONE = object()


def batches(fetch: Callable[[Any], Any], index_batches: Iterable[Any], *, workers: int = 0,
            pin_memory: bool = False, depth: int = 2) -> Iterator[Any]:
    """Yield ``fetch(indices)`` for each item of ``index_batches``, produced ahead.

    The index batches are drawn here, in the caller's thread, before any fetching: they come
    from the trial's seeded generator, which augmentation uses too, so drawing them elsewhere
    would make a trial irreproducible.
    """
    order = list(index_batches)
    if workers > 0:
        yield from _data_loader(fetch, order, workers, pin_memory, depth)
    else:
        yield from _prefetched(fetch, order, pin_memory, depth)


def _pin(batch: Any) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.pin_memory()
    if isinstance(batch, (list, tuple)):
        return type(batch)(_pin(b) for b in batch)
    if isinstance(batch, dict):
        return {k: _pin(v) for k, v in batch.items()}
    return batch


def _prefetched(fetch: Callable[[Any], Any], index_batches: Iterable[Any], pin: bool,
                depth: int) -> Iterator[Any]:
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for indices in index_batches:
                batch = fetch(indices)
                batch = _pin(batch) if pin else batch
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as exc:  # handed to the training loop, which raises it
            ready.put(exc)

    thread = threading.Thread(target=produce, name="harness-prefetch", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:  # the epoch ended early (pruned, failed): let the producer go
        stop.set()
        thread.join(timeout=5)


class _Fetcher:
    """A map-style dataset whose items are whole batches (the sampler yields index lists)."""

    def __init__(self, fetch: Callable[[Any], Any]) -> None:
        self.fetch = fetch

    def __getitem__(self, indices: Any) -> Any:
        return self.fetch(indices)


def _data_loader(fetch: Callable[[Any], Any], index_batches: list[Any], workers: int,
                 pin: bool, depth: int) -> Iterator[Any]:
    import multiprocessing

    from torch.utils.data import DataLoader

    loader: Any = DataLoader(_Fetcher(fetch), batch_size=None,  # type: ignore[arg-type]
                             sampler=index_batches, num_workers=workers, pin_memory=pin,
                             prefetch_factor=depth,
                             multiprocessing_context=multiprocessing.get_context("fork"))
    yield from loader
