"""``harness leaderboard``, ``report`` and ``compare``: reading stored results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness._cli.options import db_option
from harness._cli.options import existing_store
from harness._cli.options import reports_errors
from harness._errors import HarnessError
from harness._report import query_leaderboards
from harness._report import render
from harness._report.compare import compare_boards
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
        written = write_report(store.engine, out_dir, chosen, db=store.safe_url, task=task,
                               study=study, across_hardware=across_hardware)
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

    stores: list[Any] = []
    studies: list[str | None] = []
    for side in (a, b):
        if "://" in side or side.endswith(".db") or Path(side).is_file():
            stores.append(existing_store(side))
            studies.append(None)
        else:
            stores.append(existing_store(db))
            studies.append(side)
    try:
        deltas = compare_boards(stores[0].engine, stores[1].engine, studies[0], studies[1])
    finally:
        for store in stores:
            store.close()
    if not deltas:
        raise HarnessError(f"nothing to compare: '{a}' and '{b}' share no (hardware, "
                           "architecture, optimizer) with complete trials")
    failed = False
    for d in deltas:
        slower = d.slower_pct
        flags = []
        if fail_if_worse is not None and d.worse_pct > fail_if_worse:
            flags.append("worse, within seed noise (95% intervals overlap)" if d.within_noise
                         else f"WORSE > {fail_if_worse:g}%")
        if fail_if_slower is not None and slower is not None and slower > fail_if_slower:
            flags.append(f"SLOWER > {fail_if_slower:g}%")
        failed = failed or any(f.startswith(("WORSE", "SLOWER")) for f in flags)
        speed = f"{-slower:+.1f}%" if slower is not None else "n/a"
        click.echo(f"{d.study} | {d.hardware} | {d.architecture} · {d.optimizer}: {d.metric} "
                   f"{d.before:.4f} → {d.after:.4f} ({-d.worse_pct:+.1f}% better), inference "
                   f"samples/s {speed}" + (f"  {' '.join(flags)}" if flags else ""))
    if failed:
        sys.exit(1)

