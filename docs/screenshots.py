"""Take docs/img/tracking-*.png: a harness study as MLflow's UI and optuna-dashboard show it.

    python docs/screenshots.py

Runs a small digits study with MLflow tracking into a temporary folder, starts MLflow's server
and optuna-dashboard on 127.0.0.1 (free ports), and photographs their pages in headless
Chromium. Needs the test extra (mlflow, optuna-dashboard) and chromium. About a minute.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import chromium  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.conftest import serving  # noqa: E402

TASK = """\
[study]
name = "digits-tracked"
task = "classification"

[dataset]
name = "digits"

[search]
sampler = "random"
pruner = "none"
architectures = ["small_cnn", "resnet10t"]
optimizers = ["adamw", "sgd"]
lr = [1e-3, 3e-2]
batch_size = [64]

[search.space.classification]
image_size = 16
augment = "none"

[budget]
n_trials = 8
epochs = 4

[artifacts]
keep = 1

[tracking]
mlflow = "{folder}/mlflow"
"""


def _photograph(url: str, out: Path, profile: Path, size: str = "1400,820") -> None:
    taken = chromium(f"--window-size={size}", f"--screenshot={out}", url, profile=profile)
    if not out.is_file():
        raise SystemExit(f"no screenshot of {url}: {taken.stderr[-1000:]}")
    print(f"wrote {out.relative_to(REPO)} ({out.stat().st_size // 1024} KiB)")


def _best_trial_run(url: str) -> str:
    """The nested run of the study's best trial: its page shows the parent run, the tags,
    the parameters and every metric."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("digits-tracked").experiment_id
    (best,) = client.search_runs([experiment], "tags.status = 'complete'",
                                 order_by=["metrics.final_val_accuracy DESC"], max_results=1)
    return str(best.info.run_id)


def main() -> None:
    images = REPO / "docs" / "img"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "task.toml").write_text(TASK.format(folder=folder))
        subprocess.run([sys.executable, "-m", "harness", "run", str(folder / "task.toml"),
                        "--db", str(folder / "results.db")], check=True)
        port = free_port()
        mlflow = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
                  str(port), "--workers", "1", "--backend-store-uri",
                  f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}"]
        with serving(mlflow, port, ready="/health", timeout=180) as url:
            _photograph(f"{url}/#/experiments/1/runs/{_best_trial_run(url)}",
                        images / "tracking-mlflow.png", folder / "profile-mlflow",
                        size="1800,1000")
        port = free_port()
        dashboard = ["optuna-dashboard", f"sqlite:///{folder / 'results.db'}", "--host",
                     "127.0.0.1", "--port", str(port)]
        with serving(dashboard, port, ready="/api/studies") as url:
            _photograph(f"{url}/dashboard/studies/1", images / "tracking-optuna-dashboard.png",
                        folder / "profile-dashboard")


if __name__ == "__main__":
    main()
