"""Audio architectures for ``audio_classification``: ``m5`` on raw waveforms and
``logmel_cnn`` on log-mel (or MFCC) frames. The sequence architectures (``gru``, ``tcn``,
``transformer``, …) read the same frame sequences.
"""

from __future__ import annotations

from typing import Any

import harness

TASKS = ("audio_classification",)


def build_m5(request: harness.ModelRequest) -> Any:
    """M5 (Dai et al. 2017, "Very Deep Convolutional Neural Networks for Raw Waveforms"):
    four convolution blocks of 128, 128, 256 and 512 channels, the first with an 80-sample
    receptive field and stride 4, max pooling by 4, global average pooling."""
    from harness_plugins._audio_modules import M5

    io = request.io
    return M5(int(io["in_features"]), int(io["seq_len"]), int(request.params["channels"]),
              int(io["num_classes"]))


def build_logmel_cnn(request: harness.ModelRequest) -> Any:
    """A 2-D CNN on the log-mel image, after PANNs' CNN6/CNN10 (Kong et al. 2020, "PANNs:
    Large-Scale Pretrained Audio Neural Networks for Audio Pattern Recognition"): blocks of
    3×3 convolutions with batch norm and 2×2 average pooling, doubling channels from 64, then
    max-plus-mean pooling over time and dropout 0.2 — but the bands are kept apart rather than
    averaged (``LogMelCNN`` says why). It needs spectral features (``features = "logmel"`` or
    ``"mfcc"``)."""
    from harness_plugins._audio_modules import LogMelCNN

    io = request.io
    if int(io["in_features"]) < 8:
        raise ValueError("logmel_cnn reads log-mel or MFCC frames; set features = \"logmel\" "
                         "or \"mfcc\" (this trial has features = "
                         f"\"{io.get('features', 'waveform')}\")")
    p = request.params
    return LogMelCNN(int(p["width"]), int(p["blocks"]), float(p["dropout"]),
                     int(io["num_classes"]), int(io["in_features"]))


SPECS = (
    ("m5", build_m5, "M5: 1-D CNN on raw waveforms (Dai 2017)",
     {"channels": harness.Choice(128, (32, 64, 128), help="channels of the first block "
                                                         "(the paper: 128)")}),
    ("logmel_cnn", build_logmel_cnn, "2-D CNN on log-mel frames (after PANNs CNN10, Kong 2020)",
     {"width": harness.Choice(64, (16, 32, 64), help="channels of the first block (PANNs: "
                                                     "64)"),
      "blocks": harness.Int(4, 2, 4, help="convolution blocks, channels doubling"),
      "dropout": harness.Float(0.2, 0.0, 0.5, help="dropout before the classifier")}),
)


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    for name, build, description, params in SPECS:
        register(harness.ArchitectureSpec(name=name, build=build, tasks=TASKS,
                                          description=description, params=params))
