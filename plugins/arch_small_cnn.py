"""Architecture ``small_cnn``: a compact VGG-style CNN that trains in seconds on a CPU."""

from __future__ import annotations

from typing import Any

import harness

PARAMS = {
    "width": harness.Int(32, 16, 64, log=True, help="channels of the first stage"),
    "depth": harness.Int(2, 1, 3, help="stages of two 3×3 convolutions and a 2×2 pool"),
    "dropout": harness.Float(0.1, 0.0, 0.5, help="dropout before the classifier"),
}


def build(request: harness.ModelRequest) -> Any:
    from torch import nn

    io, p = request.io, request.params
    layers: list[nn.Module] = []
    channels, width = int(io["in_chans"]), int(p["width"])
    for stage in range(int(p["depth"])):
        out = width * 2**stage
        for _ in range(2):
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            channels = out
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(float(p["dropout"])),
               nn.Linear(channels, int(io["num_classes"]))]
    return nn.Sequential(*layers)


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    register(harness.ArchitectureSpec(
        name="small_cnn", build=build, tasks=("classification",), params=PARAMS,
        description="VGG-style CNN: stages of 3×3 conv-BN-ReLU pairs, global pooling"))
