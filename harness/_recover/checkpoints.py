"""Trial checkpoints: a trial whose process died resumes where its last checkpoint left it.

A trial checkpoints after every epoch, and every ``[artifacts] checkpoint_s`` seconds within a
long epoch: the model, optimizer, learning-rate schedule and AMP scaler states, every random
state (Python's, NumPy's, torch's on every device, and the generators the task keeps), how far
into the epoch it is, what the epoch has summed so far, and the history the pruner was told.
Resumed from it, a CPU trial ends bit-identical to one that was never interrupted.

How the random states line up: a task draws its epoch's order and augmentations from its own
generators, in the training thread. An epoch-boundary checkpoint saves them as they are. A
checkpoint within an epoch saves them as they were when the epoch began; resuming recreates
the epoch's batches from there and skips those already trained (drawing the same numbers
again), then restores the global random states saved at the checkpoint.

Writes are whole or nothing: the state is copied in the training thread (the tensors are
cloned, milliseconds), and written by a background thread to a temporary file that is renamed
into place, so a reader finds the previous checkpoint or the new one, never a fragment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import threading
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint", "CheckpointPlan", "CheckpointWriter", "checkpoint_path", "generators_of",
           "load_checkpoint", "restore_generators", "restore_global_rng", "global_rng",
           "snapshot_generators"]

FORMAT = 1


@dataclass(frozen=True)
class CheckpointPlan:
    """Where a trial checkpoints, how often within an epoch, and whether it resumes."""

    path: str
    every_s: float = 0.0
    resume: bool = False


def checkpoint_path(root: str | os.PathLike[str], study_id: int, trial_number: int) -> Path:
    """Where trial ``trial_number`` of study ``study_id`` keeps its checkpoint."""
    return Path(root) / f"study-{study_id}" / f"trial-{trial_number}.pt"


@dataclass
class Checkpoint:
    """Everything a trial needs to continue."""

    epoch: int
    """Epochs finished."""
    batches: int
    """Batches of the next epoch already trained (0 at an epoch boundary)."""
    batch_size: int
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    global_rng: dict[str, Any]
    task_rng: dict[str, Any]
    """The task's generators: now (epoch boundary), or when the epoch began (within one)."""
    history: list[Any] = field(default_factory=list)
    """The finished epochs' ``EpochRecord``s, as the pruner was told them (as plain data on
    disk: checkpoints load with ``weights_only=True``)."""
    partial: dict[str, Any] = field(default_factory=dict)
    """Within an epoch: the training loss summed so far, samples, seconds and data wait."""
    format: int = FORMAT


# -- random states -----------------------------------------------------------------------------

def global_rng() -> dict[str, Any]:
    """Python's, NumPy's and torch's random states (every CUDA device's too), in types a
    ``weights_only`` load reads back (NumPy's key array as a tensor)."""
    import numpy as np
    import torch

    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    states: dict[str, Any] = {"python": random.getstate(),
                              "numpy": (name, torch.from_numpy(np.asarray(keys, np.int64)),
                                        position, has_gauss, cached),
                              "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_global_rng(states: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(_tuples(states["python"]))
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _tuples(value: Any) -> Any:
    """Lists back to the tuples Python's random state is made of."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def generators_of(task: Any) -> dict[str, Any]:
    """The random generators a task object keeps as attributes (torch, NumPy and Python ones):
    a task that keeps its randomness there resumes bit-identically."""
    import numpy as np
    import torch

    kinds = (torch.Generator, np.random.Generator, np.random.RandomState, random.Random)
    return {name: value for name, value in sorted(vars(task).items())
            if isinstance(value, kinds)}


def snapshot_generators(task: Any) -> dict[str, Any]:
    """The states of :func:`generators_of` (copies: later draws do not change them)."""
    import numpy as np
    import torch

    states: dict[str, Any] = {}
    for name, generator in generators_of(task).items():
        if isinstance(generator, torch.Generator):
            states[name] = generator.get_state().clone()
        elif isinstance(generator, np.random.Generator):
            states[name] = generator.bit_generator.state
        elif isinstance(generator, np.random.RandomState):
            kind, keys, position, has_gauss, cached = generator.get_state(legacy=True)
            states[name] = (kind, torch.from_numpy(np.asarray(keys, np.int64)), position,
                            has_gauss, cached)
        else:
            states[name] = generator.getstate()
    return states


def restore_generators(task: Any, states: dict[str, Any]) -> None:
    import numpy as np
    import torch

    for name, generator in generators_of(task).items():
        if name not in states:
            continue
        if isinstance(generator, torch.Generator):
            generator.set_state(states[name])
        elif isinstance(generator, np.random.Generator):
            generator.bit_generator.state = states[name]
        elif isinstance(generator, np.random.RandomState):
            kind, keys, position, has_gauss, cached = states[name]
            generator.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss,
                                 cached))
        else:
            generator.setstate(_tuples(states[name]))


# -- writing and reading -------------------------------------------------------------------------

def _cpu_copy(value: Any) -> Any:
    """A deep copy with every tensor cloned to the CPU: later training steps cannot change
    what the background writer saves."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _cpu_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(v) for v in value)
    return value


class CheckpointWriter:
    """Writes one trial's checkpoints: each save replaces the previous one atomically; at most
    one write is in flight (a newer save waits for it), and :meth:`close` waits for the last."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.written: Checkpoint | None = None

    def save(self, checkpoint: Checkpoint, *, wait: bool = False) -> None:
        """Copy the state now; write it in the background (``wait``: before returning)."""
        copied = _cpu_copy({**checkpoint.__dict__,
                            "history": [dataclasses.asdict(e) for e in checkpoint.history]})
        self.flush()
        self._thread = threading.Thread(target=self._write, args=(Checkpoint(**copied),),
                                        name="harness-checkpoint", daemon=True)
        self._thread.start()
        if wait:
            self.flush()

    def flush(self) -> None:
        """Wait for the write in flight, if any."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _write(self, checkpoint: Checkpoint) -> None:
        import torch

        temporary = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Not fsynced (that doubled the write's CPU time): a process that dies, what
            # checkpoints are for, loses nothing once the rename is done; a power cut may
            # leave a damaged file, which load_checkpoint refuses: the trial starts again.
            with open(temporary, "wb") as fh:
                torch.save(checkpoint.__dict__, fh)
            os.replace(temporary, self.path)
            self.written = checkpoint
        except BaseException as exc:  # a full disk loses a checkpoint, never the trial
            self.error = exc
            with contextlib.suppress(OSError):
                temporary.unlink()

    def discard(self) -> None:
        """The trial finished: its checkpoint is of no more use."""
        self.flush()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def load_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``, or None when there is none or it cannot be read (a damaged
    file is never resumed from: the trial starts again)."""
    import torch

    from harness._records import EpochRecord

    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        checkpoint = Checkpoint(**data)
        checkpoint.history = [EpochRecord(**e) for e in checkpoint.history]
    except Exception:
        return None
    return checkpoint if checkpoint.format == FORMAT else None
