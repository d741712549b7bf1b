"""Arrow IPC shards: how each data kind is written to the cache and mapped back.

A shard is one Arrow IPC file holding one record batch. Fixed-size images are one
``fixed_size_binary`` column: an N×H×W×C array at a known place in the file. Image bytes are read
with ``pread`` into each batch (the page cache keeps one copy for every process, and a process's
own memory holds only its batches); everything small — labels, boxes, offsets — is mapped.
Ragged data (detection boxes, variable-length series) are Arrow list columns, read back as one
flat array plus offsets — no Python object per box or per time step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["read_shard", "write_shard"]


def _fsynced(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path.stat().st_size


def write_shard(path: Path, batch: pa.RecordBatch) -> int:
    """Write one record batch as an IPC file, durably; returns its size in bytes."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return _fsynced(path)


def _mapped_batch(path: Path) -> pa.RecordBatch:
    return _mapped(path)[0]


def _mapped(path: Path) -> tuple[pa.RecordBatch, int]:
    """The shard's record batch (mapped) and the address the file starts at, from which a
    buffer's offset in the file follows."""
    source = pa.memory_map(str(path), "r")
    base = source.read_buffer(1).address  # the first byte: where the mapping starts
    source.seek(0)
    reader = pa.ipc.open_file(source)
    if reader.num_record_batches != 1:
        raise pa.ArrowInvalid(f"{path}: expected one record batch")
    return reader.get_batch(0), base


def file_offset(buffer: pa.Buffer, base: int) -> int:
    return int(buffer.address - base)


def _values(array: pa.Array) -> np.ndarray:
    values: np.ndarray = array.to_numpy(zero_copy_only=True)
    return values


# -- image classification ---------------------------------------------------------------------

def image_batch(images: np.ndarray, labels: np.ndarray) -> pa.RecordBatch:
    """N×H×W×C uint8 images and N labels as a record batch."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n, width = len(images), int(np.prod(images.shape[1:]))
    column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n,
                                                  [None, pa.py_buffer(images)])
    shape = json.dumps(list(images.shape[1:]))
    schema = pa.schema([("image", pa.binary(width)), ("label", pa.int64())],
                       metadata={"shape": shape})
    return pa.RecordBatch.from_arrays([column, pa.array(labels, pa.int64())], schema=schema)


def read_images(path: Path) -> tuple[int, np.ndarray, tuple[int, int, int]]:
    """Where the shard's images start in its file, its labels, and the image shape."""
    batch, base = _mapped(path)
    shape = tuple(json.loads(batch.schema.metadata[b"shape"]))
    column = batch.column(0)
    width = int(np.prod(shape))
    start = file_offset(column.buffers()[1], base) + column.offset * width
    return start, _values(batch.column(1)), shape  # type: ignore[return-value]


# -- detection --------------------------------------------------------------------------------

def detection_batch(samples: list[Any]) -> pa.RecordBatch:
    """Detection samples (image H×W×3, boxes N×4, labels N, source) as a record batch."""
    images = [np.ascontiguousarray(s.image, dtype=np.uint8) for s in samples]
    boxes = [np.asarray(s.boxes, dtype=np.float32).reshape(-1) for s in samples]
    labels = [np.asarray(s.labels, dtype=np.int64).reshape(-1) for s in samples]
    arrays = [
        _binary(images),
        pa.array([a.shape[0] for a in images], pa.int32()),
        pa.array([a.shape[1] for a in images], pa.int32()),
        _list(boxes, pa.float32()),
        _list(labels, pa.int64()),
        pa.array([str(s.source) for s in samples], pa.string()),
    ]
    names = ["image", "height", "width", "boxes", "labels", "source"]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _binary(images: list[np.ndarray]) -> pa.Array:
    """Images of varying size as one ``large_binary`` column: a single copy into one buffer."""
    offsets = np.concatenate([[0], np.cumsum([a.size for a in images])]).astype(np.int64)
    data = np.concatenate([a.reshape(-1) for a in images]) if images else np.zeros(0, np.uint8)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(images),
                                            [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _list(parts: list[np.ndarray], kind: pa.DataType) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    flat = np.concatenate(parts) if parts else np.zeros(0)
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()),
                                         pa.array(flat, kind))


def read_detection(path: Path) -> dict[str, Any]:
    batch, base = _mapped(path)
    image, boxes, labels = batch.column(0), batch.column(3), batch.column(4)
    image_offsets = np.frombuffer(image.buffers()[1], dtype=np.int64)[:len(image) + 1]
    return {
        "path": path,
        "image_start": file_offset(image.buffers()[2], base),
        "image_offsets": image_offsets,
        "heights": _values(batch.column(1)),
        "widths": _values(batch.column(2)),
        "boxes": _values(boxes.values).reshape(-1, 4),
        "box_offsets": _values(boxes.offsets) // 4,
        "labels": _values(labels.values),
        "sources": batch.column(5).to_pylist(),
    }


# -- series and sequences ---------------------------------------------------------------------

def series_batch(values: np.ndarray, timestamps: Any) -> pa.RecordBatch:
    """A T×C series (row-major, one fixed-size list per step) and its time stamps."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    steps, channels = values.shape
    column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), channels)
    arrays = [column]
    names = ["values"]
    if timestamps is not None:
        arrays.append(pa.array(np.asarray(timestamps)))
        names.append("timestamp")
    return pa.RecordBatch.from_arrays(arrays, names=names)


def read_series(path: Path) -> tuple[np.ndarray, Any]:
    batch = _mapped_batch(path)
    column = batch.column(0)
    channels = column.type.list_size
    values = _values(column.values).reshape(-1, channels)
    stamps = None
    if batch.num_columns > 1:
        stamps = batch.column(1).to_numpy(zero_copy_only=False)
    return values, stamps


def sequence_batch(series: list[np.ndarray], labels: list[int]) -> pa.RecordBatch:
    flat = [np.ascontiguousarray(s, dtype=np.float64).reshape(-1) for s in series]
    return pa.RecordBatch.from_arrays([_list(flat, pa.float64()),
                                       pa.array(labels, pa.int64())], names=["values", "label"])


def read_sequences(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batch = _mapped_batch(path)
    column = batch.column(0)
    return _values(column.values), _values(column.offsets), _values(batch.column(1))


def text_batch(texts: list[str], labels: list[int]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(texts, pa.large_string()),
                                       pa.array(labels, pa.int64())], names=["text", "label"])


def read_texts(path: Path) -> tuple[pa.Array, np.ndarray]:
    """The texts (an Arrow string column, mapped: a text becomes a Python string only when a
    batch asks for it) and the labels."""
    batch = _mapped_batch(path)
    return batch.column(0), _values(batch.column(1))


def read_shard(kind: str, path: Path) -> Any:
    """Map one shard of ``kind`` back (see the ``read_*`` functions)."""
    readers = {"image_classification": read_images, "detection": read_detection,
               "series": read_series, "sequences": read_sequences, "texts": read_texts}
    return readers[kind](path)
