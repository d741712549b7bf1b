"""``[constraints]``: infeasible models never train, feasible rows rank first, numerics are
set and recorded."""

from __future__ import annotations

import json
import sqlite3

import optuna
import pytest

from harness._config import parse_config
from harness._constraints import Constraint
from harness._constraints import check
from harness._constraints import parse_limit
from harness._errors import ConfigError
from tests.conftest import TINY_TASK
from tests.conftest import invoke
from tests.conftest import says

CONSTRAINED = TINY_TASK.replace(
    'architectures = ["small_cnn"]', 'architectures = ["small_cnn", "resnet10t", "slow_net"]'
).replace("n_trials = 2", "n_trials = 8").replace(
    'threads = 1', 'threads = 1\ntf32 = true\ncudnn_benchmark = true\ndeterministic = true'
) + """
[constraints]
params_m = 1
infer_ms_p90 = 20
"""


def test_limits_parse_with_the_comparison_a_figure_implies():
    assert parse_limit("params_m", 5) == Constraint("params_m", "<=", 5.0)
    assert parse_limit("train_samples_per_s", 500) == Constraint("train_samples_per_s", ">=",
                                                                   500.0)
    assert parse_limit("infer_ms_p90", "< 10") == Constraint("infer_ms_p90", "<", 10.0)
    assert "not a figure" in str(parse_limit("latency", 3))
    assert "expected a number" in str(parse_limit("params_m", "five"))


def test_a_verdict_names_the_figure_and_the_limit():
    verdict = check((Constraint("params_m", "<=", 5.0), Constraint("gflops", "<=", 1.0)),
                    {"params_m": 11.2, "gflops": None})
    assert not verdict.feasible
    assert verdict.broken() == "params_m 11.2 breaks <= 5"
    assert "gflops" not in verdict.results  # unknown figures are not judged
    assert verdict.results["params_m"]["violation"] == pytest.approx(6.2 / 5)
    assert check((Constraint("params_m", "<", 5.0),), {"params_m": 5.0}).results[
        "params_m"]["violation"] > 0  # a strict limit met exactly is broken


def test_a_bad_constraint_is_one_line_naming_the_key(tmp_path):
    text = TINY_TASK + '\n[constraints]\nparams = 5\n'
    with pytest.raises(ConfigError, match=r"constraints\.params: .*did you mean 'params_m'"):
        parse_config(text, source="task.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"constraints\.infer_ms_p90: expected a number"):
        parse_config(TINY_TASK + '\n[constraints]\ninfer_ms_p90 = "ten"\n',
                     source="task.toml", base_dir=tmp_path)


@pytest.mark.slow
def test_models_that_break_a_limit_are_pruned_before_training(write_task, tmp_path,
                                                               fake_plugin_path):
    db = tmp_path / "results.db"
    ran = invoke("run", str(write_task(CONSTRAINED)), "--db", str(db),
                 extra_path=fake_plugin_path)
    assert ran.returncode == 0, ran.stderr
    assert says(ran.stdout, "broke [constraints] before training")
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT t.architecture, t.status, t.fail_reason, t.feasible, t.constraints, "
            "t.hardware, t.environment, (SELECT count(*) FROM harness_epochs e "
            "WHERE e.trial_id = t.id) FROM harness_trials t").fetchall()
    by_arch = {arch for arch, *_ in rows}
    assert by_arch == {"small_cnn", "resnet10t", "slow_net"}  # the seed draws all three
    for arch, status, reason, feasible, constraints, hardware, env, epochs in rows:
        stored = json.loads(constraints)
        if arch == "small_cnn":
            assert status == "complete" and feasible == 1 and epochs == 1
            assert stored["params_m"]["holds"] and stored["infer_ms_p90"]["holds"]
        else:  # never trained: no epoch stored, the figure and the limit in the reason
            assert status == "pruned" and feasible == 0 and epochs == 0
            figure = "params_m" if arch == "resnet10t" else "infer_ms_p90"
            assert f"infeasible before training: {figure} " in reason
            assert f"breaks <= {1 if arch == 'resnet10t' else 20}" in reason
            assert not stored[figure]["holds"]
        # the numerics asked for are set, recorded, and part of the hardware class
        assert hardware.endswith("+tf32 +cudnn.benchmark +deterministic | fp32")
        assert json.loads(env)["numerics"] == {
            "float32_matmul_precision": "high", "cudnn_allow_tf32": True,
            "cudnn_benchmark": True, "deterministic": True}
    # the sampler saw each trial's constraint values (≤ 0: holds)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    for trial in study.trials:
        values = trial.user_attrs["constraints"]
        arch = trial.user_attrs["architecture"]
        assert (max(values) <= 0) == (arch == "small_cnn")


def test_rows_that_break_a_limit_rank_after_feasible_ones(tiny_study):
    with sqlite3.connect(tiny_study) as con:
        best = con.execute(
            "SELECT t.number FROM harness_trials t JOIN harness_metrics m ON m.trial_id = t.id "
            "WHERE m.split = 'val' AND m.name = 'accuracy' ORDER BY m.value DESC").fetchone()[0]
        broken = {"params_m": {"value": 7.5, "op": "<=", "limit": 5.0, "holds": False,
                               "violation": 0.5}}
        con.execute("UPDATE harness_trials SET feasible = 0, constraints = ? WHERE number = ?",
                    (json.dumps(broken), best))
        con.execute("UPDATE harness_trials SET feasible = 1 WHERE number != ?", (best,))
    # small_cnn with two optimizers: each trial is its own row; the better one now ranks last
    ran = invoke("leaderboard", "--db", str(tiny_study), "--format", "json")
    rows = json.loads(ran.stdout)
    assert [r["trial"] for r in rows][-1] == best and rows[-1]["feasible"] is False
    assert rows[-1]["broken"] == "params_m 7.5 (limit <= 5)"
    table = " ".join(invoke("leaderboard", "--db", str(tiny_study)).stdout.split())
    assert "✗ params_m" in table and "ranked after every row that meets them" in table
    markdown = invoke("leaderboard", "--db", str(tiny_study), "--format", "md").stdout
    assert "✗ params_m 7.5 (limit &lt;= 5)" in markdown
    lines = [line for line in invoke("leaderboard", "--db", str(tiny_study), "--format",
                                     "csv").stdout.splitlines() if line]
    assert "feasible" in lines[0] and "False" in lines[-1]
