"""harness against a plain Optuna + PyTorch script doing the same work.

    python benchmarks/vs_plain_optuna.py [--rounds 3] [--trials 8] [--epochs 10]

The work, identical both ways: TPE, 8 trials of a one-stage small_cnn on scikit-learn's digits
(width 16–64, SGD or AdamW, constant learning rate 1e-4–3e-2, batch 64, 16 px, 10 epochs,
validation accuracy every epoch, test accuracy once, no pruner), 2 torch threads. Each side is
a fresh process (interpreter start-up and imports included); the two alternate, and the
figure is the ratio of their median wall times (target ≤ 1.10).

The plain side is what a user would write by hand: an in-memory Optuna study and a training
loop over tensors prepared once. harness additionally stores every trial and epoch in SQLite,
tells an Optuna study in that database, runs each trial in a worker process, and measures
throughput, latency and FLOPs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PLAIN = textwrap.dedent('''
    import sys
    import optuna
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    trials, epochs = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(2)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
    y = torch.tensor(digits.target)
    index = list(range(len(y)))
    rest, test = train_test_split(index, test_size=0.2, random_state=0, stratify=digits.target)
    train, val = train_test_split(rest, test_size=0.25, random_state=0,
                                  stratify=digits.target[rest])
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    splits = {name: (x[ids], y[ids]) for name, ids in (("train", train), ("val", val),
                                                        ("test", test))}

    def model(width):
        layers, channels = [], 1
        for _ in range(2):
            layers += [torch.nn.Conv2d(channels, width, 3, padding=1, bias=False),
                       torch.nn.BatchNorm2d(width), torch.nn.ReLU(inplace=True)]
            channels = width
        layers += [torch.nn.MaxPool2d(2, ceil_mode=True), torch.nn.AdaptiveAvgPool2d(1),
                   torch.nn.Flatten(), torch.nn.Dropout(0.1), torch.nn.Linear(width, 10)]
        return torch.nn.Sequential(*layers)

    def accuracy(net, split):
        net.eval()
        features, labels = splits[split]
        with torch.inference_mode():
            logits = torch.cat([net(features[i:i + 128]) for i in range(0, len(labels), 128)])
        return float((logits.argmax(1) == labels).float().mean())

    def objective(trial):
        torch.manual_seed(0)
        net = model(trial.suggest_int("width", 16, 64, log=True))
        name = trial.suggest_categorical("optimizer", ["sgd", "adamw"])
        lr = trial.suggest_float("lr", 1e-4, 3e-2, log=True)
        opt = (torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9) if name == "sgd"
               else torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0))
        features, labels = splits["train"]
        generator = torch.Generator().manual_seed(0)
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(labels), generator=generator)
            for start in range(0, len(labels), 64):
                picked = order[start:start + 64]
                if len(picked) < 2:
                    continue
                loss = F.cross_entropy(net(features[picked]), labels[picked])
                opt.zero_grad()
                loss.backward()
                opt.step()
            value = accuracy(net, "val")
            trial.report(value, epoch)
        trial.set_user_attr("test_accuracy", accuracy(net, "test"))
        return value

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials)
    print(study.best_value)
''')

TASK = """\
[study]
name = "vs-plain"
task = "classification"
[dataset]
name = "digits"
[search]
sampler = "tpe"
pruner = "none"
architectures = ["small_cnn"]
optimizers = ["sgd", "adamw"]
schedulers = ["constant"]
lr = [1e-4, 3e-2]
batch_size = [64]
momentum = 0.9
weight_decay = 0.0
[search.space.sgd]
nesterov = false
[search.space.small_cnn]
width = [16, 64]
depth = 1
dropout = 0.1
[search.space.classification]
image_size = 16
augment = "none"
blur_sigma = 0.0
[budget]
n_trials = {trials}
epochs = {epochs}
[device]
device = "cpu"
threads = 2
"""


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-vs-plain-"))
    (work / "plain.py").write_text(PLAIN)
    (work / "task.toml").write_text(TASK.format(trials=args.trials, epochs=args.epochs))
    plain, harness = [], []
    for round_ in range(args.rounds):
        plain.append(timed([sys.executable, "plain.py", str(args.trials), str(args.epochs)],
                           work))
        db = work / f"round{round_}.db"
        harness.append(timed([sys.executable, "-m", "harness", "run", str(work / "task.toml"),
                              "--db", str(db)], REPO))
        print(f"round {round_ + 1}: plain {plain[-1]:.1f} s, harness {harness[-1]:.1f} s",
              flush=True)
    ratio = statistics.median(harness) / statistics.median(plain)
    print(f"plain median {statistics.median(plain):.1f} s, harness median "
          f"{statistics.median(harness):.1f} s: ratio {ratio:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
