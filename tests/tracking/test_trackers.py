"""Experiment trackers: a study as MLflow, TensorBoard and W&B show it, read back with each
tool's own reader — and a tracker that fails never fails a trial."""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import harness.api as hx
from tests.conftest import TINY_TASK
from tests.conftest import free_port
from tests.conftest import run_cli
from tests.conftest import says
from tests.conftest import serving

TRACKED = TINY_TASK.replace("epochs = 1", "epochs = 2") + "\n[artifacts]\nkeep = 1\n"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """Study 'tiny' (two trials of two epochs, the best kept) recorded in an MLflow local
    store and TensorBoard (from the task file) and W&B offline (from ``--track``)."""
    folder = tmp_path_factory.mktemp("tracked")
    task = folder / "task.toml"
    task.write_text(TRACKED + f'\n[tracking]\nmlflow = "{folder / "mlflow"}"\n'
                              f'tensorboard = "{folder / "tb"}"\n')
    ran = run_cli("run", str(task), "--db", str(folder / "r.db"), "--track",
                  "wandb=harness-test", env={"WANDB_MODE": "offline"})
    assert ran.returncode == 0, ran.stderr
    assert "tracker" not in ran.stderr  # no tracker failed
    return folder


def _epochs(folder: Path) -> dict[int, dict[int, float]]:
    """Each trial's validation accuracy by epoch, as harness stored it."""
    table = hx.epochs(folder / "r.db", study="tiny")
    return {int(t): dict(zip(rows.epoch, rows.val_accuracy, strict=True))
            for t, rows in table.groupby("trial")}


def test_mlflow_holds_a_parent_run_and_a_nested_run_per_trial(tracked):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tracked / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    trials = hx.trials(tracked / "r.db", study="tiny").set_index("number")
    children = {int(r.data.tags["harness.trial"]): r for r in runs if r not in parents}
    assert sorted(children) == sorted(trials.index)
    kept = [n for n, r in children.items()
            if [a.path for a in client.list_artifacts(r.info.run_id)] == ["model"]]
    assert len(kept) == 1
    assert "card.json" in {Path(a.path).name for a in
                           client.list_artifacts(children[kept[0]].info.run_id, "model")}
    for number, run in children.items():
        row = trials.loc[number]
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.tags["architecture"] == row.architecture == "small_cnn"
        assert run.data.tags["optimizer"] == row.optimizer
        assert run.data.tags["hardware"] == row.hardware
        assert float(run.data.params["lr"]) == pytest.approx(row.lr)
        assert run.data.metrics["test_accuracy"] == pytest.approx(row.test_accuracy)
        assert run.data.metrics["train_samples_per_s"] == pytest.approx(
            row.train_samples_per_s)
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert {m.step: m.value for m in history} == pytest.approx(
            _epochs(tracked)[number])


def test_tensorboard_has_a_run_per_trial_with_scalars_and_hparams(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    trials = hx.trials(tracked / "r.db", study="tiny").set_index("number")
    for number, val_accuracy in _epochs(tracked).items():
        events = EventAccumulator(str(tracked / "tb" / "tiny" / f"trial-{number}"))
        events.Reload()
        assert {e.step: e.value for e in events.Scalars("val/accuracy")} == pytest.approx(
            val_accuracy)
        assert [e.value for e in events.Scalars("hparam/test_accuracy")] == pytest.approx(
            [trials.loc[number].test_accuracy])
        start = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hparams = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
        assert hparams["architecture"].string_value == "small_cnn"
        assert hparams["lr"].number_value == pytest.approx(trials.loc[number].lr)


def wandb_records(path: Path) -> list[Any]:
    """The protobuf records of a W&B run file (``run-*.wandb``: a LevelDB-style log of
    32 KiB blocks after a 7-byte ``:W&B`` header), as ``wandb sync`` would read them."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, position, block = [], b"", 7, 32768
    while position + 7 <= len(data):
        room = block - position % block
        if room < 7:  # a block's tail too short for a header is padding
            position += room
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            records.append(wandb_internal_pb2.Record.FromString(pending))
            pending = b""
    return records


def _items(items: Any) -> dict[str, Any]:
    """W&B's key/value items (a key is ``key`` or, in newer writers, ``nested_key``)."""
    return {item.key or ".".join(item.nested_key): json.loads(item.value_json)
            for item in items}


def test_wandb_offline_runs_are_grouped_by_study_and_hold_the_metrics(tracked):
    runs = sorted((tracked / "tracking" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 2
    expected = _epochs(tracked)
    for path in runs:
        records = wandb_records(path)
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        assert run.run_group == "tiny" and run.project == "harness-test"
        number = int(run.display_name.removeprefix("trial-"))
        history = [_items(r.history.item) for r in records
                   if r.WhichOneof("record_type") == "history"]
        assert {h["_step"]: h["val_accuracy"] for h in history} == pytest.approx(
            expected[number])
        summary = {k: v for r in records if r.WhichOneof("record_type") == "summary"
                   for k, v in _items(r.summary.update).items()}
        assert summary["status"] == "complete" and "test_accuracy" in summary


def test_a_tracker_whose_server_is_down_fails_no_trial(tmp_path):
    task = tmp_path / "task.toml"
    task.write_text(TINY_TASK + f'\n[tracking]\nmlflow = "http://127.0.0.1:{free_port()}"\n')
    ran = run_cli("run", str(task), "--db", str(tmp_path / "r.db"))
    assert ran.returncode == 0, ran.stderr
    assert "tracker 'mlflow' failed (" in ran.stderr and "the study goes on" in ran.stderr
    assert says(ran.stdout + ran.stderr, "2 complete")
    assert "tracker event(s) not recorded" in ran.stdout + ran.stderr


def test_an_unknown_or_uninstalled_tracker_is_one_line(tmp_path):
    task = tmp_path / "task.toml"
    task.write_text(TINY_TASK + '\n[tracking]\naim = "runs"\n')
    ran = run_cli("run", str(task), "--db", str(tmp_path / "r.db"))
    assert ran.returncode == 2
    assert "tracking.aim" in ran.stderr and "mlflow" in ran.stderr  # names what there is
    assert len(ran.stderr.strip().splitlines()) == 1
    bad = run_cli("run", str(task), "--db", str(tmp_path / "r.db"), "--track", "mlflow")
    assert bad.returncode == 2 and "TRACKER=SETTING" in bad.stderr


@pytest.mark.slow
def test_two_processes_of_one_study_log_under_one_mlflow_parent(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
               str(port), "--workers", "1", "--backend-store-uri",
               f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination",
               str(tmp_path / "server-artifacts")]
    with serving(command, port, ready="/health", timeout=180) as url:
        task = tmp_path / "task.toml"
        task.write_text(TRACKED.replace("n_trials = 2", "n_trials = 4")
                        + f'\n[tracking]\nmlflow = "{url}"\n')
        runs = [subprocess.Popen([sys.executable, "-m", "harness", "run", str(task), "--db",
                                  str(tmp_path / "r.db")], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for process in runs:
            _, stderr = process.communicate(timeout=600)
            assert process.returncode == 0, stderr
            assert "tracker" not in stderr
        from mlflow.tracking import MlflowClient

        client = MlflowClient(url)
        found = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    parents = [r.info.run_id for r in found if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    children = [r for r in found if r.info.run_id not in parents]
    assert sorted(int(r.data.tags["harness.trial"]) for r in children) == [0, 1, 2, 3]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == set(parents)
    with sqlite3.connect(tmp_path / "r.db") as con:
        (stored,) = con.execute("SELECT tracking FROM harness_studies").fetchone()
    assert json.loads(stored)["mlflow_parent_run"] == parents[0]
