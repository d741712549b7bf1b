"""nn.Module classes of the audio architectures (module level, so models pickle).

Both take B×T×F as the audio task gives it: T samples of 1 (``waveform``) or T frames of F
features (``logmel``, ``mfcc``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class M5(nn.Module):
    """Four 1-D convolution blocks with batch norm and max pooling, global average pooling,
    a linear classifier. On waveforms the first layer has an 80-sample receptive field with
    stride 4, as in the paper; on frame sequences (far shorter) it is a width-3 convolution,
    and a block pools only while frames remain."""

    def __init__(self, inputs: int, length: int, channels: int, classes: int) -> None:
        super().__init__()
        waveform = length >= 1000
        widths = (channels, channels, 2 * channels, 4 * channels)
        layers: list[nn.Module] = []
        size, previous = length, inputs
        for block, width in enumerate(widths):
            kernel, stride = ((80, 4) if waveform else (3, 1)) if block == 0 else (3, 1)
            layers += [nn.Conv1d(previous, width, kernel, stride, padding=kernel // 2),
                       nn.BatchNorm1d(width), nn.ReLU()]
            size = (size + 2 * (kernel // 2) - kernel) // stride + 1
            if size >= 8:
                layers.append(nn.MaxPool1d(4 if size >= 16 else 2))
                size //= 4 if size >= 16 else 2
            previous = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(previous, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.transpose(1, 2)).mean(dim=2))


class LogMelCNN(nn.Module):
    """Blocks of two 3×3 convolutions (batch norm, ReLU) and 2×2 average pooling over the
    frames × bands image; each pooled band's channels side by side, the max plus the mean over
    time; dropout; a linear classifier.

    PANNs average over bands instead; with few blocks the convolutions' receptive field is a
    fraction of the bands, and that average makes the network blind to *which* band carries
    energy — a low vowel and a high one look alike. Keeping the bands apart costs a wider
    classifier, nothing else."""

    def __init__(self, width: int, blocks: int, dropout: float, classes: int,
                 bands: int = 40) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 1
        for block in range(blocks):
            out = width * 2 ** block
            layers += [nn.Conv2d(previous, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(), nn.Conv2d(out, out, 3, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True)]
            previous = out
            bands = -(-bands // 2)  # ceil_mode pooling
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(previous * bands, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.body(x[:, None])  # B×C×T'×F'
        maps = maps.permute(0, 1, 3, 2).flatten(1, 2)  # B×(C·F')×T'
        pooled = maps.amax(dim=2) + maps.mean(dim=2)
        return self.head(self.dropout(F.relu(pooled)))
