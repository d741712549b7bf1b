"""The reference sequence models next to the accuracies their papers publish
(docs/benchmarks.md, "Reference sequence models").

    python benchmarks/reference_models.py [--epochs 300] [--datasets GunPoint ...]
    python benchmarks/reference_models.py --shipped [--datasets GunPoint ...]

``--shipped`` runs the shipped ``tasks/sequence_classification.toml`` instead, changed only in
``[dataset]``: its own search and compute budget, and the test accuracy of the trial that is
best by validation (docs/benchmarks.md, "Sequence-classification defaults on UCR problems").

Classification: FCN, ResNet and InceptionTime on UCR/UEA problems that the ``aeon`` wheel
ships (the wheel is fetched with ``pip download`` for this benchmark only: the harness never
downloads at run time), each trained once through the real ``harness run`` at the papers'
settings (Adam, lr 1e-3, no weight decay, batch 16), for far fewer epochs than their
1,500–2,000 on a GPU, with a cosine decay where they halve the rate on plateaus; 20% of
TRAIN held out for validation, accuracy on TEST after the last epoch.
Forecasting: DLinear, NLinear, N-BEATS and PatchTST on the statsmodels series, as MASE
(< 1 beats the seasonal-naive forecast); their papers report on ETT/Weather/M4, which no
package ships, so that table has no published column.

Writes ``benchmarks/results/reference_models.json`` and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
AEON = "aeon==1.6.0"

CLASSIFIERS = ("fcn", "resnet1d", "inception_time")
FORECASTERS = ("dlinear", "nlinear", "nbeats", "patchtst")
# Test accuracy (%) published for these problems: FCN and ResNet, mean of 10 runs (Ismail
# Fawaz et al. 2019, "Deep learning for time series classification: a review", DMKD, tables
# of the UCR 2015 and MTS archives); InceptionTime, the 5-network ensemble (Ismail Fawaz et
# al. 2020, results-InceptionTime-85.csv of the authors' repository).
PUBLISHED = {
    "GunPoint": {"fcn": 100.0, "resnet1d": 99.1, "inception_time": 100.0},
    "ItalyPowerDemand": {"fcn": 96.1, "resnet1d": 96.3, "inception_time": 96.8},
    "ArrowHead": {"fcn": 84.3, "resnet1d": 84.5, "inception_time": 82.9},
    "JapaneseVowels": {"fcn": 99.3, "resnet1d": 99.2},
}


# The univariate UCR problems are z-normalised per series by the archive; the multivariate
# LPC-cepstrum vowels carry the speaker in each channel's level, which a per-series z-score
# would erase (the MTS-archive baselines do not normalise them per series).
NORMALIZE = {"JapaneseVowels": "global"}


def ucr_folder(tmp: Path, problem: str) -> Path:
    """The problem's ``.ts`` files, out of the aeon wheel (downloaded once into ``tmp``)."""
    wheels = list(tmp.glob("aeon-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", AEON,
                        "-d", str(tmp)], check=True)
        wheels = list(tmp.glob("aeon-*.whl"))
    folder = tmp / problem
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        for split in ("TRAIN", "TEST"):
            member = f"aeon/datasets/data/{problem}/{problem}_{split}.ts"
            (folder / f"{problem}_{split}.ts").write_bytes(wheel.read(member))
    return folder


def task_file(study: str, task: str, dataset: str, models: tuple[str, ...], epochs: int,
              batch: int, extra: str = "") -> str:
    return f"""
[study]
name = "{study}"
task = "{task}"
seed = 0

{dataset}

[search]
sampler = "grid"
pruner = "none"
architectures = {json.dumps(list(models))}
optimizers = ["adam"]
schedulers = ["cosine"]
lr = 1e-3
weight_decay = 0.0
batch_size = [{batch}]
{extra}
[budget]
n_trials = {len(models)}
epochs = {epochs}

[device]
device = "auto"
workers = 2
"""


def run_study(text: str, db: Path, tmp: Path, study: str) -> dict[str, dict[str, float]]:
    path = tmp / f"{study}.toml"
    path.write_text(text)
    subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--db", str(db)],
                   cwd=REPO, check=True)
    return run_report(db, tmp, study)


def run_report(db: Path, tmp: Path, study: str) -> dict[str, dict[str, float]]:
    """The study's leaderboard rows (best per architecture), by architecture."""
    out = tmp / f"report-{study}"
    subprocess.run([sys.executable, "-m", "harness", "report", "--db", str(db), "--study",
                    study, "--format", "json", "--out", str(out)], cwd=REPO, check=True)
    reports = json.loads((out / "leaderboard.json").read_text())
    rows = [row for r in reports for board in r["leaderboards"] for row in board["rows"]]
    return {str(row["architecture"]): row for row in rows}


def classification(args: argparse.Namespace, tmp: Path, db: Path) -> dict[str, object]:
    results = {}
    for problem in args.datasets:
        folder = ucr_folder(tmp, problem)
        dataset = f'[dataset]\nname = "ucr"\npath = "{folder}"\nproblem = "{problem}"'
        extra = ('[search.space.sequence_classification]\n'
                 f'normalize = "{NORMALIZE.get(problem, "series")}"\n')
        study = f"ref-{problem}"
        results[problem] = run_study(task_file(study, "sequence_classification", dataset,
                                               CLASSIFIERS, args.epochs, 16, extra),
                                     db, tmp, study)
        save({"classification": results})  # a long run keeps what it measured
    return results


def forecasting(args: argparse.Namespace, tmp: Path, db: Path) -> dict[str, object]:
    results = {}
    for series, window in (("co2", 104), ("sunspots", 48)):
        dataset = (f'[dataset]\nname = "{series}"\n\n[task]\nhorizon = 4\n'
                   "val_fraction = 0.15\ntest_fraction = 0.15")
        extra = (f"[search.space.forecasting]\nwindow = {window}\nfill = \"interpolate\"\n"
                 "clip_sigma = 0.0\n")
        study = f"ref-{series}"
        results[series] = run_study(task_file(study, "forecasting", dataset, FORECASTERS,
                                              args.forecast_epochs, 32, extra), db, tmp, study)
    return results


def shipped_on_ucr(folder: Path, problem: str, study: str) -> str:
    """``tasks/sequence_classification.toml`` as shipped, with only ``[dataset]`` (and the
    study's name) changed to the UCR problem in ``folder``."""
    text = (REPO / "tasks" / "sequence_classification.toml").read_text()
    head, rest = text.split("\n[dataset]\n", 1)
    rest = rest[rest.index("\n["):]
    dataset = f'\n[dataset]\nname = "ucr"\npath = "{folder}"\nproblem = "{problem}"\n'
    return head.replace('name = "waveforms-classification"', f'name = "{study}"') + dataset + rest


def shipped(args: argparse.Namespace, tmp: Path, db: Path) -> dict[str, object]:
    """The shipped ``tasks/sequence_classification.toml`` with only ``[dataset]`` changed:
    its own search, budget and defaults, best trial by validation, its test accuracy."""
    results: dict[str, object] = {}
    for problem in args.datasets:
        study = f"shipped-{problem}"
        path = tmp / f"{study}.toml"
        path.write_text(shipped_on_ucr(ucr_folder(tmp, problem), problem, study))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--db", str(db)],
                       cwd=tmp, check=True)
        wall = time.perf_counter() - started
        rows = run_report(db, tmp, study)
        best = max(rows.values(), key=lambda r: (r["val_accuracy"], -r["trial"]))
        results[problem] = {"wall_s": round(wall, 1), "best": best["architecture"],
                            "val_accuracy": best["val_accuracy"],
                            "test_accuracy": best["test_accuracy"],
                            "rows": {a: r["test_accuracy"] for a, r in rows.items()}}
        save({"shipped": results}, "shipped_sequence_classification.json")
    return results


def save(found: dict[str, object], name: str = "reference_models.json") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(found, indent=2))


def shipped_markdown(found: dict[str, object]) -> str:
    lines = ["| problem | best by val | its test accuracy (%) | published best (%) | wall |",
             "|---|---|---:|---:|---:|"]
    for problem, row in found.items():
        best = max(PUBLISHED.get(problem, {}).values(), default=None)
        lines.append(f"| {problem} | {row['best']} | {100 * row['test_accuracy']:.1f} | "  # type: ignore[index]
                     f"{'—' if best is None else f'{best:.1f}'} | {row['wall_s']:.0f} s |")  # type: ignore[index]
    return "\n".join(lines)


def markdown(found: dict[str, dict[str, object]]) -> str:
    lines = ["| problem | model | test accuracy (%) | published (%) |", "|---|---|---|---|"]
    for problem, models in found["classification"].items():
        for model, row in models.items():  # type: ignore[attr-defined]
            published = PUBLISHED.get(problem, {}).get(model)
            lines.append(f"| {problem} | {model} | {100 * row['test_accuracy']:.1f} | "
                         f"{'—' if published is None else f'{published:.1f}'} |")
    lines += ["", "| series | model | test MASE |", "|---|---|---|"]
    for series, models in found["forecasting"].items():
        for model, row in models.items():  # type: ignore[attr-defined]
            lines.append(f"| {series} | {model} | {row['test_mase']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--forecast-epochs", type=int, default=30)
    parser.add_argument("--datasets", nargs="+", default=list(PUBLISHED))
    parser.add_argument("--shipped", action="store_true",
                        help="run tasks/sequence_classification.toml as shipped instead, with "
                             "only [dataset] changed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        db = tmp / "reference.db"
        if args.shipped:
            found = shipped(args, tmp, db)
            print(shipped_markdown(found))
            return
        found = {"classification": classification(args, tmp, db),
                 "forecasting": forecasting(args, tmp, db)}
    save(found)
    print(markdown(found))


if __name__ == "__main__":
    main()
