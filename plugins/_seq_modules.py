"""nn.Module classes of the sequence architectures (module level, so models pickle).

Every model maps a batch B×L×C to B×``output_shape``: (horizon, targets) for forecasting,
(classes,) for classification. An encoder turns the sequence into a vector; a linear head
shapes the output.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class SequenceModel(nn.Module):
    def __init__(self, encoder: nn.Module, width: int, output_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.encoder = encoder
        self.output_shape = tuple(output_shape)
        self.head = nn.Linear(width, math.prod(self.output_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)).view(x.shape[0], *self.output_shape)


class Recurrent(nn.Module):
    """RNN, LSTM or GRU; the last step's output (both directions when bidirectional)."""

    def __init__(self, cell: str, inputs: int, hidden: int, layers: int, bidirectional: bool,
                 dropout: float) -> None:
        super().__init__()
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_cls(inputs, hidden, num_layers=layers, batch_first=True,
                           bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.width = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        if self.rnn.bidirectional:
            half = out.shape[-1] // 2
            # forward direction ends at the last step, backward direction at the first
            return torch.cat([out[:, -1, :half], out[:, 0, half:]], dim=-1)
        return out[:, -1]


class CausalBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(cin, cout, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(cout, cout, kernel, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
        y = self.drop(torch.relu(self.conv2(nn.functional.pad(y, (self.pad, 0)))))
        return torch.relu(y + self.skip(x))


class TCN(nn.Module):
    """Dilated causal convolutions (dilation doubling per level); the last step's features."""

    def __init__(self, inputs: int, channels: int, levels: int, kernel: int,
                 dropout: float) -> None:
        super().__init__()
        blocks = [CausalBlock(inputs if i == 0 else channels, channels, kernel, 2**i, dropout)
                  for i in range(levels)]
        self.net = nn.Sequential(*blocks)
        self.width = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2))[:, :, -1]


class TransformerEncoder(nn.Module):
    """Linear embedding + learned positions + a transformer encoder; mean-pooled."""

    def __init__(self, inputs: int, d_model: int, heads: int, layers: int, dropout: float,
                 max_len: int) -> None:
        super().__init__()
        self.embed = nn.Linear(inputs, d_model)
        self.position = nn.Parameter(torch.zeros(1, max_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.width = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.position[:, -x.shape[1]:]
        return self.encoder(h).mean(dim=1)


class MLP(nn.Module):
    """Feed-forward over the whole (flattened) window."""

    def __init__(self, inputs: int, length: int, hidden: int, layers: int,
                 dropout: float) -> None:
        super().__init__()
        parts: list[nn.Module] = [nn.Flatten()]
        width = inputs * length
        for _ in range(layers):
            parts += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.net = nn.Sequential(*parts)
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvRecurrent(nn.Module):
    """Two 1-D convolutions extract local patterns; a GRU reads them in order."""

    def __init__(self, inputs: int, channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(inputs, channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(), nn.Dropout(dropout))
        self.rnn = nn.GRU(channels, hidden, batch_first=True)
        self.width = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv(x.transpose(1, 2)).transpose(1, 2)
        out, _ = self.rnn(features)
        return out[:, -1]


def wrap(encoder: Any, output_shape: tuple[int, ...]) -> SequenceModel:
    return SequenceModel(encoder, encoder.width, output_shape)
