"""Audio features for ``audio_classification``, computed per batch with torch.

``logmel``: the log of a power spectrogram (25 ms Hann windows every ``hop_ms``) pooled by
``n_mels`` triangular filters on the mel scale (HTK's formula, Young et al. 2006); ``mfcc``:
the first 20 coefficients of its orthonormal DCT-II (Davis & Mermelstein 1980); ``waveform``:
the samples themselves. torchaudio would provide these, but its releases trail torch's (none
installs beside torch 2.14), and the filterbank and DCT are a few lines of torch and SciPy.
SpecAugment (Park et al. 2019) masks random frequency bands and time spans while training.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

FEATURES = ("waveform", "logmel", "mfcc")
N_MFCC = 20
WINDOW_MS = 25.0
AUGMENT = {"none": (0, 0.0, 0, 0.0), "light": (1, 0.10, 1, 0.10),
           "strong": (2, 0.15, 2, 0.20)}
"""SpecAugment strength: (frequency masks, widest as a share of bands, time masks, widest as
a share of frames)."""


def _mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """(n_fft // 2 + 1) × n_mels triangular filters, evenly spaced in mel from 0 Hz to
    Nyquist, each peaking at 1."""
    import torch

    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges_mel = torch.linspace(0.0, _mel(sample_rate / 2), n_mels + 2, dtype=torch.float64)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - low) / (centre - low)
    falling = (high - bins[:, None]) / (high - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


@lru_cache(maxsize=16)
def dct_matrix(n_mels: int, n_out: int) -> torch.Tensor:
    """n_mels × n_out orthonormal DCT-II (SciPy's), applied to log-mel rows."""
    import numpy as np
    import torch
    from scipy.fft import dct

    return torch.from_numpy(dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:, :n_out]).float()


def frame_count(samples: int, sample_rate: float, hop_ms: float) -> int:
    return samples // hop_length(sample_rate, hop_ms) + 1


def hop_length(sample_rate: float, hop_ms: float) -> int:
    return max(1, int(round(sample_rate * hop_ms / 1000)))


def feature_size(features: str, n_mels: int) -> int:
    return {"waveform": 1, "logmel": n_mels, "mfcc": min(N_MFCC, n_mels)}[features]


def features_of(waves: torch.Tensor, features: str, sample_rate: float, n_mels: int,
                hop_ms: float) -> torch.Tensor:
    """B×L×1 waveforms → B×T×F features, each clip normalised to zero mean and unit variance
    over all its values (``waveform``: scaled to a peak of 1): loudness says nothing about
    the word, while the spectrum's shape, which a per-band normalisation would flatten, does."""
    import torch

    if features == "waveform":
        return waves / (waves.abs().amax(dim=1, keepdim=True) + 1e-6)
    window = int(round(sample_rate * WINDOW_MS / 1000))
    n_fft = 1 << max(4, (window - 1).bit_length())
    spectrum = torch.stft(waves[..., 0].float(), n_fft, hop_length(sample_rate, hop_ms),
                          win_length=window, window=torch.hann_window(window, device=waves.device),
                          center=True, return_complex=True).abs() ** 2  # B×bins×T
    bank = mel_filterbank(int(sample_rate), n_fft, n_mels).to(waves.device)
    out = torch.log(spectrum.transpose(1, 2) @ bank + 1e-6)  # B×T×mels
    if features == "mfcc":
        out = out @ dct_matrix(n_mels, min(N_MFCC, n_mels)).to(waves.device)
    return (out - out.mean(dim=(1, 2), keepdim=True)) / (out.std(dim=(1, 2), keepdim=True)
                                                           + 1e-5)


def spec_augment(x: torch.Tensor, strength: str, generator: torch.Generator) -> torch.Tensor:
    """Zero random bands of features and spans of frames per sample (B×T×F); on waveforms
    (F = 1) only spans of time are masked."""
    import torch

    bands, band_share, spans, span_share = AUGMENT[strength]
    if not (bands or spans):
        return x
    batch, frames, features = x.shape
    keep = torch.ones(batch, frames, features)
    for _ in range(bands if features > 1 else 0):
        _mask(keep, 2, features, band_share, generator)
    for _ in range(spans):
        _mask(keep, 1, frames, span_share, generator)
    return x * keep.to(x.device)


def _mask(keep: torch.Tensor, axis: int, size: int, share: float,
          generator: torch.Generator) -> None:
    import torch

    batch = keep.shape[0]
    width = (torch.rand(batch, generator=generator) * share * size).long()
    start = (torch.rand(batch, generator=generator) * (size - width + 1).float()).long()
    positions = torch.arange(size)
    masked = (positions >= start[:, None]) & (positions < (start + width)[:, None])  # B×size
    if axis == 1:
        keep.mul_((~masked)[:, :, None].float())
    else:
        keep.mul_((~masked)[:, None, :].float())
