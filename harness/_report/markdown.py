"""The Markdown report: the leaderboards as tables, plots as static PNG files beside it (they
render offline, in any Markdown viewer)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from harness._files import atomic_path
from harness._files import name_slug
from harness._report.data import StudyReport
from harness._report.figures import running_best
from harness._report.profiles import markdown_lines
from harness._report.profiles import profiles_of
from harness._report.render import _escape_md
from harness._report.render import _markdown as board_markdown
from harness._report.render import format_value
from harness._report.winner import markdown_section

__all__ = ["render_markdown"]


def render_markdown(reports: Sequence[StudyReport], out: Path, *, db: str) -> str:
    lines = ["# harness report", "", f"Database: `{_escape_md(db)}`", ""]
    for report in reports:
        lines += _study(report, out)
    profiles = profiles_of(reports)
    if profiles:
        lines += markdown_lines(profiles)
    return "\n".join(lines) + "\n"


def _study(report: StudyReport, out: Path) -> list[str]:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())) or "no trials"
    lines = [f"## {_escape_md(report.study)}", "",
             f"Task **{_escape_md(report.task)}** on **{_escape_md(report.dataset)}**, ranked "
             f"by **{_escape_md(report.primary)}**; trials: {counts}.", ""]
    for board in report.boards:
        lines += [board_markdown(board), ""]
    for name, path in _plots(report, out).items():
        lines += [f"![{name}]({path.name})", ""]
    if report.winner is not None:
        lines += markdown_section(report.winner, partial(_write_png, out, report.study),
                                  _escape_md)
    for key in ("architecture", "optimizer"):
        lines += [f"### Best per {key}", "", f"| {key} | trial | {report.primary} | "
                  "infer samples/s |", "|---|---:|---:|---:|"]
        for row in report.best_by(key):
            lines.append(f"| {_escape_md(str(row[key]))} | {row['trial']} | "
                         f"{format_value(report.primary, row[report.primary])} | "
                         f"{format_value('infer_samples_per_s', row['infer_samples_per_s'])} |")
        lines.append("")
    if report.failures:
        lines += ["### Failed and pruned trials", "", "| trial | architecture | status | reason |",
                  "|---:|---|---|---|"]
        for f in report.failures:
            reason = _escape_md(str(f["fail_reason"] or "pruned by the search"))
            lines.append(f"| {f['number']} | {_escape_md(f['architecture'])} | {f['status']} | "
                         f"{reason} |")
        lines.append("")
    lines += ["### Environment", ""]
    for env in report.environment:
        software = env.get("software") or {}
        lines.append(f"- {_escape_md(env['hardware'])}: {env['trials']} trials, torch "
                     f"{software.get('torch')}, harness {software.get('harness')}")
    return lines + [""]


def _write_png(out: Path, study: str, suffix: str, data: bytes) -> str:
    path = out / f"{name_slug(study)}-{suffix}.png"
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path.name


def _plots(report: StudyReport, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slug = name_slug(report.study)
    paths: dict[str, Path] = {}
    if report.points:
        fig, ax = plt.subplots(figsize=(7, 4))
        for arch in sorted({p["architecture"] for p in report.points}):
            group = [p for p in report.points if p["architecture"] == arch]
            ax.scatter([p["infer_samples_per_s"] for p in group], [p["score"] for p in group],
                       label=arch, alpha=0.7)
        front = sorted((p for p in report.points if p["pareto"]),
                       key=lambda p: p["infer_samples_per_s"])
        ax.plot([p["infer_samples_per_s"] for p in front], [p["score"] for p in front], "k*--",
                markersize=12, label="Pareto front")
        ax.set(xscale="log", xlabel="inference samples/s", ylabel=report.primary,
               title=f"{report.primary} vs throughput")
        ax.legend(fontsize=8)
        paths[f"validation {report.metric} vs throughput"] = _save(fig, out / f"{slug}-pareto.png")
    done = [row for row in report.history if row[1] is not None]
    if done:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
        shown = done[::max(1, len(done) // 1000)]  # a static image needs no more points
        best = running_best([float(row[1] or 0.0) for row in done],
                            report.direction == "maximize")
        for ax, at, label in ((axes[0], 0, "trial"),
                              (axes[1], 3, "compute seconds (sum of trial durations)")):
            ax.scatter([row[at] for row in shown], [row[1] for row in shown], s=12)
            ax.step([row[at] for row in done], best, where="post", color="k", linewidth=1)
            ax.set(xlabel=label, title="optimisation history")
        axes[0].set_ylabel(report.primary)
        paths["optimisation history"] = _save(fig, out / f"{slug}-history.png")
    return paths


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.tight_layout()  # type: ignore[attr-defined]
        with atomic_path(path) as temporary:
            fig.savefig(temporary, dpi=90, format="png")  # type: ignore[attr-defined]
    finally:
        plt.close(fig)  # type: ignore[arg-type]
    return path
