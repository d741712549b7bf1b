"""examples/harness-plugin-example, installed with pip into a temp dir, used by a real study."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.conftest import run_cli
from tests.conftest import says

pytestmark = pytest.mark.slow
EXAMPLE = REPO / "examples" / "harness-plugin-example"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    # Build from a copy: setuptools leaves build/ and *.egg-info/ beside the sources.
    source = tmp_path_factory.mktemp("src") / "harness-plugin-example"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    # --no-deps: harness itself is already installed; --no-build-isolation: no index needed.
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", "--target", str(site), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(site.glob("harness_plugin_example-*.dist-info"))
    return site


def test_example_plugin_is_discovered_and_conforms(example_site):
    shown = run_cli("plugins", "show", "example", "--json", extra_path=example_site, process=True)
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["distribution"] == "harness-plugin-example"
    assert {(i["kind"], i["name"]) for i in info["registers"]} == {
        ("task", "vector_classification"), ("dataset", "blobs"), ("dataset", "stripes"),
        ("architecture", "example_mlp"), ("optimizer", "example_adamax"),
        ("sampler", "example_sobol")}
    checked = run_cli("plugins", "check", "example", extra_path=example_site, process=True)
    assert checked.returncode == 0, checked.stdout
    assert says(checked.stdout, "0 failed")


@pytest.fixture(scope="module")
def blobs_db(example_site, tmp_path_factory):
    db = tmp_path_factory.mktemp("blobs") / "e.db"
    proc = run_cli("run", str(EXAMPLE / "blobs.toml"), "--db", str(db),
                   extra_path=example_site, process=True)
    assert proc.returncode == 0, proc.stderr
    return db


def test_study_uses_all_four_contributions(example_site, blobs_db):
    db = blobs_db
    rows = json.loads(run_cli("leaderboard", "--db", str(db), "--format", "json",
                              extra_path=example_site, process=True).stdout)
    assert {r["architecture"] for r in rows} == {"example_mlp"}
    assert {r["optimizer"] for r in rows} == {"example_adamax"}
    assert max(r["val_accuracy"] for r in rows) > 0.5  # four blobs: chance is 0.25


def test_its_sampler_is_replayed_on_an_exported_study(example_site, blobs_db, tmp_path):
    box = tmp_path / "blobs.json"
    exported = run_cli("export", "--db", str(blobs_db), "--study", "example-blobs",
                       "--out", str(box), extra_path=example_site, process=True)
    assert exported.returncode == 0, exported.stderr
    out = tmp_path / "replay"
    proc = run_cli("replay", str(box), "--candidate", "example_sobol/none", "--seeds", "3",
                   "--out", str(out), extra_path=example_site, process=True)
    assert proc.returncode == 0, proc.stderr
    assert "| example_sobol/none |" in proc.stdout
    curves = json.loads((out / "replay.json").read_text())["curves"]
    assert set(curves) == {"random/none", "example_sobol/none"}
    # Without the plugin the same name is an unknown sampler: one line, exit 2.
    missing = run_cli("replay", str(box), "--candidate", "example_sobol/none")
    assert missing.returncode == 2 and "example_sobol" in missing.stderr, missing.stderr


def test_its_dataset_for_the_builtin_classification_task_trains(example_site, tmp_path):
    db = tmp_path / "s.db"
    proc = run_cli("run", str(EXAMPLE / "stripes.toml"), "--db", str(db),
                   extra_path=example_site, process=True)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(run_cli("leaderboard", "--db", str(db), "--format", "json",
                              extra_path=example_site, process=True).stdout)
    assert max(r["val_accuracy"] for r in rows) > 0.5  # four orientations: chance is 0.25


def test_example_tests_subclass_the_kit(example_site):
    env = {**os.environ, "PYTHONPATH": str(example_site)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(EXAMPLE / "tests")], capture_output=True, text=True, env=env,
                          timeout=300, cwd=EXAMPLE)
    assert proc.returncode == 0, proc.stdout
    assert says(proc.stdout, "5 passed")
