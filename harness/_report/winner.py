"""The report's section on a study's best kept model, from its predictions on the validation
split (:mod:`harness._export.showcase` gathers them): a confusion matrix and the most confident
mistakes as thumbnails, detections drawn on images with per-class AP, forecasts against the
actual series. Figures are PNGs: inline (base64) in the HTML report, files beside the Markdown
one. Every name is escaped."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

__all__ = ["figures_of", "html_section", "markdown_section"]

THUMB = 96


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _png(draw: Callable[[Any], None], size: tuple[float, float] = (4.0, 3.0)) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=size, dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _confusion(items: dict[str, Any]) -> bytes:
    classes, matrix = items["classes"], items["confusion"]
    side = max(3.0, 0.45 * len(classes) + 1.5)

    def draw(axes: Any) -> None:
        axes.imshow(matrix, cmap="Blues")
        axes.set_xticks(range(len(classes)), [str(c)[:12] for c in classes], rotation=60,
                        fontsize=7)
        axes.set_yticks(range(len(classes)), [str(c)[:12] for c in classes], fontsize=7)
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    axes.text(j, i, str(count), ha="center", va="center", fontsize=6)

    return _png(draw, (side, side))


def _image(array: Any, boxes: Sequence[tuple[list[Any], str]] = ()) -> bytes:
    """An H×W×C uint8 image, scaled up to at least THUMB pixels, with boxes drawn."""
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    data = np.asarray(array)
    image = Image.fromarray(data[:, :, 0] if data.shape[-1] == 1 else data)
    scale = max(1, THUMB // max(image.size))
    image = image.convert("RGB").resize((image.width * scale, image.height * scale),
                                        Image.Resampling.NEAREST)
    pen = ImageDraw.Draw(image)
    for box, colour in boxes:
        pen.rectangle([v * scale for v in box[:4]], outline=colour, width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _forecast(item: dict[str, Any]) -> bytes:
    history, actual, forecast = item["history"], item["actual"], item["forecast"]

    def draw(axes: Any) -> None:
        start = len(history)
        axes.plot(range(start), history, color="#555", label="history")
        axes.plot(range(start, start + len(actual)), actual, color="#2a7", label="actual")
        axes.plot(range(start, start + len(forecast)), forecast, color="#c33", ls="--",
                  label="forecast")
        axes.set_title(f"{item['target']} from step {item['origin']}", fontsize=8)
        axes.legend(fontsize=7)

    return _png(draw)


def figures_of(items: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(caption, PNG) for everything a showcase holds."""
    shown: list[tuple[str, bytes]] = []
    if "confusion" in items:
        shown.append(("confusion matrix on the validation split", _confusion(items)))
    for m in items.get("mistakes", []):
        if m.get("image") is not None:
            shown.append((f"true {m['true']}, predicted {m['predicted']} "
                          f"({m['score']:.2f})", _image(m["image"])))
    for g in items.get("gallery", []):
        boxes = [(b, "#2a7") for b in g["true"]] + [(b, "#d33") for b in g["predicted"]]
        found = ", ".join(f"{b[4]} {b[5]:.2f}" for b in g["predicted"]) or "nothing"
        shown.append((f"green: true; red: predicted ({found})", _image(g["image"], boxes)))
    for f in items.get("forecasts", []):
        shown.append((f"forecast of {f['target']} against the actual series", _forecast(f)))
    return shown


def _headline(showcase: Any) -> str:
    value = f"{showcase.value:.4f}" if showcase.value is not None else "–"
    return (f"trial {showcase.trial} ({showcase.architecture} · {showcase.optimizer}), "
            f"{showcase.metric} {value}, on the validation split")


def _mistake_lines(items: dict[str, Any]) -> list[str]:
    return [f"true {m['true']}, predicted {m['predicted']} ({m['score']:.2f})"
            for m in items.get("mistakes", []) if m.get("image") is None]


def html_section(showcase: Any) -> str:
    parts = ["<h3>The best kept model</h3>", f"<p>{_esc(_headline(showcase))}</p>"]
    if showcase.note:
        return "".join(parts) + f"<p class='muted'>{_esc(showcase.note)}</p>"
    per_class = showcase.items.get("per_class")
    if per_class:
        rows = "".join(f"<tr><td class='t'>{_esc(c)}</td><td>{ap:.4f}</td></tr>"
                       for c, ap in per_class.items())
        parts.append(f"<table><tr><th class='t'>class</th><th>AP</th></tr>{rows}</table>")
    for line in _mistake_lines(showcase.items):
        parts.append(f"<p class='muted'>most confident mistake: {_esc(line)}</p>")
    for caption, png in figures_of(showcase.items):
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure style='display:inline-block;margin:.4rem'><img alt='"
                     f"{_esc(caption)}' src='data:image/png;base64,{data}'><figcaption "
                     f"class='muted' style='max-width:16rem'>{_esc(caption)}</figcaption>"
                     "</figure>")
    return "".join(parts)


def markdown_section(showcase: Any, write_png: Callable[[str, bytes], str],
                     escape: Callable[[str], str]) -> list[str]:
    """Markdown lines; ``write_png(suffix, data)`` stores a figure and returns its file name."""
    lines = ["### The best kept model", "", escape(_headline(showcase)), ""]
    if showcase.note:
        return [*lines, f"_{escape(showcase.note)}_", ""]
    per_class = showcase.items.get("per_class")
    if per_class:
        lines += ["| class | AP |", "|---|---:|"]
        lines += [f"| {escape(str(c))} | {ap:.4f} |" for c, ap in per_class.items()] + [""]
    lines += [f"- most confident mistake: {escape(line)}"
              for line in _mistake_lines(showcase.items)]
    for index, (caption, png) in enumerate(figures_of(showcase.items)):
        lines += [f"![{escape(caption)}]({write_png(f'winner-{index}', png)})", ""]
    return lines
