"""`harness export` and `harness replay`: blackboxes round-trip, replays are deterministic per
seed, the simulated clock gives the compute-to-target a hand count gives, and bad input is one
line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

import harness
from harness._cli import main
from harness._errors import UsageError
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._replay import replay_candidates
from harness._replay.blackbox import Blackbox
from harness._replay.blackbox import RecordedTrial
from harness._replay.blackbox import from_database
from harness._replay.blackbox import read_blackbox
from harness._replay.blackbox import write_blackbox
from harness._replay.simulate import Candidate
from harness._replay.simulate import replay
from tests.conftest import run_cli
from tests.conftest import says


class InOrder(optuna.samplers.BaseSampler):
    """Trial k takes choice k of every categorical: a sampler whose replay can be counted by
    hand."""

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, name, distribution):
        return distribution.choices[trial.number % len(distribution.choices)]


class Greedy(InOrder):
    """Repeats the best finished trial's choice (the first choice before any): what it gains
    from a warm start can be counted by hand."""

    def sample_independent(self, study, trial, name, distribution):
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not done:
            return distribution.choices[0]
        return max(done, key=lambda t: t.value).params[name]


class StopAll(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


class InOrderPlugin:
    harness_name = "in_order"

    @staticmethod
    @harness.hookimpl
    def register_samplers(register):
        register(harness.SamplerSpec("in_order", lambda request: InOrder()))
        register(harness.SamplerSpec("greedy", lambda request: Greedy()))

    @staticmethod
    @harness.hookimpl
    def register_pruners(register):
        register(harness.PrunerSpec("stop_all", lambda request: StopAll()))


def _toy() -> Blackbox:
    choices = optuna.distributions.CategoricalDistribution(["a", "b", "c"])
    trials = (RecordedTrial(0, "complete", {"x": "a"}, (0.5, 0.6), (1.0, 1.0), 0.6),
              RecordedTrial(1, "complete", {"x": "b"}, (0.7, 0.9), (2.0, 2.0), 0.9),
              RecordedTrial(2, "complete", {"x": "c"}, (0.3, 0.4), (1.0, 1.0), 0.4))
    return Blackbox("toy", "t", "d", "accuracy", "maximize", 2, {"x": choices}, trials, "test")


def test_compute_to_target_matches_a_hand_count():
    registry = load_registry(make_plugin_manager(extra=[InOrderPlugin()]))
    run = replay(_toy(), Candidate("in_order", "none"), registry, seed=0, budget_s=100,
                 max_trials=3)
    # a: 2 s, best 0.6; b: +4 s = 6 s, best 0.9; c: +2 s = 8 s, still 0.9
    assert run.points == [(2.0, 0.6), (6.0, 0.9), (8.0, 0.9)]
    assert run.time_to(0.9 - 0.005, maximize=True) == 6.0
    assert run.inexact == 0  # every configuration asked for was recorded


def test_replays_are_deterministic_per_seed_and_the_pruner_saves_compute():
    registry = load_registry(make_plugin_manager())
    box = _toy()
    tpe = Candidate("tpe", "none")
    first = replay(box, tpe, registry, seed=5, budget_s=60, max_trials=30)
    again = replay(box, tpe, registry, seed=5, budget_s=60, max_trials=30)
    assert first.points == again.points
    outcomes, budget, target = replay_candidates(box, [Candidate("tpe", "median")], registry,
                                                 seeds=3, budget_s=40)
    assert [o.candidate.label for o in outcomes] == ["random/none", "tpe/median"]
    assert budget == 40 and target == pytest.approx(0.895)


def test_a_blackbox_round_trips_through_parquet_and_json(tmp_path):
    box = _toy()
    for name in ("box.parquet", "box.json"):
        back = read_blackbox(write_blackbox(box, tmp_path / name))
        assert back.trials == box.trials and back.space == box.space
        assert (back.objective, back.direction, back.epochs) == ("accuracy", "maximize", 2)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> str:
    """A real (tiny) study: three trials, two epochs each."""
    from tests.conftest import TINY_TASK

    folder = tmp_path_factory.mktemp("recorded")
    task = folder / "task.toml"
    task.write_text(TINY_TASK.replace("n_trials = 2", "n_trials = 3").replace(
        "epochs = 1", "epochs = 2"))
    db = folder / "r.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    return str(db)


def test_export_of_a_stored_study_and_its_replay(recorded, tmp_path):
    out = tmp_path / "tiny.parquet"
    result = CliRunner().invoke(main, ["export", "--db", recorded, "--study", "tiny",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    box = read_blackbox(out)
    assert box.trials == from_database(f"sqlite:///{recorded}", "tiny").trials
    assert len(box.trials) == 3 and all(len(t.values) == 2 for t in box.trials)
    assert {"architecture", "optimizer", "lr"} <= set(box.space)
    replayed = CliRunner().invoke(main, ["replay", str(out), "--candidate", "tpe/median",
                                         "--seeds", "2", "--out", str(tmp_path / "r")])
    assert replayed.exit_code == 0, replayed.output
    assert "| random/none |" in replayed.output and "| tpe/median |" in replayed.output
    data = json.loads((tmp_path / "r" / "replay.json").read_text())
    assert len(data["curves"]["tpe/median"]["median"]) == 101
    assert (tmp_path / "r" / "anytime.png").stat().st_size > 1000


def _one_line(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_replays_are_one_line(recorded, tmp_path, write_task):
    runner = CliRunner()
    _one_line(runner.invoke(main, ["replay", "--db", recorded, "--study", "nope"]),
              "no study 'nope'")
    _one_line(runner.invoke(main, ["replay", "--db", recorded, "--study", "tiny",
                                   "--candidate", "tpee/median"]),
              "unknown sampler 'tpee'", "did you mean 'tpe'")
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "harness-blackbox/9", "trials": []}))
    _one_line(runner.invoke(main, ["replay", str(newer)]), "harness-blackbox/9",
              "upgrade harness")
    one = tmp_path / "one.json"
    box = _toy()
    write_blackbox(Blackbox(**{**box.__dict__, "trials": box.trials[:1]}), one)
    _one_line(runner.invoke(main, ["replay", str(one)]), "1 complete trial(s)", "at least 2")
    empty = tmp_path / "empty.json"
    write_blackbox(Blackbox(**{**box.__dict__, "trials": ()}), empty)
    _one_line(runner.invoke(main, ["replay", str(empty)]), "0 complete trial(s)")
    multi = write_task(name="multi.toml", replace=(
        ("seed = 0", 'seed = 0\nobjectives = ["accuracy", "infer_samples_per_s"]'),
        ('name = "tiny"', 'name = "multi"'), ("n_trials = 2", "n_trials = 1")))
    db = Path(recorded).with_name("multi.db")
    assert run_cli("run", str(multi), "--db", str(db)).returncode == 0
    _one_line(runner.invoke(main, ["replay", "--db", str(db), "--study", "multi"]),
              "optimises 2 objectives", "single-objective")


def test_an_earlier_study_becomes_prior_trials_of_a_warm_replay():
    from harness._replay.simulate import prior_trials

    box = _toy()
    earlier = Blackbox(**{**box.__dict__, "trials": (
        *box.trials,
        RecordedTrial(3, "pruned", {"x": "c"}, (0.1,), (1.0,), None),
        RecordedTrial(4, "complete", {"x": "zzz"}, (0.2,), (1.0,), 0.2),  # outside the space
        RecordedTrial(5, "failed", {"x": "a"}, (), (), None))})
    prior = prior_trials(earlier, box)
    states = [t.state.name for t in prior]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED"]
    assert prior[1].value == 0.9 and prior[1].intermediate_values == {1: 0.7, 2: 0.9}
    registry = load_registry(make_plugin_manager(extra=[InOrderPlugin()]))
    outcomes, _, target = replay_candidates(box, [Candidate("greedy", "none")], registry,
                                            seeds=2, budget_s=20, warm_start=earlier)
    assert [o.candidate.label for o in outcomes] == [
        "random/none", "greedy/none", "random/none + warm start", "greedy/none + warm start"]
    cold, warm = outcomes[1], outcomes[3]
    # Cold, greedy tries "a" (2 s, 0.6) and keeps repeating it; warm, it starts from the
    # earlier study's best, "b": 4 s to 0.9.
    assert cold.runs[0].points[:2] == [(2.0, 0.6), (4.0, 0.6)]
    assert warm.runs[0].points[0] == (4.0, 0.9) and warm.median_time == 4.0
    assert cold.median_time == float("inf")
    minimising = Blackbox(**{**box.__dict__, "direction": "minimize"})
    with pytest.raises(UsageError, match="not a warm start"):
        prior_trials(minimising, box)


def test_warm_start_seeds_a_new_study_from_an_earlier_one(recorded, write_task):
    warm = write_task(name="warm.toml", replace=(
        ('name = "tiny"', 'name = "tiny-warm"'), ("n_trials = 2", "n_trials = 1"),
        ('pruner = "none"', 'pruner = "none"\nwarm_start = "tiny"')))
    proc = run_cli("run", str(warm), "--db", recorded)
    assert proc.returncode == 0, proc.stderr
    assert says(proc.stdout + proc.stderr, "started from 3 finished trial(s) of study 'tiny'")
    study = optuna.load_study(study_name="tiny-warm", storage=f"sqlite:///{recorded}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    again = run_cli("run", str(warm), "--db", recorded, "--n-trials", "2")
    assert again.returncode == 0, again.stderr
    assert "started from" not in again.stdout + again.stderr  # seeded once, not per run
    assert len(optuna.load_study(study_name="tiny-warm",
                                 storage=f"sqlite:///{recorded}").trials) == 5
    missing = write_task(name="missing.toml", replace=(
        ('name = "tiny"', 'name = "tiny-cold"'),
        ('pruner = "none"', 'pruner = "none"\nwarm_start = "nope"')))
    bad = run_cli("run", str(missing), "--db", recorded)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    (line,) = bad.stderr.strip().splitlines()
    assert "search.warm_start" in line and "no study 'nope'" in line and str(missing) in line


def test_a_compute_budget_stops_starting_trials_once_spent(write_task, tmp_path):
    task = write_task(replace=(("n_trials = 2\n", "compute_s = 0.001\n"),))
    db = tmp_path / "c.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    # The first trial spends more than the budget: it finishes, and no other starts.
    assert says(proc.stdout + proc.stderr, "1 trial(s) finished")
    store_counts = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}").trials
    assert len(store_counts) == 1


def test_a_compute_budget_still_runs_its_trial_floor(write_task, tmp_path):
    task = write_task(replace=(("n_trials = 2\n", "compute_s = 0.001\nmin_trials = 2\n"),))
    db = tmp_path / "c.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    # The budget is spent by the first trial; the floor still starts the second, no third.
    assert len(optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}").trials) == 2


def test_a_pruner_stops_a_replayed_trial_before_its_last_epoch_only():
    """As in a study, a pruner is not asked after the last epoch: a pruner that stops
    everything leaves one epoch of each trial, each finished after its last."""
    registry = load_registry(make_plugin_manager(extra=[InOrderPlugin()]))
    run = replay(_toy(), Candidate("in_order", "stop_all"), registry, seed=0, budget_s=100,
                 max_trials=3)
    assert run.points == []  # every trial stopped after epoch 1 of 2: nothing finished
    single = _toy()
    single = Blackbox(**{**single.__dict__, "epochs": 1, "trials": tuple(
        RecordedTrial(t.number, t.status, t.params, t.values[-1:], t.seconds[-1:], t.final)
        for t in single.trials)})
    run = replay(single, Candidate("in_order", "stop_all"), registry, seed=0, budget_s=100,
                 max_trials=3)
    assert run.points == [(1.0, 0.6), (3.0, 0.9), (4.0, 0.9)]


def test_every_shipped_task_file_becomes_a_valid_dense_recording(tmp_path):
    """`benchmarks/dense_studies.py record` turns a shipped task file into random search, no
    pruner, a trial count (not the file's compute budget) and no repeats."""
    import importlib.util
    import tomllib

    spec = importlib.util.spec_from_file_location("dense_studies",
                                                  Path("benchmarks/dense_studies.py"))
    assert spec is not None and spec.loader is not None
    dense = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dense)
    files = sorted(Path("tasks").glob("*.toml"))
    assert {f.stem for f in files} >= {"classification", "sequence", "sequence_classification"}
    for shipped in files:
        text = dense.dense_task_text(shipped.read_text(), f"{shipped.stem}-dense", 64)
        parsed = tomllib.loads(text)
        assert parsed["budget"]["n_trials"] == 64, shipped
        assert not {"compute_s", "timeout_s", "repeats"} & set(parsed["budget"]), shipped
        assert (parsed["search"]["sampler"], parsed["search"]["pruner"]) == ("random", "none")
        (tmp_path / shipped.name).write_text(text)
    result = CliRunner().invoke(main, ["validate", *map(str, sorted(tmp_path.glob("*.toml")))])
    assert result.exit_code == 0, result.output
