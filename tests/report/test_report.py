"""Reports on a small real study: every format's content, Pareto membership, escaping, the
HTML in a real headless browser, and `harness compare` exit codes both ways."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness._records import TrialPlan
from harness._report.data import gather
from harness._report.pareto import pareto_mask
from harness._store import ResultsStore
from harness._store import TrialContext
from tests.conftest import TINY_TASK
from tests.conftest import chromium
from tests.conftest import run_cli
from tests.core.test_store import _result
from tests.core.test_store import _study

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def study_db(tmp_path_factory, fake_plugin_site):
    tmp = tmp_path_factory.mktemp("study")
    text = TINY_TASK.replace('architectures = ["small_cnn"]',
                             f'architectures = ["small_cnn", "{HOSTILE}", "nan_net"]').replace(
        "n_trials = 2", "n_trials = 8").replace('pruner = "none"', 'pruner = "none"')
    task = tmp / "task.toml"
    task.write_text(text)
    db = tmp / "r.db"
    proc = run_cli("run", str(task), "--db", str(db), extra_path=fake_plugin_site)
    assert proc.returncode == 0, proc.stderr
    return db


@pytest.fixture(scope="module")
def fake_plugin_site(tmp_path_factory):
    from tests.conftest import FAKE_PLUGIN
    from tests.conftest import install_distribution

    return install_distribution(tmp_path_factory.mktemp("site"), "harness-fake",
                                "harness_fake", FAKE_PLUGIN, "fake")


@pytest.fixture(scope="module")
def report_dir(study_db, fake_plugin_site, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = run_cli("report", "--db", str(study_db), "--out", str(out),
                   extra_path=fake_plugin_site)
    assert proc.returncode == 0, proc.stderr
    return out


def test_every_format_is_written_with_the_leaderboard_rows(study_db, report_dir):
    expected = json.loads(run_cli("leaderboard", "--db", str(study_db), "--format",
                                  "json").stdout)
    assert expected and any(r["architecture"] == HOSTILE for r in expected)
    boards = json.loads((report_dir / "leaderboard.json").read_text())
    (study,) = boards
    rows = [r for b in study["leaderboards"] for r in b["rows"]]
    assert [r["trial"] for r in rows] == [r["trial"] for r in expected]
    assert study["counts"]["failed"] >= 1  # nan_net
    leaderboard_csv = list(csv.DictReader((report_dir / "leaderboard.csv").open()))
    assert [int(r["trial"]) for r in leaderboard_csv] == [r["trial"] for r in expected]
    trials = list(csv.DictReader((report_dir / "trials.csv").open()))
    assert len(trials) == 8 and {t["status"] for t in trials} >= {"complete", "failed"}
    markdown = (report_dir / "report.md").read_text()
    for row in expected:
        assert f"| {row['rank']} | {row['trial']} |" in markdown
    assert HOSTILE not in markdown and "&lt;script&gt;" in markdown
    for png in ("tiny-pareto.png", "tiny-history.png"):
        assert (report_dir / png).stat().st_size > 1000
        assert f"]({png})" in markdown


def test_html_is_self_contained_and_escaped(report_dir, study_db):
    page = (report_dir / "report.html").read_text()
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "src=\"http" not in page and "src='http" not in page  # plotly.js is inline
    assert page.count("class='figure'") >= 3
    for section in ("Leaderboard —", "Validation accuracy vs throughput", "Best per architecture",
                    "Best per optimizer", "Optimisation history",
                    "Optimisation history against compute seconds", "Learning-rate sensitivity",
                    "Validation curves", "Failed and pruned trials", "Environment and hardware",
                    "loss became nan"):
        assert section in page


def test_pareto_front_matches_a_brute_force_check(study_db):
    store = ResultsStore(f"sqlite:///{study_db}")
    (report,) = gather(store.engine)
    store.close()
    points = report.points
    assert points

    def dominated(p):
        return any(q["score"] >= p["score"] and q["infer_samples_per_s"] >= p[
            "infer_samples_per_s"] and (q["score"] > p["score"] or q["infer_samples_per_s"] >
                                        p["infer_samples_per_s"]) for q in points)

    assert {p["trial"] for p in points if p["pareto"]} == {
        p["trial"] for p in points if not dominated(p)}


def test_history_counts_compute_seconds_of_every_trial(study_db):
    import sqlite3

    store = ResultsStore(f"sqlite:///{study_db}")
    (report,) = gather(store.engine)
    store.close()
    con = sqlite3.connect(study_db)
    durations = [d or 0.0 for (d,) in con.execute(
        "SELECT duration_s FROM harness_trials ORDER BY number")]
    con.close()
    spent = [row[3] for row in report.history]
    # a running sum over every trial, failed ones included
    assert spent == pytest.approx([sum(durations[:i + 1]) for i in range(len(durations))])
    assert [row[2] for row in report.history].count("failed") >= 1


def test_pareto_mask_on_handmade_points():
    quality = [0.9, 0.8, 0.95, 0.7, 0.9]
    speed = [100, 200, 50, 150, 100]
    assert pareto_mask(quality, speed).tolist() == [True, True, True, False, True]
    assert pareto_mask([1.0, 2.0], [5, 5], maximize_quality=False).tolist() == [True, False]


@pytest.mark.slow  # starts Chromium
def test_html_renders_in_a_real_headless_browser(report_dir):
    page = (report_dir / "report.html").resolve()
    shot = report_dir / "screenshot.png"
    dom = chromium("--dump-dom", page.as_uri(), profile=report_dir / "profile")
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "Error" in line], console
    figures = (report_dir / "report.html").read_text().count("class='figure'")
    assert f'data-rendered="{figures}"' in dom.stdout
    assert dom.stdout.count("class=\"main-svg\"") >= figures  # Plotly drew every figure
    chromium("--window-size=1300,3800", f"--screenshot={shot}", page.as_uri(),
             profile=report_dir / "profile")
    assert shot.stat().st_size > 50_000


def _db_with(path: Path, name: str, acc: float, speed: float) -> str:
    from dataclasses import replace

    store = ResultsStore(f"sqlite:///{path}")
    study_id = _study(store, name)
    context = TrialContext("cpu: x", "h" * 64, {})
    plan = TrialPlan(0, 0, "small_cnn", "adamw", "cosine", 32, {}, {"lr": 0.01})
    trial_id = store.start_trial(study_id, plan, context)
    result = _result(plan, acc)
    result = replace(result, inference=replace(result.inference, samples_per_s=speed))
    store.finish_trial(trial_id, result)
    store.close()
    return str(path)


def test_compare_exit_codes_both_ways(tmp_path):
    a = _db_with(tmp_path / "a.db", "s", 0.90, 100.0)
    b = _db_with(tmp_path / "b.db", "s", 0.81, 60.0)  # 10% worse, 40% slower
    ok = run_cli("compare", a, b)
    assert ok.returncode == 0 and "small_cnn · adamw" in ok.stdout and "-40.0%" in ok.stdout
    assert run_cli("compare", a, b, "--fail-if-worse", "5").returncode == 1
    assert run_cli("compare", a, b, "--fail-if-worse", "15").returncode == 0
    slower = run_cli("compare", a, b, "--fail-if-slower", "30")
    assert slower.returncode == 1 and "SLOWER > 30%" in slower.stdout
    assert run_cli("compare", a, b, "--fail-if-slower", "50").returncode == 0
    assert run_cli("compare", b, a, "--fail-if-worse", "5", "--fail-if-slower", "1"
                   ).returncode == 0  # the other way round B is better and faster


def test_compare_two_studies_in_one_database(tmp_path):
    path = tmp_path / "one.db"
    _db_with(path, "before", 0.90, 100.0)
    _db_with(path, "after", 0.95, 120.0)
    proc = run_cli("compare", "before", "after", "--db", str(path), "--fail-if-worse", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    missing = run_cli("compare", "before", "nope", "--db", str(path))
    assert missing.returncode == 1 and "nothing to compare" in missing.stderr


def test_headings_name_the_studys_own_objective(tmp_path):
    """A forecasting study ranked by MASE said "Accuracy vs throughput" in both reports."""
    from dataclasses import replace

    from harness._report.writer import write_report

    store = ResultsStore(f"sqlite:///{tmp_path / 'f.db'}")
    study_id = store.ensure_study(name="co2", task="forecasting", dataset="co2",
                                  objectives=[{"name": "mase", "column": "val_mase",
                                               "direction": "minimize"}],
                                  config={}, space_hash="h" * 64)
    context = TrialContext("cpu: x", "h" * 64, {})
    for number, mase in enumerate((0.4, 0.3, 0.5)):
        plan = TrialPlan(number, 0, "mlp", "adam", "constant", 32, {}, {"lr": 0.01})
        trial_id = store.start_trial(study_id, plan, context)
        base = _result(plan)
        store.finish_trial(trial_id, replace(base, val_metrics={"mase": mase},
                                             test_metrics={"mase": mase}))
    written = write_report(store.engine, tmp_path / "out", ["html", "md"], db=store.safe_url)
    store.close()
    html = next(p for p in written if p.name == "report.html").read_text()
    md = next(p for p in written if p.name == "report.md").read_text()
    assert "mase vs throughput" in html and "mase vs throughput" in md
    assert "Accuracy vs throughput" not in html and "accuracy vs throughput" not in md.lower()
