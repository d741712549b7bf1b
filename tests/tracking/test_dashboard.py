"""optuna-dashboard shows a harness study as harness sees it: its objective by name, and
each trial's architecture, optimizer, test metrics and speed — served by optuna-dashboard's
own server over HTTP, and drawn in a real browser."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.api as hx
from tests.conftest import chromium
from tests.conftest import free_port
from tests.conftest import serving


@pytest.fixture
def dashboard(tiny_study: Path) -> Iterator[str]:
    port = free_port()
    command = [shutil.which("optuna-dashboard") or "optuna-dashboard",
               f"sqlite:///{tiny_study}", "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, port, ready="/api/studies") as url:
        yield url


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_the_dashboard_names_the_objective_and_shows_what_each_trial_was(dashboard,
                                                                          tiny_study):
    (summary,) = _get(f"{dashboard}/api/studies")["study_summaries"]
    assert summary["study_name"] == "tiny"
    detail = _get(f"{dashboard}/api/studies/{summary['study_id']}")
    assert detail["objective_names"] == ["val_accuracy"]  # not "Objective 0"
    trials = hx.trials(tiny_study, study="tiny").set_index("number")
    assert len(detail["trials"]) == len(trials) == 2
    for trial in detail["trials"]:
        shown = {a["key"]: a["value"] for a in trial["user_attrs"]}
        row = trials.loc[trial["number"]]
        assert shown["architecture"] == row.architecture
        assert shown["optimizer"] == row.optimizer
        assert shown["scheduler"] == row.scheduler
        assert float(shown["test_accuracy"]) == pytest.approx(row.test_accuracy)
        assert float(shown["train_samples_per_s"]) == pytest.approx(row.train_samples_per_s)
        assert float(shown["infer_samples_per_s"]) == pytest.approx(row.infer_samples_per_s)
        assert trial["values"] == [pytest.approx(row.val_accuracy)]


@pytest.mark.slow  # starts Chromium
def test_the_dashboard_page_labels_the_objective_in_a_real_browser(dashboard, tmp_path):
    page = chromium("--dump-dom", f"{dashboard}/dashboard/studies/1", profile=tmp_path)
    assert "val_accuracy" in page.stdout
    assert "Objective 0" not in page.stdout
