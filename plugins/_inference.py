"""What the builtin tasks' kept models do with files: ``harness model predict``.

Each task's ``inference_card()`` records how it prepared inputs at training time; the
functions here read files and prepare them the same way (the same decoder, the same resize,
the same statistics), and turn model outputs into CSV rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
import harness.data

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm"}
SERIES_EXTENSIONS = {".csv", ".tsv", ".txt"}
MAX_SIDE = 4096
"""Detection inputs are decoded at most this large (a 100-megapixel photo never lands whole)."""


def files_with(extensions: set[str], what: str) -> Any:
    """``files(paths, card)``: the given files, and every file with one of ``extensions``
    below the given folders (class sub-folders included), sorted."""

    def files(paths: Sequence[str], card: Mapping[str, Any]) -> list[str]:
        found: list[str] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                found += sorted(str(p) for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in extensions)
            elif path.is_file():
                found.append(str(path))
            else:
                raise harness.DataError(f"{raw}: no such file or folder")
        if not found:
            raise harness.DataError(f"{', '.join(paths)}: no {what} found")
        return found

    return files


def softmax_rows(names: Sequence[str], logits: Any,
                 classes: Sequence[str]) -> list[dict[str, Any]]:
    """One row per input: the most probable class, its probability, and every class's."""
    import torch

    probabilities = torch.softmax(torch.as_tensor(logits).float(), dim=1)
    rows = []
    for name, p in zip(names, probabilities.tolist(), strict=True):
        best = max(range(len(p)), key=p.__getitem__)
        rows.append({"path": name, "prediction": classes[best], "score": p[best],
                     **{f"prob_{c}": v for c, v in zip(classes, p, strict=True)}})
    return rows


# -- images ------------------------------------------------------------------------------------

def load_image(path: str, card: Mapping[str, Any]) -> Any:
    """An image decoded as the dataset decoded it: converted to the card's channels, resized
    to the size the dataset stored."""
    info = card["inference"]
    try:
        return harness.data.read_image(path, size=int(info["stored_size"]),
                                       channels=int(info["channels"])).image
    except harness.DataError as exc:
        raise harness.DataError(f"{path}: not an image this model reads ({exc})") from None


def check_image(path: str, image: Any, card: Mapping[str, Any]) -> Any:
    """An in-memory image must have the card's channels (H×W×C or H×W uint8)."""
    import numpy as np

    array = np.array(image)  # a copy: torch takes it over
    if array.ndim == 2:
        array = array[:, :, None]
    channels = int(card["inference"]["channels"])
    if array.ndim != 3 or array.shape[2] != channels:
        raise harness.DataError(f"{path}: an image of shape {tuple(array.shape)}; this model "
                                f"takes H×W×{channels}")
    return array


# -- series ------------------------------------------------------------------------------------

def read_table(path: str, columns: Sequence[str]) -> Any:
    """The named numeric columns of a CSV/TSV file, in order; one line naming the file when a
    column is missing or not numeric."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=None, engine="python")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise harness.DataError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise harness.DataError(f"{path}: has no column '{missing[0]}' (this model reads "
                                f"{', '.join(columns)})")
    try:
        return frame[list(columns)].astype("float64").to_numpy()
    except ValueError as exc:
        raise harness.DataError(f"{path}: a column is not numeric ({exc})") from None


def read_rows(path: str, channels: int) -> Any:
    """A series file: one row per time step, ``channels`` numeric columns (a header row, if
    any, is skipped; empty cells are gaps)."""
    import numpy as np
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=None, engine="python", header=None)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise harness.DataError(f"{path}: not a readable series file ({exc})") from None
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if len(values) and np.isnan(values[0]).all():
        values = values[1:]  # a header row
    if values.ndim != 2 or values.shape[1] != channels:
        raise harness.DataError(f"{path}: {values.shape[1] if values.ndim == 2 else 0} "
                                f"column(s); this model reads {channels} channel(s)")
    if not len(values):
        raise harness.DataError(f"{path}: no time steps")
    return values
