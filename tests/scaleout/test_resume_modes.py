"""Resume modes of `harness run`: continue, --retry-failed, refuse a changed search space, and
--new-study."""

from __future__ import annotations

from tests.conftest import run_cli
from tests.conftest import says
from tests.scaleout.conftest import assert_consistent
from tests.scaleout.conftest import study_state


def test_continue_retry_failed_refuse_and_new_study(write_task, tmp_path, fake_plugin_path):
    task = write_task(replace=(('architectures = ["small_cnn"]', 'architectures = ["flaky_mlp"]'),
                               ("[search.space.small_cnn]\nwidth = 8\ndepth = 1\ndropout = 0.0\n",
                                "")))
    db = tmp_path / "resume.db"
    url = f"sqlite:///{db}"

    def run(*args: str, flaky: bool = False):
        return run_cli("run", str(task), "--db", str(db), *args, extra_path=fake_plugin_path,
                       env={"HARNESS_FAKE_FLAKY": "1"} if flaky else {"HARNESS_FAKE_FLAKY": ""})

    first = run(flaky=True)
    assert first.returncode == 0, first.stderr
    assert says(first.stdout, "0 complete, 0 pruned, 2 failed")

    again = run()  # continue: the budget is finished, failed trials count
    assert says(again.stdout, "ran 0 trial(s)") and says(again.stdout, "2/2 of the budget")

    retried = run("--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert says(retried.stdout, "ran 2 trial(s)") and says(retried.stdout, "2 complete")
    state = study_state(url, "tiny")
    assert_consistent(state)
    failed = [r for r in state.rows if r["status"] == "failed"]
    assert len(failed) == 2 and all(r["retried"] for r in failed)
    assert [r["status"] for r in state.counted()] == ["complete", "complete"]
    by_number = {t.number: t for t in state.optuna}
    for row in failed:  # each re-run has exactly the failed trial's hyperparameters
        rerun = next(t for t in state.optuna if t.user_attrs.get("harness_retry_of")
                     == row["number"])
        assert rerun.params == by_number[row["number"]].params

    before = study_state(url, "tiny").rows
    task.write_text(task.read_text().replace("lr = [1e-3, 1e-2]", "lr = [1e-4, 1e-2]"))
    refused = run()
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: {task}: study 'tiny' in {url} was created from a task file with a different "
        "search space (search.hparams.lr changed); continuing it would mix incomparable "
        "trials — pass --new-study to start a new study beside it, or --study NAME"]
    assert study_state(url, "tiny").rows == before

    fresh = run("--new-study", "--n-trials", "1")
    assert fresh.returncode == 0, fresh.stderr
    assert "starting a new study 'tiny-2'" in fresh.stderr
    assert len(study_state(url, "tiny-2").rows) == 1
    assert study_state(url, "tiny").rows == before

    more = run("--n-trials", "3", "--study", "tiny-2")  # a budget change is not a new space
    assert more.returncode == 0, more.stderr
    assert len(study_state(url, "tiny-2").rows) == 3
