"""Sequence architectures: ``rnn``, ``lstm``, ``gru``, ``tcn``, ``transformer``, ``mlp`` and
``cnn_rnn``, for forecasting, sequence classification and audio classification (frame
sequences), univariate or multivariate.

Tasks describe inputs as ``io["in_features"]`` channels over ``io["seq_len"]`` steps and the
output as ``io["output_shape"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import harness

TASKS = ("forecasting", "sequence_classification", "audio_classification")

RECURRENT = {
    "hidden": harness.Int(64, 16, 128, log=True, help="hidden units per direction"),
    "layers": harness.Int(1, 1, 3, help="stacked recurrent layers"),
    "bidirectional": harness.Choice(False, (False, True), help="read both directions"),
    "dropout": harness.Float(0.0, 0.0, 0.3, help="dropout between layers"),
}


def _io(request: harness.ModelRequest) -> tuple[int, int, tuple[int, ...]]:
    io = request.io
    return int(io["in_features"]), int(io["seq_len"]), tuple(io["output_shape"])


def _recurrent(cell: str) -> Callable[[harness.ModelRequest], Any]:
    def build(request: harness.ModelRequest) -> Any:
        from harness_plugins._seq_modules import Recurrent
        from harness_plugins._seq_modules import wrap

        inputs, _, out = _io(request)
        p = request.params
        return wrap(Recurrent(cell, inputs, int(p["hidden"]), int(p["layers"]),
                              bool(p["bidirectional"]), float(p["dropout"])), out)

    return build


def build_tcn(request: harness.ModelRequest) -> Any:
    from harness_plugins._seq_modules import TCN
    from harness_plugins._seq_modules import wrap

    inputs, _, out = _io(request)
    p = request.params
    return wrap(TCN(inputs, int(p["channels"]), int(p["levels"]), int(p["kernel"]),
                    float(p["dropout"])), out)


def build_transformer(request: harness.ModelRequest) -> Any:
    from harness_plugins._seq_modules import TransformerEncoder
    from harness_plugins._seq_modules import wrap

    inputs, length, out = _io(request)
    p = request.params
    return wrap(TransformerEncoder(inputs, int(p["d_model"]), int(p["heads"]), int(p["layers"]),
                                   float(p["dropout"]), length), out)


def build_mlp(request: harness.ModelRequest) -> Any:
    from harness_plugins._seq_modules import MLP
    from harness_plugins._seq_modules import wrap

    inputs, length, out = _io(request)
    p = request.params
    return wrap(MLP(inputs, length, int(p["hidden"]), int(p["layers"]), float(p["dropout"])),
                out)


def build_cnn_rnn(request: harness.ModelRequest) -> Any:
    from harness_plugins._seq_modules import ConvRecurrent
    from harness_plugins._seq_modules import wrap

    inputs, _, out = _io(request)
    p = request.params
    return wrap(ConvRecurrent(inputs, int(p["channels"]), int(p["hidden"]),
                              float(p["dropout"])), out)


SPECS = (
    ("rnn", _recurrent("rnn"), "Elman RNN (tanh)", RECURRENT),
    ("lstm", _recurrent("lstm"), "LSTM", RECURRENT),
    ("gru", _recurrent("gru"), "GRU", RECURRENT),
    ("tcn", build_tcn, "temporal convolutional network: dilated causal convolutions", {
        "channels": harness.Int(32, 16, 96, log=True, help="channels per level"),
        "levels": harness.Int(3, 2, 5, help="residual blocks; dilation doubles per level"),
        "kernel": harness.Choice(3, (2, 3, 5), help="kernel size"),
        "dropout": harness.Float(0.1, 0.0, 0.3, help="dropout inside blocks")}),
    ("transformer", build_transformer, "transformer encoder over the sequence, mean-pooled", {
        "d_model": harness.Choice(32, (16, 32, 64), help="model width"),
        "heads": harness.Choice(4, (2, 4), help="attention heads (must divide d_model)"),
        "layers": harness.Int(2, 1, 3, help="encoder layers"),
        "dropout": harness.Float(0.1, 0.0, 0.3, help="dropout")}),
    ("mlp", build_mlp, "feed-forward network over the flattened window", {
        "hidden": harness.Int(128, 32, 256, log=True, help="hidden units"),
        "layers": harness.Int(2, 1, 3, help="hidden layers"),
        "dropout": harness.Float(0.1, 0.0, 0.3, help="dropout")}),
    ("cnn_rnn", build_cnn_rnn, "1-D convolutions feeding a GRU", {
        "channels": harness.Int(32, 16, 64, log=True, help="convolution channels"),
        "hidden": harness.Int(64, 16, 128, log=True, help="GRU hidden units"),
        "dropout": harness.Float(0.1, 0.0, 0.3, help="dropout after the convolutions")}),
)


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    for name, build, description, params in SPECS:
        register(harness.ArchitectureSpec(name=name, build=build, tasks=TASKS,
                                          description=description, params=params))
