"""Reading sound files into fixed-length clips, shared by ``audiofolder`` and ``harness model
predict``.

Decoding is soundfile's (libsndfile, bundled in its wheels: WAV, FLAC, OGG/Vorbis, MP3 and
more, with no system library and no tie to a torch release, unlike torchaudio, whose
releases lag torch's). Resampling is SciPy's polyphase filter (``resample_poly``), already a
dependency. Only the frames a clip needs are read: a two-hour recording costs one clip's
memory.
"""

from __future__ import annotations

import re
from math import gcd
from typing import Any

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}


class AudioError(ValueError):
    """A file that cannot be decoded as sound (empty, truncated, not audio)."""


def read_clip(path: str, sample_rate: int, clip_s: float, mono: bool = True) -> Any:
    """The first ``clip_s`` seconds of ``path`` at ``sample_rate``: L×C float32 (C = 1 when
    ``mono``: channels averaged), zero-padded at the end to exactly ``clip_s`` seconds."""
    import numpy as np
    import soundfile as sf

    try:
        with sf.SoundFile(path) as sound:
            native = int(sound.samplerate)
            wanted = int(round(clip_s * native))
            _check_complete(sound.extra_info)
            frames = sound.read(frames=wanted, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise AudioError(f"not readable as audio ({' '.join(str(exc).split())[:160]})") from None
    if not len(frames):
        raise AudioError("holds no audio frames")
    if mono:
        frames = frames.mean(axis=1, keepdims=True)
    clip = resample(frames, native, sample_rate)
    length = int(round(clip_s * sample_rate))
    out = np.zeros((length, clip.shape[1]), dtype=np.float32)
    out[:min(length, len(clip))] = clip[:length]
    return out


_SHORT_CHUNK = re.compile(r"^\s*data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _check_complete(log: str) -> None:
    """libsndfile reads a WAV file cut short as if it were whole (its log says the data
    chunk "should be" shorter than its header declares): such a file is truncated."""
    short = _SHORT_CHUNK.search(log)
    if short and int(short.group(2)) < int(short.group(1)):
        raise AudioError(f"truncated: {short.group(2)} of the {short.group(1)} bytes of sound "
                         "its header declares")


def resample(frames: Any, native: int, target: int) -> Any:
    """``frames`` (L×C) from ``native`` to ``target`` samples per second."""
    import numpy as np
    from scipy.signal import resample_poly

    if native == target:
        return frames
    common = gcd(native, target)
    return resample_poly(frames, target // common, native // common, axis=0).astype(np.float32)
