"""ONNX: export a trained model, run it in ONNX Runtime as if it were the PyTorch module, and
time it.

The export uses PyTorch's TorchScript-based exporter (``torch.onnx.export(dynamo=False)``,
opset 17): the dynamo exporter cannot follow torchvision's detectors through their
data-dependent post-processing (NMS), which the TorchScript exporter records as ONNX
operators. Models export with a dynamic batch axis, except architectures whose spec says they
export one sample per call (``onnx_export = "single"``, e.g. detectors with their NMS).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import torch

from harness._errors import HarnessError
from harness._meter import InferenceFigures
from harness._meter import measure_inference

if TYPE_CHECKING:
    from harness._records import TrialPlan
    from harness._specs import Task

__all__ = ["OPSET", "OnnxModule", "as_tensor_input", "export_onnx", "measure_onnx",
           "onnx_session", "tensor_pairs"]

OPSET = 17


def as_tensor_input(example: Any) -> torch.Tensor:
    """A task's example input as one tensor (a list of images becomes a batch)."""
    import torch

    if isinstance(example, (list, tuple)):
        return torch.stack(list(example))
    return example  # type: ignore[no-any-return]


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path,
                single: bool) -> list[str]:
    """Write ``model`` as ONNX; returns its output names."""
    import torch

    model = model.eval()
    with torch.no_grad():
        reference = model(example)
    names = _output_names(reference)
    axes = None if single else {"input": {0: "batch"}, **{n: {0: "batch"} for n in names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notices about Python values in the graph
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=names, dynamic_axes=axes)
    return names


def _output_names(reference: Any) -> list[str]:
    if isinstance(reference, (list, tuple)) and reference and isinstance(reference[0], dict):
        return [str(k) for k in reference[0]]  # one image's detections: boxes, scores, labels
    if isinstance(reference, (list, tuple)):
        return [f"output{i}" for i in range(len(reference))]
    return ["output"]


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session (one line when onnxruntime is not installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise HarnessError("ONNX Runtime is not installed: pip install 'harness[export]'") \
            from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])


def _array(x: Any) -> Any:
    """A tensor as ONNX Runtime takes it: floats as float32, integers (token ids) as they
    are."""
    x = x.detach().cpu()
    return (x.float() if x.is_floating_point() else x).numpy()


class _Runner:
    """Runs an ONNX session on torch tensors, answering as the exported module did."""

    def __init__(self, session: Any, names: Sequence[str], detections: bool) -> None:
        self.session, self.names, self.detections = session, list(names), detections
        self.input = session.get_inputs()[0].name

    def __call__(self, x: Any) -> Any:
        import torch

        if self.detections:  # one image per call: the export's batch is fixed at 1
            images = list(x) if isinstance(x, (list, tuple)) else list(x.unbind(0))
            return [self._one(image.unsqueeze(0)) for image in images]
        outputs = self.session.run(None, {self.input: _array(x)})
        tensors = [torch.from_numpy(o) for o in outputs]
        return tensors[0] if len(tensors) == 1 else tensors

    def _one(self, image: Any) -> dict[str, Any]:
        import torch

        outputs = self.session.run(None, {self.input: _array(image)})
        return {name: torch.from_numpy(value) for name, value in
                zip(self.names, outputs, strict=True)}


class OnnxModule(torch.nn.Module):
    """An exported model behind a ``torch.nn.Module`` face, so a task's own ``evaluate``
    scores the ONNX outputs exactly as it scores PyTorch's."""

    def __init__(self, session: Any, names: Sequence[str], detections: bool) -> None:
        super().__init__()
        self.runner = _Runner(session, names, detections)

    def forward(self, x: Any) -> Any:
        return self.runner(x)


def measure_onnx(model: torch.nn.Module, task: Task, plan: TrialPlan, *, single: bool,
                 folder: Path, budget_s: float) -> InferenceFigures:
    """Export to ``folder`` (the file is removed after) and time ONNX Runtime on the CPU at
    the trial's batch (at batch 1 when the model exports one sample per call)."""
    import torch

    batch = 1 if single else plan.batch_size
    cpu = torch.device("cpu")
    example = as_tensor_input(task.example_input(batch, cpu))
    path = folder / ".speed.onnx"
    try:
        names = export_onnx(model.to(cpu), example, path, single)
        session = onnx_session(path, threads=torch.get_num_threads())
        runner = _Runner(session, names, detections=names[:1] == ["boxes"])
        return measure_inference(torch.nn.Identity(), example, batch, cpu, "fp32",
                                 mode="throughput", min_time_s=budget_s / 2,
                                 max_time_s=budget_s, forward=lambda _, x: runner(x))
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def tensor_pairs(expected: Any, actual: Any) -> list[tuple[Any, Any]]:
    """Matching tensors of two outputs of the same structure (tensors, lists, dicts)."""
    if isinstance(expected, dict):
        return [p for k in expected for p in tensor_pairs(expected[k], actual[k])]
    if isinstance(expected, (list, tuple)):
        return [p for a, b in zip(expected, actual, strict=True) for p in tensor_pairs(a, b)]
    return [(expected, actual)]
