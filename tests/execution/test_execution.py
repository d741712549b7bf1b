"""Worker processes, OOM halving, time limits, dead workers, execution options, bench."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import run_cli


def _rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT number, architecture, status, batch_size, batch_size_used, "
                           "fail_reason, precision, memory_format FROM harness_trials "
                           "ORDER BY number").fetchall()
    finally:
        con.close()


def _task(write_task, archs, *, extra_device="", extra_budget="", n_trials=2, name="t.toml",
          sampler="random"):
    return write_task(name=name, replace=(
        ('architectures = ["small_cnn"]', f"architectures = {json.dumps(archs)}"),
        ('sampler = "random"', f'sampler = "{sampler}"'),
        ("n_trials = 2", f"n_trials = {n_trials}"),
        ("threads = 1", f"threads = 1\n{extra_device}"),
        ("epochs = 1", f"epochs = 1\n{extra_budget}")))


def test_two_workers_finish_a_study_with_an_exact_count(write_task, tmp_path):
    task = _task(write_task, ["small_cnn"], extra_device="workers = 2", n_trials=4)
    db = tmp_path / "w.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    rows = _rows(db)
    assert [r[0] for r in rows] == [0, 1, 2, 3] and {r[2] for r in rows} == {"complete"}


def test_out_of_memory_halves_the_batch_down_to_a_floor(write_task, tmp_path, fake_plugin_path):
    task = _task(write_task, ["oom_net"], n_trials=1)
    db = tmp_path / "o.db"
    proc = run_cli("run", str(task), "--db", str(db), extra_path=fake_plugin_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = _rows(db)
    assert row[2:5] == ("complete", 64, 8)  # 64 → 32 → 16 → 8 fits
    floor = _task(write_task, ["oom_net"], n_trials=1, name="floor.toml",
                  extra_device="min_batch_size = 16")
    db2 = tmp_path / "o2.db"
    assert run_cli("run", str(floor), "--db", str(db2),
                   extra_path=fake_plugin_path).returncode == 0
    (row,) = _rows(db2)
    assert row[2] == "failed" and "out of memory at batch size 16 (the floor is 16)" in row[5]


def test_time_limit_and_dead_workers_fail_the_trial_not_the_study(write_task, tmp_path,
                                                                 fake_plugin_path):
    task = _task(write_task, ["sleepy_net", "crash_net", "small_cnn"], n_trials=3,
                 sampler="grid", extra_budget="trial_timeout_s = 8")
    task.write_text(task.read_text().replace('optimizers = ["adamw", "sgd"]',
                                             'optimizers = ["adamw"]')
                    .replace('schedulers = ["constant", "cosine"]', 'schedulers = ["constant"]')
                    .replace("lr = [1e-3, 1e-2]", "lr = 0.005"))
    db = tmp_path / "t.db"
    proc = run_cli("run", str(task), "--db", str(db), extra_path=fake_plugin_path)
    assert proc.returncode == 0, proc.stderr
    outcome = {r[1]: (r[2], r[5]) for r in _rows(db)}
    assert outcome["small_cnn"][0] == "complete"
    assert outcome["sleepy_net"] == ("failed", "exceeded the per-trial time limit of 8 s")
    assert outcome["crash_net"][0] == "failed"
    assert "worker process exited with code 3" in outcome["crash_net"][1]


def test_precision_and_layout_are_search_dimensions_and_recorded(write_task, tmp_path):
    task = _task(write_task, ["small_cnn"], n_trials=4, sampler="grid",
                 extra_device='precision = ["fp32", "bf16"]\nmemory_format = "channels_last"')
    db = tmp_path / "p.db"
    assert run_cli("run", str(task), "--db", str(db)).returncode == 0
    rows = _rows(db)
    assert {r[6] for r in rows} == {"fp32", "bf16"} and {r[7] for r in rows} == {"channels_last"}
    boards = json.loads(run_cli("leaderboard", "--db", str(db), "--format", "json").stdout)
    assert {r["hardware"].rsplit(" | ", 1)[1] for r in boards} == {"fp32", "bf16"}
    con = sqlite3.connect(db)
    env = json.loads(con.execute("SELECT environment FROM harness_trials").fetchone()[0])
    peak, gflops, e2e = con.execute("SELECT peak_memory_mb, gflops_per_sample, "
                                    "e2e_infer_samples_per_s FROM harness_trials "
                                    "WHERE status = 'complete'").fetchone()
    assert env["cpu"] and env["cpu_cores"] >= 1 and env["torch"] and "plugins" in env
    assert peak > 50 and gflops > 0 and e2e > 0


def test_bench_measures_stores_and_ranks_untrained_models(tmp_path):
    db = tmp_path / "b.db"
    proc = run_cli("bench", "small_cnn", "resnet10t", "--img-size", "32", "--batch-size", "8",
                   "--runs", "1", "--format", "json", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["architecture"] for r in rows] == ["small_cnn", "resnet10t"]
    for row in rows:
        for key in ("infer_samples_per_s", "infer_latency_ms_p50", "infer_latency_ms_p99",
                    "latency_b1_ms_p50", "train_samples_per_s", "gflops_per_sample",
                    "peak_memory_mb", "param_count"):
            assert row[key] > 0, key
        assert row["infer_latency_ms_p50"] <= row["infer_latency_ms_p99"]
        assert row["hardware"].startswith("cpu:") and row["environment"]["cpu_cores"] >= 1
    board = json.loads(run_cli("leaderboard", "--db", str(db), "--study", "bench",
                               "--format", "json").stdout)
    assert [r["architecture"] for r in board] == [r["architecture"] for r in sorted(
        rows, key=lambda r: -r["infer_samples_per_s"])]
    bad = run_cli("bench", "resnet1*", "--db", str(db))
    assert bad.returncode == 1 and "name one" in bad.stderr


def test_speed_is_measured_once_per_setting_and_reused(write_task, tmp_path):
    # The whole grid: 2 batch sizes × 2 precisions × 3 learning rates. The learning rate does
    # not change speed (reuse); the batch and the precision do (measure again).
    task = _task(write_task, ["small_cnn"], n_trials=12, sampler="grid",
                 extra_device='precision = ["fp32", "bf16"]')
    task.write_text(task.read_text().replace('optimizers = ["adamw", "sgd"]', 'optimizers = ["adamw"]')
                    .replace('schedulers = ["constant", "cosine"]', 'schedulers = ["constant"]')
                    .replace("batch_size = [64]", "batch_size = [32, 64]"))
    db = tmp_path / "s.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    con = sqlite3.connect(db)
    rows = con.execute("SELECT id, batch_size, precision, speed_from_trial, infer_samples_per_s, "
                       "gflops_per_sample FROM harness_trials ORDER BY number").fetchall()
    stored = con.execute("SELECT COUNT(*) FROM harness_speed").fetchone()[0]
    con.close()
    assert len(rows) == 12
    by_setting: dict[tuple, list] = {}
    for row in rows:
        by_setting.setdefault((row[1], row[2]), []).append(row)
    assert len(by_setting) == 4 and stored == 4
    for first, *later in by_setting.values():
        assert first[3] is None and later  # measured once per setting ...
        for other in later:  # ... then reused (the grid's learning rates do not change speed)
            assert other[3] == first[0] and other[4:] == first[4:]
