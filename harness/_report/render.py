"""Render leaderboards for a terminal, JSON, CSV or Markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from harness._records import INPUT_BOUND_SHARE
from harness._report.board import PROBE_NOTE
from harness._report.leaderboard import Leaderboard

__all__ = ["FORMATS", "cell", "render", "table_columns"]

FORMATS = ("table", "json", "csv", "md")


def render(boards: Sequence[Leaderboard], fmt: str) -> str:
    """Render ``boards`` in ``fmt`` (one of FORMATS)."""
    if fmt == "json":
        return json.dumps([row for b in boards for row in b.rows], indent=2, default=str)
    if fmt == "csv":
        return _csv(boards)
    if fmt == "md":
        return "\n\n".join(_markdown(b) for b in boards) + "\n"
    if fmt == "table":
        return _terminal(boards)
    raise ValueError(f"unknown format {fmt!r}")


def table_columns(board: Leaderboard, wide: bool = True) -> list[tuple[str, str]]:
    """``(header, row key)`` pairs shown in human-facing tables (``wide``: also ONNX
    Runtime's speed of kept models, which a terminal's 160 columns leave out)."""
    metric = board.primary.removeprefix("val_")
    columns = [("#", "rank"), ("trial", "trial"), ("architecture", "architecture"),
               ("optimizer", "optimizer"), ("scheduler", "scheduler")]
    if board.by_configuration:
        columns.append(("seeds", "seeds"))
    if board.primary.startswith("val_"):
        interval = " (mean ± 95%)" if board.by_configuration else ""
        columns += [(f"val {metric}{interval}", f"val_{metric}"),
                    (f"test {metric}{interval}", f"test_{metric}")]
    columns += [("infer samples/s", "infer_samples_per_s"),
                ("train samples/s", "train_samples_per_s"),
                ("batch-1 ms p50", "latency_b1_ms_p50")]
    if wide and any(row.get("infer_onnx_samples_per_s") is not None for row in board.rows):
        columns += [("ONNX samples/s", "infer_onnx_samples_per_s"),
                    ("ONNX ms p50", "infer_onnx_ms_p50")]
    columns += [("params (M)", "param_count"), ("data wait", "data_wait_share")]
    if any(row.get("feasible") is not None for row in board.rows):
        columns.append(("constraints", "feasible"))
    return columns


def cell(row: dict[str, Any], key: str) -> str:
    """One table cell: a tied rank marked ``=``, a mean with its 95% half-width."""
    value = row.get(key)
    if key == "feasible" and value is not None:
        return "✓ met" if value else f"✗ {row.get('broken') or 'breaks a limit'}"
    if key == "rank" and row.get("tied"):
        return f"{value}="
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    if isinstance(value, float) and low is not None and high is not None:
        return f"{value:.4f} ± {(high - low) / 2:.4f}"
    return format_value(key, value)


def format_value(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "param_count":
        return f"{value / 1e6:.3g}"
    if key == "data_wait_share":
        return f"{100 * value:.0f}%{' ⚠' if value > INPUT_BOUND_SHARE else ''}"
    if isinstance(value, float):
        if key.endswith("_per_s"):
            return f"{value:.1f}"
        return f"{value:.3g}" if key.endswith(("ms_p50", "ms_p99")) else f"{value:.4f}"
    return str(value)


def _title(board: Leaderboard) -> str:
    arrow = "↑" if board.direction == "maximize" else "↓"
    unit = "configuration" if board.by_configuration else "run"
    return (f"{board.study}: {board.task} on {board.dataset}, best {unit} per architecture × "
            f"optimizer, ranked by {board.primary} {arrow}")


def _caption(board: Leaderboard) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(board.counts.items()))
    caption = f"{board.hardware} — trials: {counts or 'none'}"
    if board.ruleset:
        caption += f" — ruleset: {board.ruleset}"
    if board.by_configuration:
        caption += (" — rows are configurations: mean over seeds, 95% t-interval; ranks "
                    "marked = are tied (Welch's t-test, Holm-corrected, 5%)")
    if any(row.get("feasible") is False for row in board.rows):
        caption += (" — ✗ breaks a [constraints] limit: ranked after every row that meets "
                    "them")
    if board.references:
        caption += f" — {PROBE_NOTE}"
    if any(row.get("input_bound") for row in board.rows):
        caption += (f" — ⚠ input-bound: waited for data over {INPUT_BOUND_SHARE:.0%} of its "
                    "training time, so its speed reflects the data path")
    return caption


def _terminal(boards: Sequence[Leaderboard]) -> str:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=io.StringIO(), record=True, width=160, force_terminal=False)
    for board in boards:
        table = Table(title=_title(board), title_justify="left", caption=_caption(board),
                      caption_justify="left")
        columns = table_columns(board, wide=False)
        for header, key in columns:
            table.add_column(header, justify="right" if key not in (
                "architecture", "optimizer", "scheduler") else "left")
        for row in board.rows:
            table.add_row(*(cell(row, key) for _, key in columns))
        for row in board.references:
            table.add_row(*(cell(row, key) for _, key in columns), style="dim")
        if not board.rows:
            table.caption = f"{_caption(board)} — no complete trial yet"
        console.print(table)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def _markdown(board: Leaderboard) -> str:
    columns = table_columns(board)
    lines = [f"### {_escape_md(_title(board))}", "", f"_{_escape_md(_caption(board))}_", "",
             "| " + " | ".join(h for h, _ in columns) + " |",
             "|" + "|".join("---:" if k not in ("architecture", "optimizer", "scheduler")
                            else "---" for _, k in columns) + "|"]
    for row in (*board.rows, *board.references):
        lines.append("| " + " | ".join(_escape_md(cell(row, k)) for _, k in columns) + " |")
    if not board.rows:
        lines.append("")
        lines.append("_No complete trial yet._")
    return "\n".join(lines)


def _escape_md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _csv(boards: Sequence[Leaderboard]) -> str:
    rows = [row for b in boards for row in b.rows]
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
                         for k, v in row.items()})
    return out.getvalue()
