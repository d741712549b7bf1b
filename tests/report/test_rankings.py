"""Rankings that hold up: repeats under recorded seeds, configuration rows with 95% intervals,
ties the seeds cannot break, and CI gates that do not fire on seed noise."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys

import pytest

from harness._report.rankings import rank_groups
from harness._report.rankings import summarize
from tests.conftest import REPO
from tests.conftest import TINY_TASK
from tests.conftest import run_cli
from tests.conftest import says

REPEATED = TINY_TASK.replace("n_trials = 2", "n_trials = 3\nrepeats = 3\nconfirm_top = 2")


def _draws(mean: float, n: int, rng: random.Random, spread: float = 0.01) -> list[float]:
    return [rng.gauss(mean, spread) for _ in range(n)]


def test_identical_distributions_tie_and_a_clearly_better_one_ranks_above():
    rng = random.Random(7)
    tied = [summarize(_draws(0.90, 5, rng)) for _ in range(3)]
    better = summarize(_draws(0.95, 5, rng))
    worse = summarize(_draws(0.80, 5, rng))
    ranked = sorted([*tied, better, worse], key=lambda s: -s.mean)
    ranks = rank_groups(ranked)
    assert ranks[0] == 1 and ranked[0] is better
    assert ranks[1] == ranks[2] == ranks[3] == 2  # the three planted twins share one rank
    assert ranks[4] == 5
    one = summarize([0.9])
    assert (one.n, one.low, one.high) == (1, None, None)
    interval = summarize([0.90, 0.92, 0.91])
    assert interval.low < 0.91 < interval.high


def test_holm_correction_keeps_a_tie_that_many_comparisons_would_break_by_chance():
    # 20 configurations drawn from one distribution: uncorrected 5% tests would split some off
    rng = random.Random(3)
    same = sorted((summarize(_draws(0.9, 4, rng)) for _ in range(20)), key=lambda s: -s.mean)
    assert set(rank_groups(same)) == {1}


def _trials(db):
    with sqlite3.connect(db) as con:
        return con.execute("SELECT number, status, seed, config_key, repeat_of "
                           "FROM harness_trials ORDER BY number").fetchall()


def test_repeats_train_the_top_configurations_under_distinct_recorded_seeds(write_task,
                                                                             tmp_path):
    task = write_task(REPEATED)
    db = tmp_path / "r.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert says(proc.stdout, "3/3 of the budget finished, 4 repeat(s)")
    rows = _trials(db)
    search = [r for r in rows if r[4] is None]
    repeats = [r for r in rows if r[4] is not None]
    assert len(search) == 3 and len(repeats) == 4
    by_config: dict[str, list[int]] = {}
    for _, status, seed, key, _ in rows:
        assert status == "complete"
        by_config.setdefault(key, []).append(seed)
    confirmed = [seeds for seeds in by_config.values() if len(seeds) > 1]
    assert sorted(sorted(s) for s in confirmed) == [[0, 1, 2], [0, 1, 2]]
    # the confirmed ones are the search's two best
    board = json.loads(run_cli("leaderboard", "--db", str(db), "--format", "json").stdout)
    assert {row["seeds"] for row in board} <= {1, 3}
    top = [row for row in board if row["seeds"] == 3]
    assert top and all(row["seed_values"] == [0, 1, 2] for row in top)
    assert all(row["val_accuracy_ci_low"] <= row["val_accuracy"] <= row["val_accuracy_ci_high"]
               for row in top)
    # running again adds nothing: every repeat is there
    again = run_cli("run", str(task), "--db", str(db))
    assert again.returncode == 0 and len(_trials(db)) == 7


@pytest.mark.slow  # two real processes
def test_confirm_only_adds_the_repeats_to_a_finished_search_and_survives_two_processes(
        write_task, tmp_path):
    db = tmp_path / "r.db"
    plain = write_task(TINY_TASK.replace("n_trials = 2", "n_trials = 3"), name="plain.toml")
    assert run_cli("run", str(plain), "--db", str(db)).returncode == 0
    task = write_task(REPEATED.replace("confirm_top = 2", "confirm_top = 3"))
    cmd = [sys.executable, "-m", "harness", "run", str(task), "--db", str(db), "--confirm-only"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    rows = _trials(db)
    assert len(rows) == 3 + 3 * 2  # no search trial added, no seed run twice
    pairs = [(key, seed) for _, _, seed, key, _ in rows]
    assert len(set(pairs)) == len(pairs)


@pytest.mark.parametrize(("budget", "expected"), [
    ("repeats = 0", "budget.repeats"),
    ("repeats = 3\nconfirm_top = 5", "budget.confirm_top"),
])
def test_bad_repeat_settings_are_one_line_and_exit_2(write_task, budget, expected):
    task = write_task(TINY_TASK.replace("n_trials = 2", f"n_trials = 2\n{budget}"))
    proc = run_cli("validate", str(task))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr


def test_confirm_only_refuses_what_it_cannot_do_and_writes_nothing(write_task, tmp_path):
    db = tmp_path / "r.db"
    missing = run_cli("run", str(write_task(REPEATED)), "--db", str(db), "--confirm-only")
    assert missing.returncode == 2 and "no results database" in missing.stderr
    assert not db.exists()
    one = write_task(TINY_TASK.replace("n_trials = 2", "n_trials = 1"), name="one.toml")
    assert run_cli("run", str(one), "--db", str(db)).returncode == 0
    before = _trials(db)
    too_few = run_cli("run", str(write_task(REPEATED)), "--db", str(db), "--confirm-only")
    assert too_few.returncode == 2
    assert "has 1 finished search trial(s); confirm_top = 2" in too_few.stderr
    no_repeats = run_cli("run", str(one), "--db", str(db), "--confirm-only")
    assert no_repeats.returncode == 2 and "repeats of 2 or more" in no_repeats.stderr
    assert _trials(db) == before


def test_an_overlap_of_seed_intervals_is_noise_for_the_ci_gate():
    from harness._report.compare import Delta

    def delta(before, after):
        return Delta("s", "cpu", "a", "o", "val_accuracy", 0.90, 0.88, None, None, True,
                     before, after)

    assert delta((0.85, 0.95), (0.86, 0.90)).within_noise
    assert not delta((0.89, 0.91), (0.87, 0.885)).within_noise
    assert not delta(None, (0.86, 0.90)).within_noise  # a single seed: no interval, no excuse


def test_compare_fails_only_outside_the_seed_intervals(write_task, tmp_path):
    from harness._report.compare import compare_boards
    from harness._store import ResultsStore

    db = tmp_path / "r.db"
    for name, seed in (("a", 0), ("b", 10)):
        task = write_task(REPEATED.replace('name = "tiny"', f'name = "{name}"').replace(
            "seed = 0", f"seed = {seed}"), name=f"{name}.toml")
        assert run_cli("run", str(task), "--db", str(db)).returncode == 0
    store = ResultsStore(f"sqlite:///{db}")
    try:
        deltas = compare_boards(store.engine, store.engine, "a", "b")
    finally:
        store.close()
    assert any(d.before_interval is not None for d in deltas)
    proc = run_cli("compare", "a", "b", "--db", str(db), "--fail-if-worse", "0")
    should_fail = any(d.worse_pct > 0 and not d.within_noise for d in deltas)
    assert proc.returncode == (1 if should_fail else 0), proc.stdout
    noisy = sum(d.worse_pct > 0 and d.within_noise for d in deltas)
    assert proc.stdout.count("within seed noise") == noisy


def test_budget_per_gives_every_group_an_equal_share_and_its_own_sampler(write_task, tmp_path):
    task = write_task(TINY_TASK.replace("n_trials = 2", "n_trials = 6")
                      .replace('sampler = "random"', 'sampler = "tpe"\nbudget_per = "optimizer"')
                      .replace('optimizers = ["adamw", "sgd"]',
                               'optimizers = ["adamw", "sgd", "adam"]'))
    db = tmp_path / "r.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as con:
        counts = dict(con.execute("SELECT optimizer, count(*) FROM harness_trials "
                                  "GROUP BY optimizer"))
    assert counts == {"adam": 2, "adamw": 2, "sgd": 2}
    report = tmp_path / "report"
    assert run_cli("report", "--db", str(db), "--out", str(report)).returncode == 0
    board = json.loads((report / "leaderboard.json").read_text())[0]["leaderboards"][0]
    assert board["ruleset"] == "equal trial budget and own sampler per optimizer"
    assert "ruleset: equal trial budget" in (report / "report.html").read_text()


def test_a_group_sampler_sees_only_its_group():
    import optuna

    from harness._plan.grouped import GroupView

    study = optuna.create_study()
    for opt, x in (("sgd", 1.0), ("adam", 2.0), ("sgd", 3.0)):
        study.enqueue_trial({"optimizer": opt, "x": x})
        trial = study.ask()
        trial.suggest_categorical("optimizer", ["sgd", "adam"])
        study.tell(trial, trial.suggest_float("x", 0, 5))
    view = GroupView(study, {"optimizer": "sgd"})
    assert [t.params["x"] for t in view.get_trials()] == [1.0, 3.0]
    assert [t.params["x"] for t in view._get_trials(deepcopy=False)] == [1.0, 3.0]


def test_budget_per_refuses_shares_that_cannot_be_equal(write_task):
    task = write_task(TINY_TASK.replace("n_trials = 2", "n_trials = 3")
                      .replace('sampler = "random"', 'sampler = "random"\n'
                                                     'budget_per = "optimizer"'))
    proc = run_cli("validate", str(task))
    assert proc.returncode == 2
    assert "budget.n_trials" in proc.stderr and "multiple of 2" in proc.stderr


def test_a_profile_over_three_studies_has_the_documented_shape(write_task, tmp_path):
    db = tmp_path / "r.db"
    for i in range(3):
        task = write_task(TINY_TASK.replace('name = "tiny"', f'name = "s{i}"')
                          .replace("seed = 0", f"seed = {i}")
                          .replace("n_trials = 2", "n_trials = 4")
                          # every optimizer in every study
                          .replace('sampler = "random"', 'sampler = "random"\n'
                                                         'budget_per = "optimizer"'),
                          name=f"s{i}.toml")
        assert run_cli("run", str(task), "--db", str(db)).returncode == 0
    out = tmp_path / "report"
    assert run_cli("report", "--db", str(db), "--out", str(out)).returncode == 0
    profiles = {p["dimension"]: p for p in json.loads((out / "profiles.json").read_text())}
    assert set(profiles) == {"architecture", "optimizer"}
    opt = profiles["optimizer"]
    assert opt["studies"] == ["s0", "s1", "s2"]
    groups = sorted(opt["profile"])
    assert opt["taus"][0] == 1.0 and opt["taus"] == sorted(opt["taus"])
    for curve in opt["profile"].values():
        assert len(curve) == len(opt["taus"])
        assert all(0.0 <= a <= b <= 1.0 for a, b in zip(curve, curve[1:], strict=False))
    # each study has a best group (ratio 1), and every group is in every study here
    assert sum(opt["profile"][g][0] for g in groups) * 3 >= 3
    assert all(opt["profile"][g][-1] == 1.0 for g in groups)
    ranks = [r for g in groups for r in opt["ranks"][g]]
    assert all(1 <= r <= len(groups) for r in ranks)
    # average ranks keep their sum per study: 1 + 2 + ... + n
    assert sum(ranks) == pytest.approx(3 * len(groups) * (len(groups) + 1) / 2)
    means = {g: v["mean"] for g, v in opt["mean_rank"].items()}
    assert means == pytest.approx({g: sum(opt["ranks"][g]) / 3 for g in groups})
    assert "## Across studies" in (out / "report.md").read_text()
    assert "Performance profile per optimizer" in (out / "report.html").read_text()
