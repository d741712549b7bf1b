"""``harness leaderboard``, ``report`` and ``compare``: reading stored results."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import click

from harness._cli.options import db_option
from harness._cli.options import existing_store
from harness._cli.options import reports_errors
from harness._errors import HarnessError
from harness._export.showcase import showcase_winner
from harness._plugins import make_plugin_manager
from harness._report import query_leaderboards
from harness._report import render
from harness._report.compare import compare_sources
from harness._report.compare import judge
from harness._report.writer import REPORT_FORMATS
from harness._report.writer import write_report


@click.command()
@db_option
@click.option("--task", default=None, help="Only studies of this task.")
@click.option("--study", default=None, help="Only this study.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]),
              default="table", show_default=True)
@click.option("--across-hardware", is_flag=True,
              help="Rank rows from different hardware classes together.")
@click.option("--limit", type=int, default=None, help="At most this many rows per table.")
@reports_errors
def leaderboard(db: str | None, task: str | None, study: str | None, fmt: str,
                across_hardware: bool, limit: int | None) -> None:
    """Best trial per (architecture, optimizer), ranked by the study's primary metric."""

    store = existing_store(db)
    try:
        boards = query_leaderboards(store.engine, task=task, study=study,
                                    across_hardware=across_hardware, limit=limit)
    finally:
        store.close()
    if not boards and fmt == "table":
        raise HarnessError(f"no study{_filters(task, study)} in {store.safe_url}")
    click.echo(render(boards, fmt), nl=fmt != "table")


def _filters(task: str | None, study: str | None) -> str:
    parts = [f"task '{task}'" if task else "", f"named '{study}'" if study else ""]
    joined = " and ".join(p for p in parts if p)
    return f" of {joined}" if joined else ""


@click.command()
@db_option
@click.option("--task", default=None, help="Only studies of this task.")
@click.option("--study", default=None, help="Only this study.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/report"), show_default=True)
@click.option("--format", "formats", default="md,html,csv,json", show_default=True,
              help="Comma-separated: md, html, csv, json.")
@click.option("--across-hardware", is_flag=True,
              help="Rank rows from different hardware classes together.")
@reports_errors
def report(db: str | None, task: str | None, study: str | None, out_dir: Path, formats: str,
           across_hardware: bool) -> None:
    """Write leaderboard reports: Markdown, self-contained HTML with plots, CSV, JSON."""

    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in REPORT_FORMATS]
    if unknown or not chosen:
        raise HarnessError(f"--format: unknown format '{unknown[0] if unknown else ''}' "
                           f"(choose from: {', '.join(REPORT_FORMATS)})")
    store = existing_store(db)
    try:
        pm = make_plugin_manager()
        written = write_report(store.engine, out_dir, chosen, db=store.safe_url, task=task,
                               study=study, across_hardware=across_hardware,
                               winners=partial(showcase_winner, store, pm=pm))
    finally:
        store.close()
    for path in written:
        click.echo(str(path))


@click.command()
@click.argument("a")
@click.argument("b")
@db_option
@click.option("--fail-if-slower", type=float, default=None, metavar="PCT",
              help="Exit 1 if B's inference throughput is more than PCT% below A's anywhere.")
@click.option("--fail-if-worse", type=float, default=None, metavar="PCT",
              help="Exit 1 if B's primary metric is more than PCT% worse than A's anywhere "
                   "(where both sides have seed intervals, only if they do not overlap).")
@reports_errors
def compare(a: str, b: str, db: str | None, fail_if_slower: float | None,
            fail_if_worse: float | None) -> None:
    """Compare two studies (names in --db) or two databases (paths or URLs)."""
    judged = judge(compare_sources(a, b, existing_store, db), fail_if_worse, fail_if_slower)
    for item in judged:
        click.echo(item.line())
    if any(item.fails for item in judged):
        sys.exit(1)
