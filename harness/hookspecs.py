"""Every extension point of harness, and nothing else.

A plugin implements any of these with ``@harness.hookimpl``. An implementation may accept fewer
arguments than the spec, so hooks can gain arguments without breaking plugins. A function marked
``@hookimpl`` whose name is not below is an error at start-up (``check_pending``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harness._config import TaskConfig
    from harness._records import StudySummary
    from harness._records import TrialResult
    from harness._specs import RegisterArchitecture
    from harness._specs import RegisterDataset
    from harness._specs import RegisterOptimizer
    from harness._specs import RegisterPruner
    from harness._specs import RegisterSampler
    from harness._specs import RegisterScheduler
    from harness._specs import RegisterTask
    from harness._specs import RegisterTracker

hookspec = pluggy.HookspecMarker("harness")


@hookspec
def register_architectures(
    register: RegisterArchitecture,
) -> None:
    """Contribute architectures that trials may train.

    Called once per run, when the registry is built, before the task file is checked against it.

    Args:
        register: call once per ArchitectureSpec or ArchitectureCatalogSpec. Names are global;
            a clash with another plugin is an error naming both plugins.

    Returns: ignored.

    Added in 0.1.
    """


@hookspec
def register_optimizers(register: RegisterOptimizer) -> None:
    """Contribute optimizers that trials may search over.

    Called once per run, when the registry is built.

    Args:
        register: call once per OptimizerSpec; a name clash is an error naming both plugins.

    Returns: ignored.

    Added in 0.1.
    """


@hookspec
def register_schedulers(register: RegisterScheduler) -> None:
    """Contribute learning-rate schedules.

    Called once per run, when the registry is built.

    Args:
        register: call once per SchedulerSpec; a name clash is an error naming both plugins.

    Returns: ignored.

    Added in 0.1.
    """


@hookspec
def register_tasks(register: RegisterTask) -> None:
    """Contribute tasks (what is learnt and how it is scored).

    Called once per run, when the registry is built.

    Args:
        register: call once per TaskSpec; a name clash is an error naming both plugins.

    Returns: ignored.

    Added in 0.1.
    """


@hookspec
def register_datasets(register: RegisterDataset) -> None:
    """Contribute datasets that a task file's ``[dataset]`` table may name.

    Called once per run, when the registry is built.

    Args:
        register: call once per DatasetSpec; a name clash is an error naming both plugins.

    Returns: ignored.

    Added in 0.1.
    """


@hookspec
def register_samplers(register: RegisterSampler) -> None:
    """Contribute search strategies (samplers) that ``[search] sampler`` may name.

    Called once per run, when the registry is built. The builtin ones (``tpe``, ``random``,
    ``cmaes``, ``gp``, ``nsgaii``, ``qmc``, ``grid``) register this way too. ``harness replay``
    runs any registered sampler on a recorded study, which is how a sampler plugin is judged.

    Args:
        register: call once per SamplerSpec; a name clash is an error naming both plugins.

    Returns: ignored.

    Added in 0.2.
    """


@hookspec
def register_pruners(register: RegisterPruner) -> None:
    """Contribute early-stopping rules (pruners) that ``[search] pruner`` may name.

    Called once per run, when the registry is built; builtins (``none``, ``median``,
    ``percentile``, ``successive_halving``, ``hyperband``) register this way too.

    Args:
        register: call once per PrunerSpec; a name clash is an error naming both plugins.

    Returns: ignored.

    Added in 0.2.
    """


@hookspec
def register_trackers(register: RegisterTracker) -> None:
    """Contribute experiment trackers that a task file's ``[tracking]`` table may name.

    Called once per run, when the registry is built. The builtins (``mlflow``,
    ``tensorboard``, ``wandb``) register this way too; a tracker's library is installed with
    its extra (``pip install 'harness[mlflow]'``).

    Args:
        register: call once per TrackerSpec; a name clash is an error naming both plugins.

    Returns: ignored.

    Added in 0.4.
    """


@hookspec(historic=True)
def configure(config: TaskConfig) -> None:
    """See the validated task file before the study starts.

    Called once per ``harness run``, in the coordinating process (the one that runs
    ``harness run``, drives Optuna and writes results), after the task file is checked and
    the dataset loaded, before the first trial. Worker processes never call it.

    Historic: a plugin registered after the call still receives it. A plugin that raises here
    stops the run before any trial, with one line naming it (exit status 1), after the results
    store is closed.

    Args:
        config: the frozen :class:`harness.TaskConfig` (its fields are documented in
            ``docs/plugins.md``); command-line overrides (``--n-trials``, ``--db``, …) are
            applied.

    Returns: ignored.

    Added in 0.1.
    """


@hookspec
def trial_finished(result: TrialResult) -> None:
    """A trial ended (complete, pruned or failed) and its row is stored.

    Called in the coordinating process — not in the worker process that trained — once per
    trial, after the result is committed to the results database and told to Optuna, in the
    order trials finish. Exceptions raised here are reported as warnings and ignored: they
    never change a stored result. Keep it quick: the study loop waits for it.

    Args:
        result: the frozen :class:`harness.TrialResult`.

    Returns: ignored.

    Added in 0.1.
    """


@hookspec
def study_finished(summary: StudySummary) -> None:
    """A ``harness run`` ended: the budget is reached, the timeout passed, or it was
    interrupted (Ctrl-C, SIGTERM).

    Called once, in the coordinating process, after the last result is stored. Not called
    when the run stops on an error (a broken task file, an unreachable database).

    Args:
        summary: the frozen :class:`harness.StudySummary`.

    Returns: ignored.

    Added in 0.1.
    """
