"""The progress display of `harness run`: the trial count never passes its total."""

from __future__ import annotations

import io

from rich.console import Console

from harness._progress import RichObserver
from harness._records import TrialPlan
from harness._records import TrialResult


def test_the_trial_count_never_passes_its_total():
    """Re-runs of crashed trials and resumed ones take no new place in the budget: the bar
    once showed "(8/7)" during repeats."""
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RichObserver(console, "accuracy") as observer:
        for number in range(9):
            plan = TrialPlan(number, 0, "small_cnn", "adamw", "constant", 32)
            observer.trial_started(plan, min(number + 1, 7), 7)
            observer.trial_finished(TrialResult(plan, "failed", fail_reason="crashed"))
        task = observer.progress.tasks[0]
        assert task.total == 7 and task.completed == 7
        plan = TrialPlan(9, 1, "small_cnn", "adamw", "constant", 32, repeat_of=0)
        observer.trial_started(plan, 8, 9)  # repeats planned: the total grows with them
        assert observer.progress.tasks[0].total == 9
