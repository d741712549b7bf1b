"""Task ``audio_classification``: a sound clip in, one class out; cross-entropy; accuracy,
macro-F1, balanced accuracy.

The data is kind ``sequences`` with a sample rate (``audiofolder``, ``spoken``): clips of one
length, decoded once into the cache. Features are part of the search — ``waveform``,
``logmel`` or ``mfcc``, ``n_mels``, ``hop_ms`` — and computed per batch as it is read, as is
SpecAugment masking while training (``augment``). Models receive B×T×F: T frames of F features
(``waveform``: T samples of 1), as the sequence models expect.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import harness
import harness.data
from harness_plugins._audio import AUDIO_EXTENSIONS
from harness_plugins._audio import AudioError
from harness_plugins._audio import read_clip
from harness_plugins._features import AUGMENT
from harness_plugins._features import FEATURES
from harness_plugins._features import feature_size
from harness_plugins._features import features_of
from harness_plugins._features import frame_count
from harness_plugins._features import spec_augment
from harness_plugins._inference import files_with
from harness_plugins._inference import softmax_rows
from harness_plugins._labelled import METRICS
from harness_plugins._labelled import LabelledTask
from harness_plugins._seqdata import summarize_sequences

if TYPE_CHECKING:
    import torch

PARAMS = {
    "features": harness.Choice("logmel", FEATURES, help="raw samples, log-mel bands, or MFCCs"),
    "n_mels": harness.Choice(40, (32, 40, 64),
                             help="mel bands (MFCCs: the first 20 of their DCT)"),
    "hop_ms": harness.Choice(10.0, (10.0, 16.0, 20.0), help="milliseconds between frames"),
    "augment": harness.Choice("light", tuple(AUGMENT), help="SpecAugment time/frequency masks "
                                                            "while training"),
}


class AudioClassificationTask(LabelledTask):  # type: ignore[misc]  # harness_plugins: Any to mypy
    """One trial's view of cached clips."""

    def __init__(self, data: harness.data.CachedSequences, params: Mapping[str, Any],
                 seed: int, data_workers: int = 0) -> None:
        import torch

        if not data.sample_rate:
            raise harness.DataError("audio_classification needs sound: a dataset with a sample "
                                    "rate (audiofolder, spoken)")
        self.data, self.params, self.classes = data, params, data.classes
        lengths = data.split("train").lengths
        if len(set(lengths.tolist())) > 1 or data.split("train").channels != 1:
            raise harness.DataError("audio_classification needs mono clips of one length "
                                    "(audiofolder's clip_s)")
        self.samples, self.sample_rate = int(lengths[0]), float(data.sample_rate)
        self.generator = torch.Generator().manual_seed(seed)
        self.data_workers = data_workers

    def features(self, waves: torch.Tensor) -> torch.Tensor:
        p = self.params
        return features_of(waves, p["features"], self.sample_rate, int(p["n_mels"]),
                           float(p["hop_ms"]))

    def fetch(self, split: str, train: bool) -> Callable[[Any], tuple[Any, Any]]:
        table = self.data.split(split)

        def fetch(index: Any) -> tuple[torch.Tensor, torch.Tensor]:
            import numpy as np
            import torch

            rows = np.asarray(index, dtype=np.int64).tolist()
            waves = torch.from_numpy(np.stack([table.series(i) for i in rows]).astype(np.float32))
            x = self.features(waves)
            if train:
                x = spec_augment(x, self.params["augment"], self.generator)
            return x, torch.from_numpy(table.labels[rows])

        return fetch

    def split_size(self, split: str) -> int:
        return len(self.data.split(split))

    def inference_card(self) -> dict[str, Any]:
        p = self.params
        return {"input": "audio", "sample_rate": self.sample_rate,
                "clip_s": self.samples / self.sample_rate, "features": p["features"],
                "n_mels": int(p["n_mels"]), "hop_ms": float(p["hop_ms"]),
                "classes": list(self.classes)}

    def _shape(self) -> tuple[int, int]:
        p = self.params
        if p["features"] == "waveform":
            return self.samples, 1
        return (frame_count(self.samples, self.sample_rate, float(p["hop_ms"])),
                feature_size(p["features"], int(p["n_mels"])))

    def model_io(self) -> dict[str, Any]:
        length, size = self._shape()
        return {"in_features": size, "seq_len": length, "features": self.params["features"],
                "sample_rate": self.sample_rate, "output_shape": (len(self.classes),),
                "num_classes": len(self.classes)}

    def example_input(self, batch_size: int, device: torch.device) -> torch.Tensor:
        import torch

        length, size = self._shape()
        return torch.randn(batch_size, length, size, device=device)


# -- harness model predict: sound files, decoded and featurised as in training ----------------

def _load_clip(path: str, card: Any) -> Any:
    info = card["inference"]
    try:
        return read_clip(path, int(info["sample_rate"]), float(info["clip_s"]))
    except AudioError as exc:
        raise harness.DataError(f"{path}: {exc}") from None


def _prepare_clips(samples: Any, card: Any) -> Any:
    import numpy as np
    import torch

    info = card["inference"]
    waves = torch.from_numpy(np.stack([np.asarray(s, dtype=np.float32) for s in samples]))
    return features_of(waves, info["features"], float(info["sample_rate"]),
                       int(info["n_mels"]), float(info["hop_ms"]))


INFERENCE = harness.InferenceSpec(
    inputs="sound files (WAV, FLAC, OGG, MP3), resampled and cut as in training",
    files=files_with(AUDIO_EXTENSIONS, "sound file"), load=_load_clip, prepare=_prepare_clips,
    describe=lambda names, samples, logits, card: softmax_rows(
        names, logits, card["inference"]["classes"]))


def build(context: harness.TaskContext) -> AudioClassificationTask:
    return AudioClassificationTask(context.data, context.params, context.seed,
                                   context.data_workers)


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="audio_classification", build=build, data_kind=harness.data.SEQUENCES,
        metrics=METRICS, primary_metric="accuracy", params=PARAMS, inference=INFERENCE,
        summarize_data=summarize_sequences, test_params={"n_mels": 32},
        description="classify sound clips (waveform, log-mel or MFCC features); accuracy, "
                    "macro-F1, balanced accuracy"))
