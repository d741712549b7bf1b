"""``harness model predict``: a kept model on the user's files, prepared exactly as its card
says, predictions into a CSV file (``path, prediction, score`` and the task's own columns)."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness._errors import HarnessError
from harness._export.loading import Kept
from harness._export.loading import build_model
from harness._export.onnx import OnnxModule
from harness._export.onnx import export_onnx
from harness._export.onnx import onnx_session
from harness._files import atomic_write
from harness._files import output_error
from harness._registry import Registry

__all__ = ["BATCH", "predict_files"]

BATCH = 32
RUNTIMES = ("torch", "onnx")


def predict_files(kept: Kept, registry: Registry, inputs: Sequence[str], out: Path,
                  runtime: str = "torch") -> int:
    """Predict every input file; returns how many were read."""
    spec = registry.tasks.get(kept.card["task"]).inference
    if spec is None:
        raise HarnessError(f"task '{kept.card['task']}' says nothing of how its models read "
                           "files: its kept models cannot predict (export them instead)")
    files = spec.files(inputs, kept.card)
    model = build_model(registry, kept.card, kept.folder)
    with tempfile.TemporaryDirectory(prefix="harness-predict-") as scratch:
        run = _runtime(kept, registry, model, runtime, Path(scratch), spec, files)
        rows: list[dict[str, Any]] = []
        for names in _chunks(files, BATCH):
            samples = [spec.load(name, kept.card) for name in names]
            with _no_grad():
                outputs = run(spec.prepare(samples, kept.card))
            rows += spec.describe(names, samples, outputs, kept.card)
    _write_rows(out, rows)
    return len(files)


def _runtime(kept: Kept, registry: Registry, model: Any, runtime: str, scratch: Path,
             spec: Any, files: list[str]) -> Any:
    if runtime not in RUNTIMES:
        raise HarnessError(f"--runtime: unknown runtime '{runtime}' (choose from: "
                           f"{', '.join(RUNTIMES)})")
    if runtime == "torch":
        return model
    arch = registry.resolve_architectures(kept.card["architecture"])[0].spec
    if arch.onnx_export == "none":
        raise HarnessError(f"architecture '{kept.card['architecture']}' does not export to "
                           f"ONNX: {arch.export_note or 'its spec says so'}")
    single = arch.onnx_export == "single"
    example = spec.prepare([spec.load(files[0], kept.card)], kept.card)
    if not single:
        import torch

        example = torch.cat([example, example])
    names = export_onnx(model, example, scratch / "model.onnx", single)
    return OnnxModule(onnx_session(scratch / "model.onnx"), names,
                      detections=names[:1] == ["boxes"])


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _no_grad() -> Any:
    import torch

    return torch.inference_mode()


def _write_rows(out: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(["path", "prediction", "score",
                                  *(key for row in rows for key in row)]))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out, newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise output_error(out, exc) from None
