"""Plotly figure specifications for the HTML report, as plain dicts: building validated
``plotly.graph_objects`` costs a third of a second per report at 100,000 trials."""

from __future__ import annotations

from typing import Any

from harness._report.data import StudyReport

__all__ = ["figures"]


class _Go:
    """The few trace constructors used below, producing plain plotly.js dicts."""

    @staticmethod
    def Scatter(**kw: Any) -> dict[str, Any]:  # noqa: N802 - mirrors plotly's name
        return {"type": "scatter", **kw}

    @staticmethod
    def Bar(**kw: Any) -> dict[str, Any]:  # noqa: N802
        return {"type": "bar", **kw}

    @staticmethod
    def Figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"data": data, "layout": layout}


def figures(report: StudyReport) -> dict[str, Any]:
    """Figure specs (``{"data": [...], "layout": {...}}``) by section; empty ones left out."""
    go = _Go
    out: dict[str, Any] = {}
    metric = report.primary
    if report.points:
        out["pareto"] = _pareto(go, report)
        with_lr = [p for p in report.points if isinstance(p.get("lr"), (int, float))]
        if with_lr:
            out["lr"] = go.Figure(
                [go.Scatter(x=[p["lr"] for p in group], y=[p["score"] for p in group],
                            mode="markers", name=arch)
                 for arch, group in _by(with_lr, "architecture").items()],
                layout=_layout(f"Learning-rate sensitivity: {metric}", "learning rate", metric,
                               xlog=True))
    if report.history:
        out["history"] = _history(go, report, by_compute=False)
        out["history_compute"] = _history(go, report, by_compute=True)
    if report.importance:
        names = list(report.importance)[::-1]
        out["importance"] = go.Figure(
            [go.Bar(x=[report.importance[n] for n in names], y=names, orientation="h")],
            layout=_layout(f"Hyperparameter importance for {metric} (random forest)",
                           "importance", ""))
    if any(report.curves.values()):
        out["curves"] = go.Figure(
            [go.Scatter(x=[e for e, _ in values], y=[v for _, v in values], mode="lines+markers",
                        name=f"trial {number}") for number, values in report.curves.items()],
            layout=_layout(f"Validation {report.metric} per epoch, top trials", "epoch",
                           report.metric))
    return out


def _by(points: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        groups.setdefault(str(point[key]), []).append(point)
    return groups


def _layout(title: str, x: str, y: str, xlog: bool = False) -> dict[str, Any]:
    return {"title": {"text": title}, "xaxis": {"title": {"text": x},
                                                "type": "log" if xlog else "linear"},
            "yaxis": {"title": {"text": y}}, "template": "plotly_white", "height": 420,
            "margin": {"l": 60, "r": 20, "t": 60, "b": 50}}


def _pareto(go: Any, report: StudyReport) -> Any:
    traces = []
    for arch, group in _by(report.points, "architecture").items():
        traces.append(go.Scatter(
            x=[p["infer_samples_per_s"] for p in group], y=[p["score"] for p in group],
            mode="markers", name=arch, text=[f"trial {p['trial']} · {p['optimizer']}"
                                             for p in group],
            marker={"size": 8, "opacity": 0.7}))
    front = sorted((p for p in report.points if p["pareto"]),
                   key=lambda p: p["infer_samples_per_s"])
    traces.append(go.Scatter(
        x=[p["infer_samples_per_s"] for p in front], y=[p["score"] for p in front],
        mode="lines+markers", name="Pareto front",
        marker={"size": 13, "symbol": "star", "color": "black"},
        line={"dash": "dot", "color": "black"}))
    return go.Figure(traces, layout=_layout(
        f"{report.primary} vs inference throughput (Pareto front starred)",
        "inference samples/s (log)", report.primary, xlog=True))


def _history(go: Any, report: StudyReport, by_compute: bool) -> Any:
    """Best-so-far against the trial number, or against the compute seconds spent (what a
    budget is paid in: a pruned trial costs less than a complete one)."""
    at = 3 if by_compute else 0
    done = [(row[at], row[1]) for row in report.history if row[1] is not None]
    best_so_far = running_best([v for _, v in done], report.direction == "maximize")
    other = [row[at] for row in report.history if row[1] is None]
    traces = [go.Scatter(x=[x for x, _ in done], y=[v for _, v in done], mode="markers",
                         name="complete"),
              go.Scatter(x=[x for x, _ in done], y=best_so_far, mode="lines",
                         name="best so far", line_shape="hv")]
    if other:
        traces.append(go.Scatter(x=other, y=[None] * len(other),
                                 mode="markers", name="pruned / failed", visible="legendonly"))
    axis = "compute seconds (sum of trial durations)" if by_compute else "trial"
    return go.Figure(traces, layout=_layout(f"Optimisation history: {report.primary}",
                                            axis, report.primary))


def running_best(values: list[float], maximize: bool) -> list[float]:
    best: list[float] = []
    for value in values:
        better = not best or (value > best[-1] if maximize else value < best[-1])
        best.append(value if better else best[-1])
    return best
