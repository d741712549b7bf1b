"""nn.Module classes of the reference sequence models, as their papers describe them.

Classification networks (FCN, ResNet, InceptionTime) end in global average pooling: their
features feed the usual linear head (``SequenceModel``), so they forecast too. Forecasting
networks (DLinear, NLinear, N-BEATS, PatchTST) map each channel's window to ``steps`` future
values, channel-independently as in their papers; ``ChannelForecaster`` turns that into the
task's output: the target channels' forecasts for forecasting, a linear read-out of all
channels' projections for classification.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

# -- classification networks (input B×L×C, output B×width) ---------------------------------


def _same_conv(cin: int, cout: int, kernel: int, bias: bool = True) -> nn.Sequential:
    """A convolution whose output is as long as its input; the papers' even kernels (8, 40)
    pad one step more at the end, as Keras' ``padding="same"`` does."""
    return nn.Sequential(nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0),
                         nn.Conv1d(cin, cout, kernel, bias=bias))


def _conv_block(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(_same_conv(cin, cout, kernel), nn.BatchNorm1d(cout), nn.ReLU())


class FCN(nn.Module):
    """Fully convolutional network (Wang, Yan & Oates 2017, "Time series classification from
    scratch with deep neural networks: a strong baseline", IJCNN): three convolution blocks of
    128, 256, 128 filters, kernels 8, 5, 3, batch norm and ReLU, then global average pooling."""

    def __init__(self, inputs: int, filters: Sequence[int] = (128, 256, 128),
                 kernels: Sequence[int] = (8, 5, 3)) -> None:
        super().__init__()
        widths = [inputs, *filters]
        self.net = nn.Sequential(*(_conv_block(widths[i], widths[i + 1], k)
                                   for i, k in enumerate(kernels)))
        self.width = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).mean(dim=-1)


class _ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernels: Sequence[int]) -> None:
        super().__init__()
        widths = [cin] + [cout] * len(kernels)
        layers: list[nn.Module] = []
        for i, k in enumerate(kernels):
            layers += [_same_conv(widths[i], cout, k), nn.BatchNorm1d(cout)]
            if i < len(kernels) - 1:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv1d(cin, cout, 1), nn.BatchNorm1d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet1D(nn.Module):
    """Residual network for time series (Wang, Yan & Oates 2017): three residual blocks of 64,
    128, 128 filters, each three convolutions with kernels 8, 5, 3 and a 1×1 shortcut, then
    global average pooling."""

    def __init__(self, inputs: int, filters: Sequence[int] = (64, 128, 128),
                 kernels: Sequence[int] = (8, 5, 3)) -> None:
        super().__init__()
        widths = [inputs, *filters]
        self.net = nn.Sequential(*(_ResidualBlock(widths[i], widths[i + 1], kernels)
                                   for i in range(len(filters))))
        self.width = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).mean(dim=-1)


class _InceptionModule(nn.Module):
    def __init__(self, cin: int, filters: int, kernel: int, bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = (nn.Conv1d(cin, bottleneck, 1, bias=False) if cin > 1
                           else nn.Identity())
        width = bottleneck if cin > 1 else cin
        # kernel sizes kernel, kernel/2, kernel/4 (40, 20, 10 in the paper)
        self.convs = nn.ModuleList(_same_conv(width, filters, max(1, kernel // 2**i), False)
                                   for i in range(3))
        self.pool = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1),
                                  nn.Conv1d(cin, filters, 1, bias=False))
        self.norm = nn.BatchNorm1d(4 * filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bottleneck(x)
        out = torch.cat([conv(z) for conv in self.convs] + [self.pool(x)], dim=1)
        return torch.relu(self.norm(out))


class InceptionTime(nn.Module):
    """One InceptionTime network (Ismail Fawaz et al. 2020, "InceptionTime: finding AlexNet for
    time series classification", DMKD): ``depth`` inception modules (bottleneck 32, kernels 40,
    20, 10 and a max-pool branch, 32 filters each) with a residual connection every third,
    then global average pooling. The paper's classifier averages five such networks; train
    five seeds and average to reproduce that."""

    def __init__(self, inputs: int, filters: int = 32, depth: int = 6, kernel: int = 40,
                 bottleneck: int = 32) -> None:
        super().__init__()
        width = 4 * filters
        self.modules_ = nn.ModuleList(
            _InceptionModule(inputs if i == 0 else width, filters, kernel, bottleneck)
            for i in range(depth))
        self.shortcuts = nn.ModuleList(
            nn.Sequential(nn.Conv1d(inputs if i == 0 else width, width, 1, bias=False),
                          nn.BatchNorm1d(width))
            for i in range(depth // 3))
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        residual = x
        for i, module in enumerate(self.modules_):
            x = module(x)
            if i % 3 == 2:
                x = torch.relu(x + self.shortcuts[i // 3](residual))
                residual = x
        return x.mean(dim=-1)


# -- forecasting networks (input B×L×C, output B×steps×C) ----------------------------------


class _MovingAverage(nn.Module):
    """Trend by a centred moving average, ends padded by repeating the edge values."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B×L×C
        front = x[:, :1].repeat(1, (self.kernel - 1) // 2, 1)
        back = x[:, -1:].repeat(1, self.kernel // 2, 1)
        padded = torch.cat([front, x, back], dim=1)
        return nn.functional.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1).transpose(
            1, 2)


class DLinear(nn.Module):
    """DLinear (Zeng, Chen, Zhang & Xu 2023, "Are transformers effective for time series
    forecasting?", AAAI): the window is split into a moving-average trend (kernel 25) and
    the remainder; one linear layer over time each, shared across channels, summed."""

    def __init__(self, length: int, steps: int, kernel: int = 25) -> None:
        super().__init__()
        self.trend = _MovingAverage(min(kernel, length))
        self.linear_trend = nn.Linear(length, steps)
        self.linear_seasonal = nn.Linear(length, steps)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trend = self.trend(x)
        seasonal = x - trend
        out = self.linear_trend(trend.transpose(1, 2)) + self.linear_seasonal(
            seasonal.transpose(1, 2))
        return out.transpose(1, 2)


class NLinear(nn.Module):
    """NLinear (Zeng et al. 2023): subtract the window's last value, one linear layer over
    time shared across channels, add the value back."""

    def __init__(self, length: int, steps: int) -> None:
        super().__init__()
        self.linear = nn.Linear(length, steps)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1:].detach()
        return self.linear((x - last).transpose(1, 2)).transpose(1, 2) + last


class _NBeatsBlock(nn.Module):
    def __init__(self, length: int, steps: int, width: int, layers: int) -> None:
        super().__init__()
        fc: list[nn.Module] = []
        for i in range(layers):
            fc += [nn.Linear(length if i == 0 else width, width), nn.ReLU()]
        self.fc = nn.Sequential(*fc)
        self.backcast = nn.Linear(width, length)
        self.forecast = nn.Linear(width, steps)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(x)
        return self.backcast(h), self.forecast(h)


class NBeats(nn.Module):
    """N-BEATS, generic configuration (Oreshkin, Carpov, Chapados & Bengio 2020, "N-BEATS:
    neural basis expansion analysis for interpretable time series forecasting", ICLR): a
    sequence of fully connected blocks (4 layers of 512 units); each removes its backcast from
    the input and adds its forecast to the output. The paper's generic model stacks 30 blocks.
    Univariate by design: every channel is forecast on its own."""

    def __init__(self, length: int, steps: int, blocks: int = 30, width: int = 512,
                 layers: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_NBeatsBlock(length, steps, width, layers)
                                    for _ in range(blocks))
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        residual = x.transpose(1, 2).reshape(b * c, length)
        forecast = residual.new_zeros(b * c, self.steps)
        for block in self.blocks:
            backcast, step = block(residual)
            residual = residual - backcast
            forecast = forecast + step
        return forecast.view(b, c, self.steps).transpose(1, 2)


class PatchTST(nn.Module):
    """PatchTST (Nie, Nguyen, Sinthong & Kalagnanam 2023, "A time series is worth 64 words",
    ICLR), supervised: each channel on its own (channel independence), instance-normalised
    (RevIN without affine terms), cut into patches of 16 steps with stride 8 (the end padded by
    repeating the last value), embedded, read by a transformer encoder (3 layers, d_model 128,
    16 heads, feed-forward 256, dropout 0.2) and flattened into a linear head."""

    def __init__(self, length: int, steps: int, patch_len: int = 16, stride: int = 8,
                 d_model: int = 128, heads: int = 16, layers: int = 3, ff: int = 256,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.patch_len = min(patch_len, length)
        self.stride = max(1, min(stride, self.patch_len))
        patches = (length - self.patch_len) // self.stride + 2
        self.embed = nn.Linear(self.patch_len, d_model)
        self.position = nn.Parameter(torch.empty(1, patches, d_model).uniform_(-0.02, 0.02))
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True,
                                           norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(patches * d_model, steps))
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-5).detach()
        z = ((x - mean) / std).transpose(1, 2)  # B×C×L
        z = torch.cat([z, z[:, :, -1:].expand(b, c, self.stride)], dim=-1)
        # B×C×N×P: the same windows as z.unfold(-1, patch_len, stride), by indexing, which
        # ONNX exports (its exporter has no Unfold for sizes known only at run time).
        starts = torch.arange(0, z.shape[-1] - self.patch_len + 1, self.stride, device=z.device)
        patches = z[:, :, starts[:, None] + torch.arange(self.patch_len, device=z.device)]
        h = self.embed(patches.reshape(b * c, -1, self.patch_len)) + self.position
        h = self.encoder(self.drop(h))
        out = self.head(h).view(b, c, self.steps).transpose(1, 2)
        return out * std + mean


class ChannelForecaster(nn.Module):
    """Shapes a channel-wise forecaster's B×steps×C output into the task's output.

    Forecasting (``output_shape`` = (horizon, targets)): the target channels' forecasts, as
    the papers do (``target_index`` from the task; without it a linear map of the channels).
    Classification (``output_shape`` = (classes,)): a linear read-out of every channel's
    ``steps`` projected values.
    """

    def __init__(self, network: nn.Module, channels: int, output_shape: tuple[int, ...],
                 target_index: Sequence[int] | None) -> None:
        super().__init__()
        self.network = network
        self.output_shape = tuple(output_shape)
        self.forecasting = len(self.output_shape) == 2
        self.register_buffer("targets", torch.tensor(list(target_index or []), dtype=torch.long),
                             persistent=False)
        self.mix: nn.Module = nn.Identity()
        if self.forecasting and (target_index is None or len(target_index) != output_shape[1]):
            self.mix = nn.Linear(channels, output_shape[1])
        if not self.forecasting:
            steps = int(network.steps)  # type: ignore[arg-type]  # an int attribute
            self.mix = nn.Sequential(nn.Flatten(), nn.Linear(steps * channels,
                                                             math.prod(output_shape)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        if not self.forecasting:
            return self.mix(out)
        if isinstance(self.mix, nn.Identity):
            return out[:, :, self.targets]
        return self.mix(out)
