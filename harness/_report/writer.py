"""``harness report``: gather once, write every requested format into one folder."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from harness._files import atomic_write
from harness._files import output_error
from harness._report.data import gather
from harness._report.profiles import profiles_of
from harness._report.render import render
from harness._store.queries import trial_rows

__all__ = ["REPORT_FORMATS", "write_report"]

REPORT_FORMATS = ("md", "html", "csv", "json")
TRIAL_COLUMNS = ("number", "status", "architecture", "optimizer", "scheduler", "batch_size",
                 "hardware", "precision", "param_count", "train_samples_per_s",
                 "infer_samples_per_s", "latency_b1_ms_p50", "duration_s", "data_wait_s",
                 "data_wait_share", "fail_reason")


def write_report(engine: Engine, out: Path, formats: Sequence[str], *, db: str,
                 task: str | None = None, study: str | None = None,
                 across_hardware: bool = False,
                 winners: Callable[[str], Any] | None = None) -> list[Path]:
    """Write the report's files into ``out``, each whole or not at all; a folder that cannot
    be written (read-only, full) is one line naming it. ``winners(study)``: what a study's
    best kept model does, for the HTML and Markdown sections on it."""
    try:
        return _write_all(engine, out, formats, db=db, task=task, study=study,
                          across_hardware=across_hardware, winners=winners)
    except OSError as exc:
        raise output_error(Path(exc.filename) if exc.filename else out, exc) from None


def _write_all(engine: Engine, out: Path, formats: Sequence[str], *, db: str,
               task: str | None, study: str | None, across_hardware: bool,
               winners: Callable[[str], Any] | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    reports = gather(engine, task=task, study=study, across_hardware=across_hardware)
    if winners is not None and ("html" in formats or "md" in formats):
        for report in reports:
            report.winner = winners(report.study)
    boards = [b for r in reports for b in r.boards]
    written = []
    if "html" in formats:
        from harness._report.html import render_html

        written.append(_write(out / "report.html", render_html(reports, db=db)))
    if "md" in formats:
        from harness._report.markdown import render_markdown

        written.append(_write(out / "report.md", render_markdown(reports, out, db=db)))
        written += sorted(out.glob("*.png"))
    if "csv" in formats:
        written.append(_write(out / "leaderboard.csv", render(boards, "csv")))
        written.append(_trials_csv(engine, out / "trials.csv", task, study))
    if "json" in formats:
        written.append(_write(out / "leaderboard.json", json.dumps(
            [{"study": r.study, "task": r.task, "dataset": r.dataset, "primary": r.primary,
              "direction": r.direction, "counts": r.counts,
              "leaderboards": [{"hardware": b.hardware, "ruleset": b.ruleset,
                                "rows": list(b.rows)}
                               for b in r.boards]} for r in reports], indent=2, default=str)))
        profiles = [p.to_dict() for p in profiles_of(reports)]
        if profiles:
            written.append(_write(out / "profiles.json", json.dumps(profiles, indent=2)))
    return written


def _write(path: Path, text: str) -> Path:
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write(text)
    return path


def _trials_csv(engine: Engine, path: Path, task: str | None, study: str | None) -> Path:
    """Every trial, streamed from SQL (no object per row), for analysis elsewhere."""
    with engine.connect() as conn, atomic_write(path, newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("study", *TRIAL_COLUMNS))
        cursor = trial_rows(conn, TRIAL_COLUMNS, task, study)
        while chunk := cursor.fetchmany(5000):
            writer.writerows(chunk)
    return path
