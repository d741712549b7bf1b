"""``harness run``, ``validate`` and ``reproduce``: studies run from task files."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import click

from harness._cli.options import console
from harness._cli.options import db_option
from harness._cli.options import db_url
from harness._cli.options import disable_option
from harness._cli.options import existing_store
from harness._cli.options import reports_errors
from harness._config import default_db_url
from harness._errors import UsageError
from harness._progress import RichObserver
from harness._progress import summary_line
from harness._report import query_leaderboards
from harness._report import render
from harness._run.loop import signal_handler
from harness._run.reproduce import reproduce as run_again
from harness._run.study import execute
from harness._run.study import prepare
from harness._store import ResultsStore


@click.command()
@click.argument("task_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--n-trials", type=int, default=None, help="Total trials the study should hold.")
@click.option("--timeout", "timeout_s", type=float, default=None,
              help="Stop starting trials after this many seconds.")
@db_option
@click.option("--study", default=None, help="Study name [default: from the task file].")
@click.option("--workers", type=int, default=None,
              help="Trials at once, each in its own worker process (0: in this process) "
                   "[default: from the task file].")
@click.option("--retry-failed", is_flag=True,
              help="Re-run the study's failed trials (same hyperparameters) before new ones.")
@click.option("--new-study", is_flag=True,
              help="Start a new study beside an existing one of the same name (needed when "
                   "the task file's search space changed).")
@click.option("--confirm-only", is_flag=True,
              help="Add only the repeats of the best configurations ([budget] repeats, "
                   "confirm_top) to an existing study.")
@click.option("--track", "track", multiple=True, metavar="TRACKER=SETTING",
              help="Also record the study in an experiment tracker, e.g. "
                   "mlflow=http://127.0.0.1:5000 or tensorboard=runs (repeatable; adds to "
                   "the task file's [tracking]).")
@disable_option
@reports_errors
def run(task_file: Path, n_trials: int | None, timeout_s: float | None, db: str | None,
        study: str | None, workers: int | None, retry_failed: bool, new_study: bool,
        confirm_only: bool, track: tuple[str, ...], disabled: tuple[str, ...]) -> None:
    """Run (or continue) the study a task file declares.

    Start the same command on several machines with one --db URL (PostgreSQL) and they share
    the study and its budget. Ctrl-C or SIGTERM ends the trials in flight and prints a summary.
    """

    prepared = prepare(task_file, n_trials=n_trials, timeout_s=timeout_s, db=db_url(db),
                       study=study, workers=workers, disabled=disabled, start_workers=True,
                       tracking=_trackers(track))
    out = console()
    objective = prepared.resolved.objectives[0].name
    out.print(f"harness: study '{prepared.config.study.name}' — task "
                  f"{prepared.resolved.task.name} on {prepared.resolved.dataset.name}, "
                  f"{len(prepared.resolved.architectures)} architecture(s) × "
                  f"{len(prepared.resolved.optimizers)} optimizer(s) × "
                  f"{len(prepared.resolved.schedulers)} scheduler(s), sampler "
                  f"{prepared.config.search.sampler}, pruner {prepared.config.search.pruner}")
    try:
        with _interrupt_on_sigterm(), RichObserver(out, objective) as observer:
            summary = execute(prepared, observer, warn=lambda m: click.echo(f"warning: {m}",
                                                                             err=True),
                              retry_failed=retry_failed, new_study=new_study,
                              confirm_only=confirm_only)
    except KeyboardInterrupt:  # before the study loop began (loading data, opening the study)
        click.echo("interrupted before any trial started", err=True)
        sys.exit(130)
    try:
        out.print(summary_line(summary), markup=False, highlight=False)
        if summary.total_finished >= 0:  # else the database was unavailable as the run stopped
            _print_top(prepared.config.db, summary.study_name)
    except KeyboardInterrupt:  # Ctrl-C again while the summary prints: everything is stored
        sys.exit(130)
    if summary.interrupted:
        sys.exit(130)


def _interrupt_on_sigterm() -> contextlib.AbstractContextManager[None]:
    """Batch schedulers (Slurm, Kubernetes) stop jobs with SIGTERM: end like Ctrl-C."""


    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal_handler(signal.SIGTERM, interrupt)


def _print_top(db: str | None, study: str) -> None:

    store = ResultsStore(db or default_db_url())
    try:
        boards = query_leaderboards(store.engine, study=study, limit=5)
    finally:
        store.close()
    click.echo(render(boards, "table"), nl=False)


@click.command()
@click.argument("task_files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@disable_option
@reports_errors
def validate(task_files: tuple[Path, ...], disabled: tuple[str, ...]) -> None:
    """Check task files against the installed plugins without running anything."""

    for path in task_files:
        resolved = prepare(path, disabled=disabled).resolved
        open_params = sum(p.is_open for params in resolved.space.values() for p in params.values())
        click.echo(f"{path}: ok — task {resolved.task.name}, dataset {resolved.dataset.name}, "
                   f"{len(resolved.architectures)} architecture(s), {len(resolved.optimizers)} "
                   f"optimizer(s), {len(resolved.schedulers)} scheduler(s), objectives "
                   f"{', '.join(o.column for o in resolved.objectives)}, {open_params} plugin "
                   "hyperparameter(s) searched")


@click.command()
@click.argument("study")
@click.argument("trial", type=int)
@db_option
@click.option("--keep", is_flag=True,
              help="Keep the model it trains as the trial's kept model (for export/predict).")
@reports_errors
def reproduce(study: str, trial: int, db: str | None, keep: bool) -> None:
    """Run TRIAL of STUDY again from its stored row and compare: bit-identical, within the
    configuration's seed interval, or outside it (exit 1). --keep keeps the model it trains."""
    store = existing_store(db)
    try:
        found = run_again(store, study, trial, db_url(db) or default_db_url(),
                          warn=lambda m: click.echo(f"warning: {m}", err=True), keep=keep)
    finally:
        store.close()
    if keep:
        click.echo(f"kept: `harness model list --study {study}` shows it")
    for key in sorted(found.stored.keys() | found.new.keys()):
        before, after = found.stored.get(key), found.new.get(key)
        click.echo(f"{key}: stored {_number(before)}, now {_number(after)}")
    interval = (f" (95% interval over its seeds: {found.interval[0]:.4f}–"
                f"{found.interval[1]:.4f})" if found.interval else "")
    click.echo(f"trial {trial} of '{study}': {found.verdict}{interval}")
    if not found.agrees:
        sys.exit(1)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.6g}"



def _trackers(given: tuple[str, ...]) -> dict[str, str]:
    """``--track NAME=SETTING`` options as ``[tracking]`` entries."""
    found = {}
    for item in given:
        name, separator, setting = item.partition("=")
        if not separator or not name.strip() or not setting.strip():
            raise UsageError(f"--track: expected TRACKER=SETTING (e.g. tensorboard=runs), got "
                             f"'{item}'")
        found[name.strip()] = setting.strip()
    return found
