"""The reference models of time-series work: ``fcn``, ``resnet1d``, ``inception_time``
(classification, Wang et al. 2017; Ismail Fawaz et al. 2020) and ``dlinear``, ``nlinear``,
``nbeats``, ``patchtst`` (forecasting, Zeng et al. 2023; Oreshkin et al. 2020; Nie et al.
2023). Every one serves both sequence tasks, univariate or multivariate; its defaults are its
paper's settings, so an unsearched model is the published one.

Classification networks end in global average pooling and a linear head (which forecasts all
horizon steps at once); forecasting networks forecast each channel on its own, and read out a
classification from the channels' ``projection`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import harness

TASKS = ("forecasting", "sequence_classification")
CLASSIFICATION_PROJECTION = 16
"""Steps a forecasting network projects each channel to when it classifies."""


def _io(request: harness.ModelRequest) -> tuple[int, int, tuple[int, ...]]:
    io = request.io
    return int(io["in_features"]), int(io["seq_len"]), tuple(io["output_shape"])


def _pooled(make: Callable[[int, dict[str, Any]], Any]) -> Callable[[harness.ModelRequest], Any]:
    def build(request: harness.ModelRequest) -> Any:
        from harness_plugins._seq_modules import wrap

        inputs, _, out = _io(request)
        return wrap(make(inputs, dict(request.params)), out)

    return build


def _channelwise(make: Callable[[int, int, dict[str, Any]], Any],
                 ) -> Callable[[harness.ModelRequest], Any]:
    def build(request: harness.ModelRequest) -> Any:
        from harness_plugins._reference_seq import ChannelForecaster

        inputs, length, out = _io(request)
        steps = out[0] if len(out) == 2 else CLASSIFICATION_PROJECTION
        targets = request.io.get("target_index")
        return ChannelForecaster(make(length, steps, dict(request.params)), inputs, out,
                                 None if targets is None else list(targets))

    return build


def _fcn(inputs: int, p: dict[str, Any]) -> Any:
    from harness_plugins._reference_seq import FCN

    scale = float(p["width_scale"])
    return FCN(inputs, tuple(max(8, round(f * scale)) for f in (128, 256, 128)))


def _resnet(inputs: int, p: dict[str, Any]) -> Any:
    from harness_plugins._reference_seq import ResNet1D

    scale = float(p["width_scale"])
    return ResNet1D(inputs, tuple(max(8, round(f * scale)) for f in (64, 128, 128)))


def _inception(inputs: int, p: dict[str, Any]) -> Any:
    from harness_plugins._reference_seq import InceptionTime

    return InceptionTime(inputs, int(p["filters"]), int(p["depth"]), int(p["kernel"]))


def _dlinear(length: int, steps: int, p: dict[str, Any]) -> Any:
    from harness_plugins._reference_seq import DLinear

    return DLinear(length, steps, int(p["moving_average"]))


def _nlinear(length: int, steps: int, p: dict[str, Any]) -> Any:
    from harness_plugins._reference_seq import NLinear

    return NLinear(length, steps)


def _nbeats(length: int, steps: int, p: dict[str, Any]) -> Any:
    from harness_plugins._reference_seq import NBeats

    return NBeats(length, steps, int(p["blocks"]), int(p["width"]), int(p["layers"]))


def _patchtst(length: int, steps: int, p: dict[str, Any]) -> Any:
    from harness_plugins._reference_seq import PatchTST

    d_model = int(p["d_model"])
    return PatchTST(length, steps, int(p["patch_len"]), int(p["stride"]), d_model,
                    int(p["heads"]), int(p["layers"]), 2 * d_model, float(p["dropout"]))


WIDTH = {"width_scale": harness.Float(1.0, 0.25, 1.0, search=False,
                                      help="filters as a share of the paper's")}

SPECS: tuple[tuple[str, Callable[[harness.ModelRequest], Any], str, dict[str, Any]], ...] = (
    ("fcn", _pooled(_fcn), "FCN (Wang et al. 2017): 3 conv blocks 128/256/128, GAP", WIDTH),
    ("resnet1d", _pooled(_resnet),
     "ResNet for time series (Wang et al. 2017): 3 residual blocks 64/128/128, GAP", WIDTH),
    ("inception_time", _pooled(_inception),
     "InceptionTime (Ismail Fawaz et al. 2020): 6 inception modules, residual every 3", {
         "filters": harness.Int(32, 8, 32, log=True, search=False, help="filters per branch"),
         "depth": harness.Choice(6, (3, 6, 9), search=False, help="inception modules"),
         "kernel": harness.Choice(40, (10, 20, 40), search=False,
                                  help="longest kernel (then /2, /4)")}),
    ("dlinear", _channelwise(_dlinear),
     "DLinear (Zeng et al. 2023): trend/remainder split, one linear layer each", {
         "moving_average": harness.Choice(25, (5, 13, 25), search=False,
                                          help="moving-average kernel of the trend")}),
    ("nlinear", _channelwise(_nlinear),
     "NLinear (Zeng et al. 2023): last-value normalised linear layer", {}),
    ("nbeats", _channelwise(_nbeats),
     "N-BEATS generic (Oreshkin et al. 2020): residual stack of fully connected blocks", {
         "blocks": harness.Int(30, 2, 30, search=False, help="blocks (the paper: 30)"),
         "width": harness.Choice(512, (64, 128, 256, 512), search=False,
                                 help="units per layer"),
         "layers": harness.Int(4, 2, 4, search=False, help="layers per block")}),
    ("patchtst", _channelwise(_patchtst),
     "PatchTST (Nie et al. 2023): channel-independent patch transformer", {
         "patch_len": harness.Choice(16, (4, 8, 16), search=False, help="steps per patch"),
         "stride": harness.Choice(8, (2, 4, 8), search=False, help="steps between patches"),
         "d_model": harness.Choice(128, (16, 32, 64, 128), search=False, help="model width"),
         "heads": harness.Choice(16, (4, 8, 16), search=False,
                                 help="attention heads (must divide d_model)"),
         "layers": harness.Int(3, 1, 3, search=False, help="encoder layers"),
         "dropout": harness.Float(0.2, 0.0, 0.3, search=False, help="dropout")}),
)


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    for name, build, description, params in SPECS:
        register(harness.ArchitectureSpec(name=name, build=build, tasks=TASKS,
                                          description=description, params=params))
