"""Dataset ``spoken`` (kind ``sequences``, with a sample rate): generated spoken "words", a
stand-in for a keyword or spoken-digit corpus that needs no download.

Each class is a word: a sequence of vowels and fricatives. A clip is made the way the
source-filter model of speech makes a voice (Fant 1960): a glottal pulse train at the speaker's
pitch, filtered by three formant resonators that glide from one vowel's formants to the next,
with band-passed noise for fricatives. Speakers differ in pitch (80–260 Hz), vocal-tract length
(formants scaled 0.85–1.2×), tempo, loudness and onset, and every clip has background noise:
telling the words apart takes their spectra over time, not their loudness or length. Seeded:
the same options give the same clips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import harness
import harness.data
from harness_plugins._splits import stratified_split

OPTIONS = {
    "per_class": harness.Option(int, 120, "clips per word"),
    "words": harness.Option(int, 10, "classes (at most 10)"),
    "sample_rate": harness.Option(int, 8000, "samples per second"),
    "clip_s": harness.Option(float, 1.0, "seconds per clip"),
    "snr_db": harness.Option(float, 15.0, "median signal-to-noise ratio of the background"),
    "seed": harness.Option(int, 0, "generator seed"),
}

VOWELS = {  # formants F1, F2, F3 in Hz (Peterson & Barney 1952, adult male averages)
    "i": (270, 2290, 3010), "I": (390, 1990, 2550), "e": (530, 1840, 2480),
    "ae": (660, 1720, 2410), "a": (730, 1090, 2440), "o": (570, 840, 2410),
    "U": (440, 1020, 2240), "u": (300, 870, 2240), "A": (640, 1190, 2390),
    "r": (490, 1350, 1690),
}
FRICATIVES = {"s": (2500, 3800), "f": (1200, 3600), "h": (400, 2500)}
WORDS = (("s", "i", "r", "o"), ("u", "A", "n"), ("u", "u"), ("i", "r", "i"),
         ("f", "o", "r"), ("f", "a", "I"), ("s", "I", "s"), ("s", "e", "A"),
         ("e", "I"), ("n", "a", "I"))  # "zero", "one", "two", … loosely
BANDWIDTHS = (60.0, 90.0, 120.0)


def _resonate(x: Any, freq: float, bandwidth: float, rate: int) -> Any:
    import numpy as np
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bandwidth / rate)
    theta = 2 * np.pi * freq / rate
    return lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)


def _voiced(formants: tuple[float, ...], seconds: float, pitch: float, rate: int,
            rng: Any) -> Any:
    import numpy as np

    n = max(1, int(seconds * rate))
    period = rate / pitch
    jitter = 1 + 0.02 * rng.standard_normal(int(n / period) + 2)
    marks = np.cumsum(period * jitter)
    source = np.zeros(n)
    source[marks[marks < n].astype(int)] = 1.0
    out = source
    for freq, bandwidth in zip(formants, BANDWIDTHS, strict=True):
        out = _resonate(out, min(freq, 0.45 * rate), bandwidth, rate)
    return out


def _fricative(band: tuple[float, float], seconds: float, rate: int, rng: Any) -> Any:
    from scipy.signal import butter
    from scipy.signal import sosfilt

    n = max(1, int(seconds * rate))
    high = min(band[1], 0.45 * rate)
    low = min(band[0], 0.5 * high)
    sos = butter(4, [low, high], btype="band", fs=rate, output="sos")
    return sosfilt(sos, rng.standard_normal(n)) * 0.3


def speak(word: tuple[str, ...], rate: int, clip_s: float, snr_db: float, rng: Any) -> Any:
    """One clip of ``word`` by a random speaker: L×1 float32."""
    import numpy as np

    pitch, tract = rng.uniform(80, 260), rng.uniform(0.85, 1.2)
    tempo = rng.uniform(0.7, 1.3)
    pieces = []
    for phone in word:
        seconds = 0.09 * tempo * rng.uniform(0.8, 1.2)
        if phone in FRICATIVES:
            pieces.append(_fricative(FRICATIVES[phone], seconds, rate, rng))
        elif phone == "n":  # a nasal: low first formant, weak upper ones
            pieces.append(0.5 * _voiced((250 * tract, 1100 * tract, 2300 * tract), seconds,
                                        pitch, rate, rng))
        else:
            pieces.append(_voiced(tuple(f * tract for f in VOWELS[phone]), seconds * 1.6,
                                  pitch, rate, rng))
    speech = _joined(pieces, int(0.015 * rate))
    speech /= np.abs(speech).max() + 1e-9
    clip = np.zeros(int(clip_s * rate))
    room = max(0, len(clip) - len(speech))
    start = int(rng.uniform(0, min(room, 0.3 * rate))) if room else 0
    part = speech[:len(clip) - start]
    clip[start:start + len(part)] = part * rng.uniform(0.3, 1.0)
    power = np.mean(part ** 2) + 1e-12
    snr = snr_db + rng.uniform(-5, 5)
    clip += rng.standard_normal(len(clip)) * np.sqrt(power / 10 ** (snr / 10))
    return clip.astype(np.float32)[:, None]


def _joined(pieces: list[Any], overlap: int) -> Any:
    """Pieces cross-faded into one another (formants glide instead of jumping)."""
    import numpy as np

    out = pieces[0]
    for piece in pieces[1:]:
        k = min(overlap, len(out), len(piece))
        fade = np.linspace(0, 1, k)
        out = np.concatenate([out[:-k] if k else out,
                              out[len(out) - k:] * (1 - fade) + piece[:k] * fade, piece[k:]])
    return out


def load_spoken(options: Mapping[str, Any]) -> harness.data.SequenceData:
    import numpy as np

    words, per_class = int(options["words"]), int(options["per_class"])
    if not 2 <= words <= len(WORDS) or per_class < 4:
        raise harness.DataError(f"spoken: words must be 2–{len(WORDS)} and per_class at "
                                "least 4")
    rng = np.random.default_rng(options["seed"])
    labels = [w for w in range(words) for _ in range(per_class)]
    clips = [speak(WORDS[w], int(options["sample_rate"]), float(options["clip_s"]),
                   float(options["snr_db"]), rng) for w in labels]
    train, val, test = stratified_split(labels, 0.15, 0.15, int(options["seed"]))

    def subset(picks: list[int]) -> harness.data.SequenceSet:
        return harness.data.SequenceSet(tuple(clips[i] for i in picks),
                                        tuple(labels[i] for i in picks))

    names = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return harness.data.SequenceData(subset(train), subset(val), subset(test), names[:words],
                                     sample_rate=float(options["sample_rate"]))


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="spoken", data_kind=harness.data.SEQUENCES, load=load_spoken, options=OPTIONS,
        description="generated spoken words (source-filter synthesis, 8 kHz, with noise)",
        test_options={"per_class": 6, "words": 3, "clip_s": 0.05, "sample_rate": 1000}))
