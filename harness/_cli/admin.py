"""``harness weights``, ``cache`` and ``db``: pretrained weights, dataset caches, the schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness._cli.options import db_option
from harness._cli.options import db_url
from harness._cli.options import reports_errors
from harness._config import default_db_url
from harness._fetch import fetch_weights
from harness._run.dataset import open_cache
from harness._store import ResultsStore


@click.group()
def weights() -> None:
    """Pretrained weights for machines without network access (see docs/fine-tuning.md)."""


@weights.command("fetch")
@click.argument("models", nargs=-1, required=True)
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("weights"), show_default=True,
              help="Folder to fill (Hugging Face cache layout).")
@reports_errors
def weights_fetch(models: tuple[str, ...], folder: Path) -> None:
    """Download timm MODELS' published weights into a folder a task file can point at
    (pretrained = "weights")."""

    for path in fetch_weights(list(models), folder):
        click.echo(str(path))


@click.group()
def cache() -> None:
    """Dataset caches: the decoded data every trial reads (see docs/data.md)."""


@cache.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@reports_errors
def cache_list(db: str | None, as_json: bool) -> None:
    """Every cache entry: dataset, kind, samples per split, size, age."""

    store = open_cache(db_url(db) or default_db_url())
    rows = [entry.summary() for entry in store.entries()]
    if as_json:
        click.echo(json.dumps({"root": str(store.root), "entries": rows}, indent=2))
        return
    shared = f" (shared: {store.remote.safe_url})" if store.remote else ""
    click.echo(f"dataset cache {store.root}{shared}: {len(rows)} entr"
               f"{'y' if len(rows) == 1 else 'ies'}")
    for row in rows:
        if row.get("damaged"):
            click.echo(f"  {row['entry']}  DAMAGED (rebuilt on next use; or clear it)")
            continue
        counts = ", ".join(f"{k} {v}" for k, v in row["samples"].items())
        click.echo(f"  {row['entry']}  {row['dataset']} ({row['kind']}): {counts}; "
                   f"{row['megabytes']:,.1f} MB; built {row['age']}")


@cache.command("clear")
@click.argument("dataset", required=False)
@db_option
@reports_errors
def cache_clear(dataset: str | None, db: str | None) -> None:
    """Remove every entry, or the entries of DATASET (each under its build lock)."""

    store = open_cache(db_url(db) or default_db_url())
    removed, in_use = store.clear(dataset)
    what = f"of dataset '{dataset}' " if dataset else ""
    click.echo(f"removed {len(removed)} cache entr{'y' if len(removed) == 1 else 'ies'} "
               f"{what}from {store.root}")
    for path in in_use:
        click.echo(f"kept {path.name}: a running study reads it (clear it when the study "
                   "ends)")


@click.group()
def db() -> None:
    """Results database maintenance."""


@db.command("upgrade")
@db_option
@reports_errors
def db_upgrade(db: str | None) -> None:
    """Bring the results database schema up to date (Alembic migrations)."""

    store = ResultsStore(db_url(db) or default_db_url(), upgrade=True)
    click.echo(f"{store.safe_url}: schema at {store.schema_revision()}")
    store.close()

