"""``[search] budget_per``: every group (each architecture, each optimizer, or each pair) gets
an equal share of the trials and a sampler of its own.

A comparison of optimizers is biased when one sampler spends more trials on the family it
liked early. Here the study loop hands trials to the group with the fewest so far (its value
fixed through Optuna's ``enqueue_trial``), and :class:`GroupedSampler` keeps one sampler per
group that sees only its group's trials (:class:`GroupView`), so what it learns about one
optimizer's learning rates never steers another's.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.samplers import BaseSampler

__all__ = ["BUDGET_PER", "GroupView", "GroupedSampler", "group_keys", "groups", "next_group"]

BUDGET_PER = {"architecture": ("architecture",), "optimizer": ("optimizer",),
              "architecture×optimizer": ("architecture", "optimizer")}
"""``budget_per`` values and the Optuna parameters that name a group (the task file's ASCII
``architecture*optimizer`` arrives here as ``×``: the config parser normalises it)."""


def group_keys(budget_per: str) -> tuple[str, ...]:
    return BUDGET_PER[budget_per]


def groups(budget_per: str, architectures: Sequence[str],
           optimizers: Sequence[str]) -> list[dict[str, str]]:
    """Every group, as the Optuna parameters that fix it."""
    values = {"architecture": list(architectures), "optimizer": list(optimizers)}
    found: list[dict[str, str]] = [{}]
    for key in group_keys(budget_per):
        found = [{**g, key: v} for g in found for v in values[key]]
    return found


def next_group(all_groups: list[dict[str, str]],
               counts: dict[tuple[str, str], int]) -> dict[str, str]:
    """The group with the fewest trials so far (the first such, in task-file order)."""

    def held(group: dict[str, str]) -> int:
        return sum(n for (arch, opt), n in counts.items()
                   if group.get("architecture", arch) == arch
                   and group.get("optimizer", opt) == opt)

    return min(all_groups, key=held)


class GroupView:
    """A study as one group's sampler sees it: only the trials of that group."""

    def __init__(self, study: optuna.Study, fixed: dict[str, Any]) -> None:
        self._study, self._fixed = study, fixed

    def _mine(self, trial: optuna.trial.FrozenTrial) -> bool:
        return all(trial.params.get(k, v) == v for k, v in self._fixed.items())

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list[optuna.trial.FrozenTrial]:
        found = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in found if self._mine(t)]

    def get_trials(self, deepcopy: bool = True,
                   states: Any = None) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states)
                if self._mine(t)]

    @property
    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.get_trials()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class GroupedSampler(BaseSampler):
    """One sampler per group, each on its group's trials only."""

    def __init__(self, make: Callable[[int], BaseSampler], keys: Sequence[str],
                 seed: int) -> None:
        self._make, self._keys, self._seed = make, tuple(keys), seed
        self._inner: dict[tuple[Any, ...], BaseSampler] = {}

    def _fixed(self, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        given = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        return {k: given[k] for k in self._keys if k in given}

    def _for(self, study: Any, trial: optuna.trial.FrozenTrial) -> tuple[BaseSampler, Any]:
        fixed = self._fixed(trial)
        group = tuple(fixed.get(k) for k in self._keys)
        if group not in self._inner:
            self._inner[group] = self._make(self._seed + len(self._inner))
        return self._inner[group], GroupView(study, fixed)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        sampler, view = self._for(study, trial)
        return sampler.infer_relative_search_space(view, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any],
                        ) -> dict[str, Any]:
        sampler, view = self._for(study, trial)
        return sampler.sample_relative(view, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: Any) -> Any:
        sampler, view = self._for(study, trial)
        return sampler.sample_independent(view, trial, param_name, param_distribution)

    def before_trial(self, study: Any, trial: Any) -> None:
        sampler, view = self._for(study, trial)
        sampler.before_trial(view, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        sampler, view = self._for(study, trial)
        sampler.after_trial(view, trial, state, values)

    def reseed_rng(self) -> None:
        for sampler in self._inner.values():
            sampler.reseed_rng()
