"""Dense studies of the shipped tasks, and replays of samplers and pruners on them: how the
search defaults are chosen (docs/benchmarks.md, "Search defaults").

    python benchmarks/dense_studies.py record [--trials 64] [--task classification ...]
    python benchmarks/dense_studies.py replay [--seeds 20] [--budget-factor 4] [--task ...]
    python benchmarks/dense_studies.py record --ucr JapaneseVowels --trials 24
    python benchmarks/dense_studies.py replay --ucr JapaneseVowels

``record`` runs each shipped task file as a dense study — random search, no pruning, every
epoch of every trial stored — through the real ``harness run`` (two worker processes), then
writes the study with ``harness export`` to ``benchmarks/blackbox/<task>.json`` (small: these
files are committed, so ``replay`` needs no re-recording). ``replay`` runs ``harness replay``
on each blackbox with every candidate sampler/pruner pair over ``--seeds`` seeds and writes
the table and any-time plot to ``benchmarks/results/replay-<task>/``. ``--ucr PROBLEM`` does
the same for the shipped sequence-classification file on a real UCR/UEA problem out of the
aeon wheel (its ``[dataset]`` changed as ``reference_models.py --shipped`` changes it); the
blackbox is ``benchmarks/blackbox/ucr-<PROBLEM>.json``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLACKBOX = REPO / "benchmarks" / "blackbox"
RESULTS = REPO / "benchmarks" / "results"

TASKS = {"classification": "tasks/classification.toml",
         "sequence_classification": "tasks/sequence_classification.toml",
         "forecasting": "tasks/sequence.toml"}

# What is replayed (random/none, the baseline, always is): TPE or random with each pruner,
# and CMA-ES. Gaussian-process BO (`gp`) is left out of the default set: each of its asks fits
# a GP to every trial so far (seconds at 60+ trials on a 2-core CPU), so 20 seeds of it take
# far longer than all the others together.
CANDIDATES = ("tpe/none", "tpe/median", "tpe/percentile", "tpe/successive_halving",
              "tpe/hyperband", "random/median", "random/successive_halving",
              "random/hyperband", "cmaes/none")


def dense_task_text(text: str, name: str, trials: int) -> str:
    """The shipped task file as a dense study: random sampler, no pruner, ``trials`` trials."""
    text = re.sub(r"(?ms)^\[search\.(sampler|pruner)_options\]\n.*?(?=^\[|\Z)", "", text)
    text = re.sub(r'(?m)^sampler = "\w+"', 'sampler = "random"', text)
    text = re.sub(r'(?m)^pruner = "\w+"', 'pruner = "none"', text)
    # A trial count, whatever budget the file gives (a compute budget would stop early), and
    # no repeats: the recording is one seed per configuration.
    text = re.sub(r"(?m)^(n_trials|compute_s|min_trials|timeout_s|repeats) = .*\n", "", text)
    text = re.sub(r"(?m)^\[budget\]\n", f"[budget]\nn_trials = {trials}\n", text)
    return re.sub(r'(?m)^name = "([\w-]+)"', f'name = "{name}"', text, count=1)


def harness(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, check=True)


def shipped_text(task: str, tmp: Path) -> str:
    """The task file a recording starts from: a shipped one, or the shipped
    sequence-classification file on a UCR problem (``ucr-<problem>``)."""
    if not task.startswith("ucr-"):
        return (REPO / TASKS[task]).read_text()
    from reference_models import shipped_on_ucr
    from reference_models import ucr_folder

    problem = task.removeprefix("ucr-")
    return shipped_on_ucr(ucr_folder(tmp, problem), problem, task)


def record(task: str, trials: int, workers: int, db: Path) -> Path:
    study = f"{task}-dense"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{task}.toml"
        path.write_text(dense_task_text(shipped_text(task, Path(tmp)), study, trials))
        started = time.perf_counter()
        harness("run", str(path), "--db", str(db), "--workers", str(workers))
        print(f"{task}: {trials} trials in {time.perf_counter() - started:.0f} s", flush=True)
    out = BLACKBOX / f"{task}.json"
    harness("export", "--db", str(db), "--study", study, "--out", str(out))
    return out


def replay(task: str, seeds: int, budget_factor: float) -> None:
    """Replay every candidate for ``budget_factor`` times the compute the recording spent (more
    than 1 lets random search reach the target too, so the speed-up is a number, not "∞")."""
    import json

    box = BLACKBOX / f"{task}.json"
    spent = sum(sum(t["seconds"]) for t in json.loads(box.read_text())["trials"])
    out = RESULTS / f"replay-{task}"
    args = ["replay", str(box), "--seeds", str(seeds), "--out", str(out),
            "--budget-s", f"{budget_factor * spent:.0f}"]
    for candidate in CANDIDATES:
        args += ["--candidate", candidate]
    harness(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("record", "replay"))
    parser.add_argument("--task", action="append", choices=sorted(TASKS))
    parser.add_argument("--ucr", action="append", metavar="PROBLEM", default=[],
                        help="the shipped sequence-classification file on this UCR/UEA "
                             "problem of the aeon wheel (e.g. JapaneseVowels)")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget-factor", type=float, default=4.0,
                        help="simulated compute per replay, in recorded studies' worth")
    parser.add_argument("--db", type=Path, default=RESULTS / "dense.db")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    tasks = (args.task or []) + [f"ucr-{problem}" for problem in args.ucr]
    for task in tasks or list(TASKS):
        if args.action == "record":
            record(task, args.trials, args.workers, args.db)
        else:
            replay(task, args.seeds, args.budget_factor)


if __name__ == "__main__":
    main()
