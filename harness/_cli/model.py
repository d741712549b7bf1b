"""``harness model list | export | predict``: the kept models of studies (docs: README, "Take
the winner away")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from harness._cli.options import db_option
from harness._cli.options import disable_option
from harness._cli.options import existing_store
from harness._cli.options import reports_errors
from harness._errors import UsageError
from harness._export.exporting import FORMATS
from harness._export.exporting import export_model
from harness._export.loading import Kept
from harness._export.loading import find_kept
from harness._export.loading import open_kept
from harness._export.loading import study_task
from harness._export.predicting import RUNTIMES
from harness._export.predicting import predict_files
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._store.artifacts import mask_secret
from harness._store.queries import kept_models
from harness._store.results import ResultsStore


@click.group()
def model() -> None:
    """Kept models: the trained weights of each study's best trials ([artifacts] keep)."""


@model.command("list")
@db_option
@click.option("--study", default=None, help="Only this study's models.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@reports_errors
def model_list(db: str | None, study: str | None, as_json: bool) -> None:
    """Every kept model: study, trial, architecture, validation score, where it is."""
    store = existing_store(db)
    try:
        study_id = None
        if study is not None:
            found = store.find_study(study)
            if found is None:
                raise UsageError(f"no study '{study}' in {store.safe_url}")
            study_id = found.id
        with Session(store.engine) as session:
            rows = kept_models(session, study_id)
    finally:
        store.close()
    shown = [_public(row) for row in rows]
    if as_json:
        click.echo(json.dumps(shown, indent=2, default=str))
        return
    if not shown:
        click.echo("no kept model" + (f" in study '{study}'" if study else ""))
    for row in shown:
        score = row["score"]
        value = f"{row['metric']} {score:.4f}" if score is not None else "no score"
        where = row["location"] if row["status"] == "kept" else f"MISSING ({row['reason']})"
        click.echo(f"{row['study']} · trial {row['trial']}: {row['architecture']} · "
                   f"{row['optimizer']}, {value} — {where}")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    metric = row["primary_metric"]
    return {"study": row["study"], "trial": row["trial"], "architecture": row["architecture"],
            "optimizer": row["optimizer"], "metric": metric,
            "score": row["metrics"].get(metric), "status": row["status"],
            "reason": row["reason"], "pinned": row["pinned"],
            "location": mask_secret(row["location"]), "bytes": row["bytes"],
            "sha256": row["checksum"], "created": row["created_at"]}


def _kept(db: str | None, study: str, trial: int | None) -> tuple[Kept, ResultsStore]:
    store = existing_store(db)
    try:
        return open_kept(store, find_kept(store, study, trial)), store
    except BaseException:
        store.close()
        raise


@model.command("export")
@click.argument("study")
@click.argument("trial", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the model and its card into.")
@click.option("--no-verify", is_flag=True,
              help="Skip checking an ONNX export against PyTorch on the study's test split "
                   "(when the study's data is not on this machine).")
@db_option
@disable_option
@reports_errors
def model_export(study: str, trial: int | None, fmt: str, out_dir: Path, no_verify: bool,
                 db: str | None, disabled: tuple[str, ...]) -> None:
    """Export a kept model (default: the study's best) as ONNX (checked against PyTorch on the
    study's test split), TorchScript or safetensors, with its model card."""
    kept, store = _kept(db, study, trial)
    pm = make_plugin_manager(block=disabled)
    registry = load_registry(pm)
    try:
        task = None
        if fmt == "onnx" and not no_verify:
            task = study_task(store, kept, pm)
        exported = export_model(kept, registry, fmt, out_dir, verify=not no_verify, task=task)
    finally:
        store.close()
    for path in exported.files:
        click.echo(str(path))
    if exported.note:
        click.echo(f"note: {kept.card['architecture']} {exported.note}")
    if exported.max_abs_diff is not None:
        metrics = exported.metrics
        shown = ", ".join(f"{k} {metrics['onnx'][k]:.4f} (PyTorch {v:.4f})"
                          for k, v in sorted(metrics["torch"].items()) if k in metrics["onnx"])
        click.echo(f"verified on the test split: largest output difference "
                   f"{exported.max_abs_diff:.2e}; ONNX Runtime's test {shown}")


@model.command("predict", context_settings={"ignore_unknown_options": False})
@click.argument("study")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="CSV file to write.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="torch", show_default=True)
@db_option
@disable_option
@reports_errors
def model_predict(study: str, inputs: tuple[str, ...], out_path: Path, runtime: str,
                  db: str | None, disabled: tuple[str, ...]) -> None:
    """Predict files with a kept model: harness model predict STUDY [TRIAL] INPUT... — images
    (files, or folders with class sub-folders), series CSVs; a CSV of path, prediction, score
    and the task's own columns."""
    trial, files = _trial_and_inputs(inputs)
    kept, store = _kept(db, study, trial)
    store.close()
    registry = load_registry(make_plugin_manager(block=disabled))
    count = predict_files(kept, registry, files, out_path, runtime)
    click.echo(f"{out_path}: {count} input(s) predicted by trial {kept.trial} of '{study}' "
               f"({kept.card['architecture']}, {runtime})")


def _trial_and_inputs(arguments: tuple[str, ...]) -> tuple[int | None, list[str]]:
    """``[TRIAL] INPUT...``: a leading whole number that names no file is the trial."""
    first, *rest = arguments
    if first.isdigit() and not Path(first).exists():
        if not rest:
            raise UsageError("predict: give the files to predict after the trial number")
        return int(first), rest
    return None, list(arguments)
