"""Dataset ``audiofolder`` (kind ``sequences``, with a sample rate): one sub-folder of sound
files per class, or ``train/``, ``val/`` and ``test/`` folders of class folders, as
``imagefolder`` reads images.

WAV, FLAC, OGG and MP3 at any sample rate are resampled to ``sample_rate``, stereo is averaged
to mono, and every clip is cut or zero-padded to ``clip_s`` seconds. Listing reads no sound;
the clips are decoded once, in parallel, into the dataset's cache. A 0-byte, truncated or
non-audio file is skipped and counted, or with ``strict = true`` is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import harness.data
from harness_plugins._audio import AUDIO_EXTENSIONS
from harness_plugins._audio import AudioError
from harness_plugins._audio import read_clip
from harness_plugins._splits import folder_splits
from harness_plugins._splits import list_folder

OPTIONS = {
    "path": harness.Option("path", help="folder of class folders, or of train/val/test folders"),
    "sample_rate": harness.Option(int, 16000, "samples per second every clip is resampled to"),
    "clip_s": harness.Option(float, 1.0, "seconds per clip: longer files are cut, shorter "
                                         "ones padded with silence"),
    "val_fraction": harness.Option(float, 0.1, "share split off for validation when no val/"),
    "test_fraction": harness.Option(float, 0.1, "share split off for test when no test/"),
    "split_seed": harness.Option(int, 0, "seed of the stratified split (fixed across trials)"),
    "strict": harness.Option(bool, False, "an unreadable file is an error naming it"),
}


@dataclass(frozen=True)
class ClipReader:
    """Reads one split's files (it pickles: harness decodes in parallel processes)."""

    files: tuple[str, ...]
    labels: tuple[int, ...]
    sample_rate: int
    clip_s: float
    strict: bool

    def __call__(self, i: int) -> harness.data.SequenceSample | harness.data.Skipped:
        try:
            clip = read_clip(self.files[i], self.sample_rate, self.clip_s)
        except AudioError as exc:
            if self.strict:
                raise harness.DataError(f"{self.files[i]}: {exc} (strict = true)") from None
            return harness.data.Skipped("unreadable_skipped", self.files[i],
                                        f"{Path(self.files[i]).name}: {exc}")
        return harness.data.SequenceSample(clip, self.labels[i])


def load_audiofolder(options: Mapping[str, Any]) -> harness.data.SequenceData:
    root = Path(options["path"])
    if not root.is_dir():
        raise harness.DataError(f"audiofolder path '{root}' is not a folder")
    if options["sample_rate"] < 1000 or options["clip_s"] <= 0:
        raise harness.DataError("audiofolder: sample_rate must be at least 1000 and clip_s "
                                "positive")
    classes, listed = list_folder(root, AUDIO_EXTENSIONS, "audiofolder", "sound files")
    try:
        parts = folder_splits(listed, options)
    except ValueError as exc:  # scikit-learn: too few files per class to stratify
        raise harness.DataError(f"audiofolder '{root}': cannot split the files by class "
                                f"({exc}); add files, or give val/ and test/ folders") from None
    every = [f for files, _ in listed.values() for f in files]
    reader = {name: harness.data.LazySplit(len(files), ClipReader(
        tuple(files), tuple(labels), options["sample_rate"], options["clip_s"],
        options["strict"])) for name, (files, labels) in parts.items()}
    return harness.data.SequenceData(reader["train"], reader["val"], reader["test"], classes,
                                     fingerprint=harness.data.fingerprint_files(every, root),
                                     sample_rate=float(options["sample_rate"]))


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="audiofolder", data_kind=harness.data.SEQUENCES, load=load_audiofolder,
        options=OPTIONS,
        description="a folder with one sub-folder of sound files per class (WAV, FLAC, OGG)"))
