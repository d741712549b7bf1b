"""Sampler and pruner options: checked by name, type and construction before anything runs;
a sampler or pruner that still fails mid-study stops the run with one line and leaves no trial
running in either bookkeeper."""

from __future__ import annotations

import optuna
import pytest
from click.testing import CliRunner

from harness._cli import main
from tests.conftest import assert_one_line_error
from tests.scaleout.conftest import study_state


@pytest.mark.parametrize(("options", "fragments"), [
    ('[search.sampler_options]\nn_startup_trials = "not-a-number"\n',
     ["search.sampler_options.n_startup_trials", "expects int", "str 'not-a-number'"]),
    ("[search.sampler_options]\nmultivariate = 1\n",
     ["search.sampler_options.multivariate", "expects bool | None", "int 1"]),
    ("[search.sampler_options]\ngamma = 3\n",
     ["search.sampler_options.gamma", "which a task file cannot give"]),
    ("[search.sampler_options]\nn_startup_trial = 3\n",
     ["search.sampler_options.n_startup_trial", "did you mean 'n_startup_trials'"]),
    ("[search.pruner_options]\npercentile = true\n",
     ["search.pruner_options.percentile", "expects float"]),
])
def test_validate_checks_option_types(write_task, options, fragments):
    task = write_task(replace=(('sampler = "random"', 'sampler = "tpe"'),
                               ('pruner = "none"', 'pruner = "percentile"')), append=options)
    result = CliRunner().invoke(main, ["validate", str(task)])
    assert_one_line_error(result, task, fragments)


def test_validate_catches_what_the_constructor_refuses(write_task):
    task = write_task(replace=(('sampler = "random"', 'sampler = "qmc"'),),
                      append='[search.sampler_options]\nqmc_type = "bogus"\n')
    result = CliRunner().invoke(main, ["validate", str(task)])
    assert_one_line_error(result, task, ["search.sampler_options", "sampler 'qmc' failed",
                                         "qmc_type='bogus'"])


def _nothing_running(db_url: str) -> None:
    state = study_state(db_url, "tiny")
    assert all(row["status"] != "running" for row in state.rows), state.rows
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in state.optuna), [
        (t.number, t.state) for t in state.optuna]


FAILING_SEARCH = """
import harness

def _sampler(request):
    import optuna

    class FailsAfterOne(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):
            if trial.number >= 1:
                raise ValueError("this sampler fails after its first trial on purpose")
            return super().sample_independent(study, trial, name, distribution)

    return FailsAfterOne(seed=request.seed)

def _pruner(request):
    import optuna

    class FailsWhenAsked(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return 1 / 0

    return FailsWhenAsked()

@harness.hookimpl
def register_samplers(register):
    register(harness.SamplerSpec("fails_after_one", _sampler, "fails mid-study on purpose"))

@harness.hookimpl
def register_pruners(register):
    register(harness.PrunerSpec("fails_when_asked", _pruner, "fails mid-trial on purpose"))
"""


@pytest.fixture
def failing_search(install_plugin):
    return install_plugin("harness-failing", "harness_failing", FAILING_SEARCH, "failing")


def test_a_sampler_failing_mid_study_is_one_line_and_orphans_nothing(write_task, db_url,
                                                                     failing_search):
    task = write_task(replace=(('sampler = "random"', 'sampler = "fails_after_one"'),
                               ("n_trials = 2", "n_trials = 3"),
                               ("threads = 1", "threads = 1\nworkers = 0")))
    result = CliRunner().invoke(main, ["run", str(task), "--db", db_url])
    assert_one_line_error(result, task, ["search.sampler", "sampler 'fails_after_one' failed",
                                         "ValueError"])
    state = study_state(db_url, "tiny")
    assert [r["status"] for r in state.rows] == ["complete"]  # the first trial is kept
    _nothing_running(db_url)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_pruner_failing_mid_trial_fails_that_trial_and_stops_with_one_line(
        write_task, db_url, failing_search, workers):
    # Two epochs: the pruner is asked after every epoch but the last. In this process or in
    # a worker, the same outcome.
    task = write_task(replace=(('pruner = "none"', 'pruner = "fails_when_asked"'),
                               ("epochs = 1", "epochs = 2"),
                               ("threads = 1", f"threads = 1\nworkers = {workers}")))
    result = CliRunner().invoke(main, ["run", str(task), "--db", db_url])
    assert_one_line_error(result, task, ["search.pruner", "pruner 'fails_when_asked' failed",
                                         "ZeroDivisionError"])
    state = study_state(db_url, "tiny")
    assert [r["status"] for r in state.rows] == ["failed"]
    assert "pruner 'fails_when_asked' failed" in state.rows[0]["fail_reason"]
    _nothing_running(db_url)


@pytest.mark.parametrize(("sampler", "option"), [("tpe", "n_ei_candidates = 0"),
                                                   ("cmaes", "popsize = 0")])
def test_values_a_sampler_cannot_run_with_are_refused_before_anything_runs(write_task, db_url,
                                                                           sampler, option):
    """Optuna's constructors accept them and fail at the first suggestion, mid-study."""
    task = write_task(replace=(('sampler = "random"', f'sampler = "{sampler}"'),),
                      append=f"[search.sampler_options]\n{option}\n")
    result = CliRunner().invoke(main, ["run", str(task), "--db", db_url])
    assert_one_line_error(result, task, ["search.sampler_options",
                                         f"{option.split()[0]} must be at least 1"])
