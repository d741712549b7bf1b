"""The progress display of ``harness run``: a trial bar, an epoch bar, one line per trial."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn
from rich.progress import MofNCompleteColumn
from rich.progress import Progress
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn
from rich.text import Text

from harness._config import UNLIMITED_TRIALS
from harness._records import EpochRecord
from harness._records import StudySummary
from harness._records import TrialPlan
from harness._records import TrialResult

__all__ = ["RichObserver"]


PLAIN_LINE_INTERVAL_S = 2.0
"""When output is captured, epoch lines of one trial are at least this far apart (a study of
tiny epochs would otherwise flood a log)."""


class RichObserver:
    """Draws live bars on a terminal; prints plain lines when output is captured (CI logs,
    ``nohup``): one when a trial starts and one per epoch, so a long trial shows progress."""

    def __init__(self, console: Console, objective: str, done_before: int = 0) -> None:
        self.console = console
        self.objective = objective
        self.plain = not console.is_terminal
        self._last_line: dict[int, float] = {}
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                 transient=True)
        self._trials: Any = None
        self._total: int | None = None
        self._done = 0
        self._epochs: dict[int, Any] = {}  # one bar per trial in flight (workers run several)

    def __enter__(self) -> RichObserver:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def trial_started(self, plan: TrialPlan, index: int, total: int) -> None:
        if total >= UNLIMITED_TRIALS:  # a compute budget, no trial count: show no total
            self._trial_started(plan, index, None, f"{index}")
        else:
            self._trial_started(plan, index, total, f"{index}/{total}")

    def _trial_started(self, plan: TrialPlan, index: int, total: int | None, count: str) -> None:
        if self._trials is None:
            self._done = index - 1
            self._trials = self.progress.add_task("trials", total=total, completed=self._done)
        # The total grows when repeats are planned; the count never passes it (re-runs of
        # crashed trials and resumed ones take no new place in the budget).
        self._total = total
        self.progress.update(self._trials, description=f"trial {count}", total=total)
        self._epochs[plan.number] = self.progress.add_task(
            f"  #{plan.number} {plan.architecture} · {plan.optimizer} · {plan.scheduler}",
            total=None)
        if self.plain:
            self.console.print(Text(f"trial {plan.number} started ({count}): "
                                    f"{plan.architecture} · {plan.optimizer} · "
                                    f"{plan.scheduler}"), highlight=False)

    def epoch_finished(self, plan: TrialPlan, record: EpochRecord, epochs: int) -> None:
        value = record.val_metrics.get(self.objective)
        shown = f"val_{self.objective}={value:.4f}" if value is not None else ""
        if self.plain:
            self._plain_epoch(plan, record, epochs, shown)
        self.progress.update(self._epochs[plan.number], total=epochs, completed=record.epoch,
                             description=f"  #{plan.number} {plan.architecture} · "
                                         f"{plan.optimizer} · epoch {record.epoch}/{epochs} "
                                         f"loss={record.train_loss:.4f} {shown}")

    def _plain_epoch(self, plan: TrialPlan, record: EpochRecord, epochs: int,
                     shown: str) -> None:
        now = time.monotonic()
        last = self._last_line.get(plan.number)
        if last is not None and now - last < PLAIN_LINE_INTERVAL_S and record.epoch < epochs:
            return
        self._last_line[plan.number] = now
        self.console.print(Text(f"  trial {plan.number}: epoch {record.epoch}/{epochs} "
                                f"loss={record.train_loss:.4f} {shown} "
                                f"({record.train_seconds:.1f} s)"), highlight=False)

    def trial_finished(self, result: TrialResult) -> None:
        self._last_line.pop(result.plan.number, None)
        plan = result.plan
        used = result.batch_size_used or plan.batch_size
        head = (f"trial {plan.number}: {plan.architecture} · {plan.optimizer} · "
                f"{plan.scheduler} · bs {used} · lr "
                f"{plan.optimizer_params.get('lr', 0):.2g}")
        if result.status == "complete":
            value = result.val_metrics.get(self.objective)
            shown = f"val_{self.objective}={value:.4f}" if value is not None else "done"
            speed = (f", {result.inference.samples_per_s:,.0f} samples/s"
                     if result.inference else "")
            self.console.print(Text.assemble(("✓", "green"), f" {head} → {shown}{speed} "
                                                              f"({result.duration_s:.1f} s)"),
                               highlight=False)
        elif result.status == "pruned":
            why = (result.fail_reason if result.fail_reason  # e.g. a [constraints] check
                   else f"pruned after epoch {len(result.history)}")
            self.console.print(Text.assemble(("✂", "yellow"), f" {head} → {why}"),
                               highlight=False)
        else:
            # The reason is text from a plugin or an exception: never read as markup.
            self.console.print(Text.assemble(("✗", "red"), f" {head} → FAILED: "
                                                            f"{result.fail_reason}"),
                               highlight=False)
        if plan.number in self._epochs:
            self.progress.remove_task(self._epochs.pop(plan.number))
        if self._trials is not None:
            self._done += 1
            count = self._done if self._total is None else min(self._done, self._total)
            self.progress.update(self._trials, completed=count)

    def notice(self, message: str) -> None:
        self.console.print(Text(f"… {message}", style="dim"), highlight=False)


def summary_line(summary: StudySummary) -> str:
    state = "interrupted" if summary.interrupted else "done"
    held = (f"{summary.total_finished} trial(s) finished" if summary.budget >= UNLIMITED_TRIALS
            else f"{summary.total_finished}/{summary.budget} of the budget finished")
    if summary.total_finished < 0:
        held = "the study's totals are unknown (the results database was unavailable)"
    if summary.repeats:
        held += f", {summary.repeats} repeat(s) of the best configurations"
    suspended = (f", {summary.suspended} suspended: resumed from their checkpoints by the "
                 "next run" if summary.suspended else "")
    if summary.infeasible_pruned:
        held += (f"; {summary.infeasible_pruned} trial(s) broke [constraints] before training, "
                 f"saving ≈ {summary.constraints_saved_s:.0f} s of compute")
    if summary.tracking_failures:
        held += f"; {summary.tracking_failures} tracker event(s) not recorded"
    return (f"study '{summary.study_name}' {state}: ran {summary.ran} trial(s) in "
            f"{summary.duration_s:.1f} s ({summary.complete} complete, {summary.pruned} pruned, "
            f"{summary.failed} failed{suspended}); {held}; results in {summary.db}")
