"""nn.Module classes of the detector builders, at module level so models pickle (for worker
processes). Imported only when a detector is built: it imports torch."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn


class Pyramid(nn.Module):
    """A timm ``features_only`` body under a torchvision feature pyramid."""

    def __init__(self, body: nn.Module, fpn: nn.Module, channels: int) -> None:
        super().__init__()
        self.body, self.fpn, self.out_channels = body, fpn, channels

    def forward(self, x: Any) -> Any:
        features = self.body(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(features)))


class SSDBackbone(nn.Module):
    """A timm ``features_only`` body plus extra stride-2 blocks, for SSD heads."""

    def __init__(self, body: nn.Module, extras: nn.ModuleList) -> None:
        super().__init__()
        self.body, self.extras = body, extras

    def forward(self, x: Any) -> Any:
        features = list(self.body(x))
        for block in self.extras:
            features.append(block(features[-1]))
        return OrderedDict((str(i), f) for i, f in enumerate(features))


def extra_block(cin: int, cout: int) -> nn.Module:
    """Depthwise-separable, stride 2: SSDlite's extra feature levels."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride=2, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin),
        nn.ReLU6(inplace=True), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True))
