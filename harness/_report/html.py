"""The self-contained HTML report: plotly.js embedded once (reports are opened offline), every
string from a plugin, task file or dataset escaped, tables sortable by clicking a header."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from harness._records import INPUT_BOUND_SHARE
from harness._report.board import PROBE_NOTE
from harness._report.data import StudyReport
from harness._report.figures import figures
from harness._report.render import cell
from harness._report.render import table_columns
from harness._report.winner import html_section

__all__ = ["render_html"]

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}
th{background:#f3f3f3;cursor:pointer;user-select:none}
td.t,th.t{text-align:left} .figure{margin:1rem 0} .muted{color:#666}
section{border-top:2px solid #eee;margin-top:2rem}
"""
SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].textContent, y = b.cells[index].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var cmp = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? cmp : -cmp;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
var rendered = 0;
document.querySelectorAll('div.figure').forEach(function (div) {
  var spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
  Plotly.newPlot(div, spec.data, spec.layout, {displaylogo: false, responsive: true});
  rendered += 1;
});
document.body.dataset.rendered = String(rendered);
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _json_for_script(value: Any) -> str:
    """JSON safe inside <script>: no '</script>' or '<!--' can close or confuse the tag."""
    text = json.dumps(value, default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(reports: Sequence[StudyReport], *, db: str, title: str = "harness report") -> str:
    from plotly.offline import get_plotlyjs

    body = [f"<h1>{esc(title)}</h1>", f"<p class='muted'>database: {esc(db)}</p>"]
    if not reports:
        body.append("<p>No study matches.</p>")
    specs: list[str] = []
    for i, report in enumerate(reports):
        body.append(_study(report, i, specs))
    body.append(_across(reports, specs))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>"
            + "\n".join(body) + "\n".join(specs) + f"<script>{SCRIPT}</script></body></html>")


def _study(report: StudyReport, index: int, specs: list[str]) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())) or "no trials"
    arrow = "↑" if report.direction == "maximize" else "↓"
    parts = [f"<section><h2>{esc(report.study)}</h2>",
             f"<p>task <b>{esc(report.task)}</b> on <b>{esc(report.dataset)}</b>; ranked by "
             f"<b>{esc(report.primary)}</b> {arrow}; trials: {esc(counts)}</p>"]
    for board in report.boards:
        parts.append(f"<h3>Leaderboard — {esc(board.hardware)}</h3>")
        parts.append(_table((*board.rows, *board.references), table_columns(board)))
        if board.references:
            parts.append(f"<p class='muted'>{esc(PROBE_NOTE)}.</p>")
        if board.ruleset:
            parts.append(f"<p class='muted'>ruleset: {esc(board.ruleset)}</p>")
        if board.by_configuration:
            parts.append("<p class='muted'>rows are configurations: mean over seeds ± the "
                         "95% t-interval's half-width; ranks marked = are tied (Welch's t-test, "
                         "Holm-corrected, 5%).</p>")
        if any(row.get("input_bound") for row in board.rows):
            parts.append(f"<p class='muted'>⚠ input-bound: the trial waited for data over "
                         f"{INPUT_BOUND_SHARE:.0%} of its training time, so its speed reflects "
                         "the data path more than the model.</p>")
    figs = figures(report)
    # Headings name the study's own objective (accuracy, mAP, MASE, …), never a fixed one.
    titles = {"pareto": f"Validation {report.metric} vs throughput",
              "history": "Optimisation history",
              "history_compute": "Optimisation history against compute seconds",
              "importance": "Hyperparameter importance", "lr": "Learning-rate sensitivity",
              "curves": "Validation curves of the top trials"}
    for key in ("pareto",):
        parts += _figure(figs, key, titles[key], index, specs)
    metric_cols = [("#", "rank"), ("trial", "trial"), ("architecture", "architecture"),
                   ("optimizer", "optimizer"), (report.primary, report.primary),
                   ("infer samples/s", "infer_samples_per_s")]
    for key, label in (("architecture", "architecture"), ("optimizer", "optimizer")):
        rows = [{**r, "rank": i + 1} for i, r in enumerate(report.best_by(key))]
        parts.append(f"<h3>Best per {label}</h3>" + _table(rows, metric_cols))
    for key in ("history", "history_compute", "importance", "lr", "curves"):
        parts += _figure(figs, key, titles[key], index, specs)
    if report.winner is not None:
        parts.append(html_section(report.winner))
    parts.append(_failures(report))
    parts.append(_environment(report))
    return "\n".join(parts) + "</section>"


def _across(reports: Sequence[StudyReport], specs: list[str]) -> str:
    """Mean ranks and performance profiles over the studies (two or more)."""
    from harness._report.profiles import figure
    from harness._report.profiles import profiles_of

    parts = []
    for profile in profiles_of(reports):
        dimension = profile.dimension
        rows = [{"group": g, "mean_rank": s.mean, "studies": s.n,
                 "interval": "–" if s.low is None or s.high is None
                 else f"{s.low:.2f}–{s.high:.2f}"}
                for g, s in sorted(profile.mean_rank.items(), key=lambda kv: kv[1].mean)]
        parts.append(f"<h3>Per {dimension}, over {len(profile.studies)} studies</h3>")
        parts.append(_table(rows, [(dimension, "group"), ("mean rank", "mean_rank"),
                                   ("95% interval", "interval"), ("studies", "studies")]))
        parts += _figure({"profile": figure(profile)}, "profile",
                         f"Performance profile per {dimension}", 900 + len(parts), specs)
    if not parts:
        return ""
    return ("<section><h2>Across studies</h2><p class='muted'>ranks: each study's best "
            "configuration per group, tied groups sharing the mean of their positions; "
            "profiles: the share of studies where a group is within a factor τ of the "
            "best.</p>" + "\n".join(parts) + "</section>")


def _figure(figs: dict[str, Any], key: str, title: str, index: int,
            specs: list[str]) -> list[str]:
    if key not in figs:
        return []
    spec_id = f"spec-{index}-{key}"
    specs.append(f"<script type='application/json' id='{spec_id}'>"
                 f"{_json_for_script(figs[key])}</script>")
    return [f"<h3>{esc(title)}</h3>", f"<div class='figure' id='fig-{index}-{key}' "
                                      f"data-spec='{spec_id}'></div>"]


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    text_keys = {"architecture", "optimizer", "scheduler", "status", "reason", "hardware"}
    head = "".join(f"<th class='{'t' if k in text_keys else ''}'>{esc(h)}</th>"
                   for h, k in columns)
    body = "".join("<tr>" + "".join(
        f"<td class='{'t' if k in text_keys else ''}'>{esc(cell(row, k))}</td>"
        for _, k in columns) + "</tr>" for row in rows)
    return f"<table class='sortable'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _failures(report: StudyReport) -> str:
    if not report.failures:
        return "<h3>Failed and pruned trials</h3><p>None.</p>"
    rows = [{**f, "trial": f["number"], "reason": f["fail_reason"] or "pruned by the search"}
            for f in report.failures]
    columns = [("trial", "trial"), ("architecture", "architecture"),
               ("optimizer", "optimizer"), ("status", "status"), ("reason", "reason")]
    return "<h3>Failed and pruned trials</h3>" + _table(rows, columns)


def _environment(report: StudyReport) -> str:
    items = []
    for env in report.environment:
        software = env.get("software") or {}
        shown = ", ".join(f"{k} {v}" for k, v in software.items()
                          if k in ("harness", "torch", "timm", "optuna", "cuda", "python") and v)
        plugins = ", ".join(f"{k}: {v}" for k, v in (software.get("plugins") or {}).items())
        items.append(f"<li><b>{esc(env['hardware'])}</b> — {esc(env['trials'])} trials; "
                     f"{esc(shown)}; host {esc(software.get('host', '?'))}; git "
                     f"{esc(software.get('git_commit') or '-')}<br><span class='muted'>plugins: "
                     f"{esc(plugins)}</span></li>")
    return "<h3>Environment and hardware</h3><ul>" + "".join(items) + "</ul>"
