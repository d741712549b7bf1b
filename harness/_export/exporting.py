"""``harness model export``: a kept model as ONNX, TorchScript or safetensors, with its card.

An ONNX export is checked before it is written: the study's own test split goes through the
PyTorch model and through ONNX Runtime, the largest difference between their outputs is
measured, and the test metric is computed again from ONNX Runtime's outputs by the task's own
``evaluate``. A difference beyond tolerance is an error and writes nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from harness._errors import HarnessError
from harness._export.card import CARD
from harness._export.card import WEIGHTS
from harness._export.loading import Kept
from harness._export.loading import build_model
from harness._export.onnx import OPSET
from harness._export.onnx import OnnxModule
from harness._export.onnx import as_tensor_input
from harness._export.onnx import export_onnx
from harness._export.onnx import onnx_session
from harness._export.onnx import tensor_pairs
from harness._files import atomic_path
from harness._files import output_error
from harness._registry import Registry

__all__ = ["FORMATS", "Exported", "export_model"]

FORMATS = ("onnx", "torchscript", "safetensors")
RTOL, ATOL = 1e-3, 1e-4
"""How far ONNX Runtime's outputs may be from PyTorch's (relative, absolute)."""
METRIC_TOLERANCE = 1e-3


@dataclass
class Exported:
    files: list[Path]
    max_abs_diff: float | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """``{"torch": {...}, "onnx": {...}}``: the test split's metrics from each runtime."""
    note: str = ""


def export_model(kept: Kept, registry: Registry, fmt: str, out: Path, *, verify: bool = True,
                 task: Any = None) -> Exported:
    """Write ``kept`` in ``fmt`` into the folder ``out`` (``task``: the trial's task on the
    study's data, for ONNX verification)."""
    if fmt not in FORMATS:
        raise HarnessError(f"--format: unknown format '{fmt}' (choose from: "
                           f"{', '.join(FORMATS)})")
    spec = registry.resolve_architectures(kept.card["architecture"])[0].spec
    if fmt == "onnx" and spec.onnx_export == "none":
        raise HarnessError(f"architecture '{kept.card['architecture']}' does not export to "
                           f"ONNX: {spec.export_note or 'its spec says so'}")
    model = build_model(registry, kept.card, kept.folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if fmt == "safetensors":
            return Exported([_copy(kept.folder / WEIGHTS, out / WEIGHTS),
                             _write_card(out, kept.card, {"format": "safetensors"})])
        if fmt == "torchscript":
            return _torchscript(kept, model, out, single=spec.onnx_export == "single")
        return _onnx(kept, model, out, single=spec.onnx_export == "single", verify=verify,
                     task=task, note=spec.export_note)
    except OSError as exc:
        raise output_error(out, exc) from None


def _copy(source: Path, target: Path) -> Path:
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
    return target


def _write_card(out: Path, card: dict[str, Any], export: dict[str, Any]) -> Path:
    path = out / CARD
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps({**card, "export": export}, indent=1, sort_keys=True,
                                        default=str))
    return path


def _example(card: dict[str, Any], batch: int) -> Any:
    import torch

    shape = card["model_io"].get("input_shape")
    if shape is None:  # sequence models: seq_len × in_features
        shape = (card["model_io"]["seq_len"], card["model_io"]["in_features"])
    return torch.randn(batch, *shape)


class _OneSample:
    """A model that answers a list of per-sample dicts (a detector), as one sample's tuple of
    tensors: what a trace can return (``boxes, scores, labels``)."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class OneSample(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x: Any) -> Any:
                return tuple(self.model(x)[0].values())

        return OneSample()


def _torchscript(kept: Kept, model: Any, out: Path, single: bool) -> Exported:
    import torch

    path = out / "model.pt"
    with warnings.catch_warnings():
        # PyTorch 2.14 deprecates TorchScript (it still loads wherever libtorch runs), and the
        # tracer's notices about Python values are not the user's concern.
        warnings.simplefilter("ignore")
        try:
            scripted = torch.jit.trace(  # type: ignore[no-untyped-call]
                _OneSample(model) if single else model,
                _example(kept.card, 1 if single else 2), strict=False, check_trace=False)
        except Exception as exc:
            raise HarnessError(f"{kept.card['architecture']} does not trace to TorchScript: "
                               f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") \
                from None
        with atomic_path(path) as temporary:
            torch.jit.save(scripted, str(temporary))
    info = {"format": "torchscript", "batch_axis": not single}
    if single:
        info["outputs"] = ["boxes", "scores", "labels"]
    return Exported([path, _write_card(out, kept.card, info)])


def _onnx(kept: Kept, model: Any, out: Path, *, single: bool, verify: bool, task: Any,
          note: str) -> Exported:
    path = out / "model.onnx"
    batch = 1 if single else 2
    example = _example(kept.card, batch) if task is None else as_tensor_input(
        task.example_input(batch, _cpu()))
    with tempfile.TemporaryDirectory(prefix="harness-export-") as scratch:
        staged = Path(scratch) / "model.onnx"
        names = export_onnx(model, example, staged, single)
        exported = Exported([path], note=note)
        if verify and task is not None:
            _verify(kept, model, task, staged, names, exported)
        _copy(staged, path)
    info = {"format": "onnx", "opset": OPSET, "batch_axis": not single, "outputs": names,
            "verified": exported.max_abs_diff is not None,
            "max_abs_diff": exported.max_abs_diff, "test_metrics": exported.metrics}
    exported.files.append(_write_card(out, kept.card, info))
    return exported


def _cpu() -> Any:
    import torch

    return torch.device("cpu")


class _Recorder:
    """The PyTorch model, remembering every input it was given and what it answered."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, x: Any) -> Any:
        y = self.model(x)
        self.calls.append((x, y))
        return y

    def eval(self) -> _Recorder:
        self.model.eval()
        return self


def _verify(kept: Kept, model: Any, task: Any, path: Path, names: list[str],
            exported: Exported) -> None:
    """The test split through both runtimes: outputs compared, metrics recomputed."""
    import torch

    from harness._run.epochs import evaluate

    recorder = _Recorder(model)
    batch = int(kept.card.get("batch_size") or 32)
    metrics_torch = evaluate(task, recorder, "test", _cpu(), "fp32", batch)  # type: ignore[arg-type]
    session = onnx_session(path, threads=torch.get_num_threads())
    onnx_model = OnnxModule(session, names, detections=names[:1] == ["boxes"])
    worst = 0.0
    with torch.inference_mode():
        for x, y in recorder.calls:
            worst = max(worst, _difference(y, onnx_model(x), kept))
    metrics_onnx = evaluate(task, onnx_model, "test", _cpu(), "fp32", batch)
    exported.max_abs_diff = worst
    exported.metrics = {"torch": metrics_torch, "onnx": metrics_onnx}
    drift = {k: abs(metrics_onnx[k] - v) for k, v in metrics_torch.items() if k in metrics_onnx}
    name, gap = max(drift.items(), key=lambda kv: kv[1]) if drift else ("", 0.0)
    if gap > METRIC_TOLERANCE:
        raise HarnessError(f"the ONNX export of trial {kept.trial} disagrees with PyTorch: test "
                           f"{name} {metrics_torch[name]:.4f} (PyTorch) vs "
                           f"{metrics_onnx[name]:.4f} (ONNX Runtime); nothing was written")


def _difference(expected: Any, actual: Any, kept: Kept) -> float:
    """The largest absolute difference between two outputs; an error when they are not
    within tolerance (or do not even have the same shape)."""
    import torch

    pairs = tensor_pairs(expected, actual)
    worst = 0.0
    for a, b in pairs:
        a, b = a.float().cpu(), b.float().cpu()
        if a.shape != b.shape or not torch.allclose(a, b, rtol=RTOL, atol=ATOL):
            detail = (f"shapes {tuple(a.shape)} and {tuple(b.shape)}" if a.shape != b.shape
                      else f"a difference of {float((a - b).abs().max()):.3g}")
            raise HarnessError(f"the ONNX export of trial {kept.trial} disagrees with PyTorch "
                               f"on the test split ({detail}); nothing was written")
        if a.numel():
            worst = max(worst, float((a - b).abs().max()))
    return worst
