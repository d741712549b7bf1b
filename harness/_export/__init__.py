"""Winners you can take away: model cards, loading a kept model, ONNX and TorchScript export
with verification, and ``harness model predict``.

The map of every module is docs/architecture.md.
"""
