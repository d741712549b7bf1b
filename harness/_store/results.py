"""Opening the results database, keeping its schema current, and writing results.

Contract of :class:`ResultsStore`:

- One store per process; methods may be called from one thread at a time.
- A trial row moves ``running`` → ``complete`` | ``pruned`` | ``failed`` exactly once; a
  finished row is never rewritten (``finish_trial`` on a finished row raises ``StoreError``).
- Every write is its own transaction: it commits, or rolls back and raises ``StoreError``.
- SQLite files use WAL and a busy timeout so concurrent workers wait instead of failing.
- Many processes (on many machines, for a server database) may share one database: schema
  creation and budget claims happen under :attr:`lock`; trial heartbeats let any of them fail
  the trials of a process that died.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from harness._errors import StoreError
from harness._errors import StoreUnavailable
from harness._errors import TrialTakenOver
from harness._records import PROBE_SPLIT
from harness._records import EpochRecord
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._recover.owner import process_owner
from harness._store.lock import DatabaseLock
from harness._store.models import EpochRow
from harness._store.models import MetricRow
from harness._store.models import SpeedRow
from harness._store.models import StudyRow
from harness._store.models import TrialRow
from harness._store.models import now
from harness._store.models import utcnow
from harness._store.queries import ConstraintSavings
from harness._store.queries import constraint_savings

__all__ = ["ResultsStore", "TrialContext", "damaged_database", "open_existing", "outage_policy",
           "safe_url", "stop_waiting_after", "tune_engine"]

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "harness_alembic_version"
DEFAULT_BUSY_TIMEOUT_S = 60.0
BUSY_TIMEOUT_ENV = "HARNESS_SQLITE_BUSY_TIMEOUT_S"
"""How long one SQLite statement waits for another process's write lock before it fails (and
the write is retried, up to ``OUTAGE_S``); tests set it to seconds."""
T = TypeVar("T")
RELEASED = 0.0
"""The heartbeat of a trial its process released with a checkpoint: older than any grace."""
OUTAGE_S = 600.0
"""How long a write during a study waits out a database that is locked (another process
holding a long write transaction) or unreachable (a PostgreSQL restart, a network blip),
retrying with back-off, before the run stops with that error (docs/scale-out.md)."""


@dataclass
class _OutagePolicy:
    notify: Callable[[str], None] | None = None
    deadline: float | None = None
    """Set once the run is stopping: every write, whenever it starts, gives up by then."""


_OUTAGE = _OutagePolicy()


@contextlib.contextmanager
def outage_policy(*, notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """While the block runs, ``notify`` hears once per write that it is waiting out an
    outage — so a Ctrl-C during an outage is never met by silence; a stopping deadline set
    inside the block (:func:`stop_waiting_after`) ends with it."""
    saved = (_OUTAGE.notify, _OUTAGE.deadline)
    _OUTAGE.notify = notify if notify is not None else _OUTAGE.notify
    try:
        yield
    finally:
        _OUTAGE.notify, _OUTAGE.deadline = saved


def stop_waiting_after(seconds: float) -> None:
    """The run is stopping (Ctrl-C, SIGTERM): from now on writes wait out an outage for
    ``seconds`` in all — the whole way out, not each write — so the run ends in seconds."""
    deadline = time.monotonic() + seconds
    _OUTAGE.deadline = deadline if _OUTAGE.deadline is None else min(_OUTAGE.deadline,
                                                                      deadline)


def retry_while_unavailable(call: Callable[[], T],
                            transient: tuple[type[BaseException], ...]) -> T:
    """Run ``call`` (one whole transaction), retrying it with back-off (0.5 s doubling to
    10 s) while it raises one of the ``transient`` errors, for up to ``OUTAGE_S`` (or until
    the stopping deadline, :func:`stop_waiting_after`)."""
    deadline, pause = time.monotonic() + OUTAGE_S, 0.5
    if _OUTAGE.deadline is not None:
        deadline = min(deadline, _OUTAGE.deadline)
    announced = False
    while True:
        try:
            return call()
        except transient as exc:
            if time.monotonic() + pause > deadline:
                raise
            if not announced and _OUTAGE.notify is not None:
                announced = True
                left = deadline - time.monotonic()
                _OUTAGE.notify(f"the results database is unavailable ({_one_line(exc)[:160]});"
                               f" retrying for up to {left:.0f} s — Ctrl-C stops the run")
            time.sleep(pause)
            pause = min(2 * pause, 10.0)


def survives_outages(method: Callable[..., T]) -> Callable[..., T]:
    """Retry a store write (one whole transaction) while the database is unavailable."""

    @functools.wraps(method)
    def retrying(self: ResultsStore, *args: Any, **kwargs: Any) -> T:
        return retry_while_unavailable(lambda: method(self, *args, **kwargs),
                                       (StoreUnavailable,))

    return retrying


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages, logs and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


_DAMAGE = ("database disk image is malformed", "file is not a database")
"""What SQLite says when a file's pages are damaged or it is not a database at all."""


def damaged_database(exc: BaseException, url: str) -> str | None:
    """One line for a damaged SQLite results file, wherever in the stack it surfaced (our
    store, Optuna's storage, the report's queries); None for any other error."""
    seen: BaseException | None = exc
    walked: set[int] = set()
    while seen is not None and id(seen) not in walked:  # a chain may loop back on itself
        walked.add(id(seen))
        sign = next((s for s in _DAMAGE if s in str(seen)), None)
        if sign is not None:
            where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else \
                safe_url(url)
            return (f"results database {where} is damaged (SQLite: {sign}); check it with "
                    f"`sqlite3 {where} 'PRAGMA integrity_check'` and restore a backup")
        seen = seen.__cause__ or seen.__context__
    return None


def open_existing(url: str) -> ResultsStore:
    """The store at ``url`` for reading: a SQLite file must exist already (reading commands
    never create one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(
            parsed.database).exists():
        raise StoreError(f"no results database at {parsed.database}: run "
                         "`harness run TASK.toml` first (or pass --db)")
    return ResultsStore(url)


def sqlite_busy_timeout_s() -> float:
    """``$HARNESS_SQLITE_BUSY_TIMEOUT_S`` (seconds) if set, else 60 s."""
    raw = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_BUSY_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 86_400:
        raise StoreError(f"{BUSY_TIMEOUT_ENV}: expected seconds (a positive number below a "
                         f"day), got {raw!r}")
    return value


def engine_kwargs(url: str) -> dict[str, Any]:
    """Engine options shared with Optuna's storage for the same URL."""
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": sqlite_busy_timeout_s()}}
    return {"pool_pre_ping": True}


@dataclass(frozen=True)
class TrialContext:
    """Where a trial runs: stored with its row.

    Attributes:
        device_class: the device's model (``"cpu: AMD EPYC 7B13 (2 threads)"``); the trial's
            hardware class adds its precision (:meth:`hardware`), since results at different
            precisions are never ranked together.
        space_hash: the study's search space, hashed.
        environment: versions and host facts (:mod:`harness._environment`).
    """

    device_class: str
    space_hash: str
    environment: dict[str, Any]

    def hardware(self, precision: str, compile_mode: str = "none") -> str:
        """The class a trial is ranked in: the device (with its numerics settings), the
        precision, and the compile mode when there is one."""
        compiled = f" | compile={compile_mode}" if compile_mode != "none" else ""
        return f"{self.device_class} | {precision}{compiled}"


class ResultsStore:
    """harness's own tables in the database at ``url`` (SQLite file or server URL)."""

    def __init__(self, url: str, *, upgrade: bool = False) -> None:
        self.url = url
        self.safe_url = safe_url(url)
        try:
            _ensure_sqlite_folder(url)
            self.engine = create_engine(url, **engine_kwargs(url))
        except ImportError as exc:
            raise StoreError(f"cannot open results database {self.safe_url}: "
                             f"{_missing_driver(url, exc)}") from None
        except (ArgumentError, SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open results database {self.safe_url}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.lock = DatabaseLock(self.engine)
        if not self._schema_is_current():
            # Several processes may meet a fresh database at once: one creates the schema.
            with self._locked():
                self._check_schema(upgrade)

    # -- schema -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with self.lock.held():
                yield
        except (OSError, SQLAlchemyError) as exc:
            raise StoreError(f"cannot open results database {self.safe_url}: "
                             f"{_one_line(exc)}") from None

    def _schema_is_current(self) -> bool:
        try:
            return self.schema_revision() == schema_head()
        except SQLAlchemyError:
            return False  # _check_schema, under the lock, reports the error

    def _check_schema(self, upgrade: bool) -> None:
        head = schema_head()
        try:
            with self.engine.begin() as conn:
                current = MigrationContext.configure(
                    conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
                fresh = current is None and not inspect(conn).has_table("harness_trials")
                if current == head:
                    return
                if fresh or upgrade:
                    command.upgrade(alembic_config(conn), "head")
                    return
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open results database {self.safe_url}: "
                             f"{_one_line(exc)}") from None
        raise StoreError(f"results database {self.safe_url} has schema {current or 'unknown'}, "
                         f"this harness needs {head}: run `harness db upgrade --db URL`")

    def check_integrity(self) -> None:
        """Raise a one-line :class:`StoreError` when a SQLite results file is damaged
        (``PRAGMA quick_check``: every page read once, about a second per GB) — called before
        a run writes anything, so a damaged file is reported, not written into."""
        if self.engine.dialect.name != "sqlite":
            return
        try:
            with self.engine.connect() as connection:
                verdict = connection.exec_driver_sql("PRAGMA quick_check(1)").scalar()
        except SQLAlchemyError as exc:
            raise StoreError(damaged_database(exc, self.url) or
                             f"cannot read results database {self.safe_url}: "
                             f"{_one_line(exc)}") from None
        if verdict != "ok":
            raise StoreError(damaged_database(RuntimeError(_DAMAGE[0]), self.url) or "")

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}).get_current_revision()

    # -- writes -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success; rolls back and raises StoreError on failure."""
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except OperationalError as exc:  # locked, or the connection went: may pass
            with contextlib.suppress(SQLAlchemyError):
                session.rollback()
            raise StoreUnavailable(f"results database {self.safe_url}: "
                                   f"{_one_line(exc)}") from None
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(f"results database {self.safe_url}: {_one_line(exc)}") from None
        finally:
            with contextlib.suppress(SQLAlchemyError):
                session.close()

    def find_study(self, name: str) -> StudyRow | None:
        with self.session() as s:
            return s.scalar(select(StudyRow).where(StudyRow.name == name))

    def ensure_study(self, *, name: str, task: str, dataset: str, objectives: list[dict[str, Any]],
                     config: dict[str, Any], space_hash: str) -> int:
        """Return the id of study ``name``, creating its row on first use (race-safe: a
        process that loses the race to create it reads the winner's row)."""
        existing = self.find_study(name)
        if existing is not None:
            return existing.id
        try:
            with self.session() as s:
                row = StudyRow(name=name, task=task, dataset=dataset,
                               primary_metric=objectives[0]["column"],
                               direction=objectives[0]["direction"], objectives=objectives,
                               config=config, space_hash=space_hash)
                s.add(row)
                s.flush()
                return row.id
        except StoreError:
            existing = self.find_study(name)
            if existing is None:
                raise
            return existing.id

    def study_tracking(self, study_id: int) -> dict[str, Any]:
        """What trackers stored with the study (an MLflow parent run's id)."""
        with self.session() as s:
            return dict(s.scalar(select(StudyRow.tracking).where(StudyRow.id == study_id))
                        or {})

    @survives_outages
    def set_study_tracking(self, study_id: int, key: str, value: str) -> None:
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            if row is not None:
                row.tracking = {**(row.tracking or {}), key: value}

    def join_study(self, study_id: int) -> int:
        """Count one more run of the study; returns how many runs joined before it."""
        with self.session() as s:
            joined = s.scalar(update(StudyRow).where(StudyRow.id == study_id)
                              .values(runs=StudyRow.runs + 1).returning(StudyRow.runs))
            return int(joined or 1) - 1

    # -- the budget and heartbeats ----------------------------------------------------------

    def claimed(self, study_id: int) -> int:
        """Trials that count in the budget: running or finished, except re-run failures."""
        with self.session() as s:
            return s.scalar(select(StudyRow.claimed).where(StudyRow.id == study_id)) or 0

    def compute_spent_s(self, study_id: int) -> float:
        """Device-seconds the study's trials have used: finished ones' durations plus the time
        running ones have run so far (in every process)."""
        with self.session() as s:
            done = s.scalar(select(func.sum(TrialRow.duration_s)).where(
                TrialRow.study_id == study_id, TrialRow.status != "running")) or 0.0
            started = s.scalars(select(TrialRow.started_at).where(
                TrialRow.study_id == study_id, TrialRow.status == "running"))
            now = utcnow()
            running = sum((now - _aware(t)).total_seconds() for t in started)
            return float(done) + float(running)

    def constraint_savings(self, study_id: int) -> ConstraintSavings:
        """What checking ``[constraints]`` before training saved this study."""
        with self.session() as s:
            return constraint_savings(s, study_id)

    def finished(self, study_id: int, repeats: bool = False) -> int:
        """Finished trials of the search (``repeats``: of the confirmation phase instead)."""
        kind = TrialRow.repeat_of.is_not(None) if repeats else TrialRow.repeat_of.is_(None)
        with self.session() as s:
            return s.scalar(select(func.count()).where(
                TrialRow.study_id == study_id, TrialRow.retried.is_(False),
                TrialRow.status != "running", kind)) or 0

    def running(self, study_id: int) -> list[TrialRow]:
        with self.session() as s:
            return list(s.scalars(select(TrialRow).where(TrialRow.study_id == study_id,
                                                         TrialRow.status == "running")))

    def trials_by_number(self, study_id: int, numbers: list[int]) -> dict[int, TrialRow]:
        with self.session() as s:
            rows = s.scalars(select(TrialRow).where(TrialRow.study_id == study_id,
                                                    TrialRow.number.in_(numbers)))
            return {row.number: row for row in rows}

    def trial_number(self, trial_id: int) -> int | None:
        with self.session() as s:
            return s.scalar(select(TrialRow.number).where(TrialRow.id == trial_id))

    def failed_not_retried(self, study_id: int) -> list[TrialRow]:
        with self.session() as s:
            return list(s.scalars(select(TrialRow).where(
                TrialRow.study_id == study_id, TrialRow.status == "failed",
                TrialRow.retried.is_(False)).order_by(TrialRow.number)))

    @survives_outages
    def beat(self, trial_ids: list[int]) -> None:
        """Record that this process is still running these trials."""
        with self.session() as s:
            s.execute(update(TrialRow).where(TrialRow.id.in_(trial_ids),
                                             TrialRow.status == "running")
                      .values(heartbeat_at=now()))

    @survives_outages
    def release(self, trial_id: int) -> None:
        """This process stops running a trial it checkpointed (Ctrl-C, SIGTERM): the row stays
        ``running`` with no heartbeat and no owner, so the next run resumes it at once."""
        with self.session() as s:
            s.execute(update(TrialRow).where(TrialRow.id == trial_id,
                                             TrialRow.status == "running")
                      .values(heartbeat_at=RELEASED, owner=None))

    @survives_outages
    def take_over(self, trial_id: int, owner: str, died: bool = True) -> bool:
        """Make this process the owner of a running trial it will resume; False if the row is
        no longer running. ``died``: its process died (counted against the resumption limit;
        a trial released with a checkpoint is not). Call under the study lock, after judging
        the owner dead."""
        with self.session() as s:
            changed = s.execute(update(TrialRow).where(TrialRow.id == trial_id,
                                                       TrialRow.status == "running")
                                .values(heartbeat_at=now(), owner=owner,
                                        resumes=TrialRow.resumes + int(died)))
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    @survives_outages
    def fail_if_running(self, trial_id: int, reason: str) -> bool:
        """Fail a running trial from outside its process; False if it had already finished
        (whoever changes the row first wins, so two processes never both fail it)."""
        with self.session() as s:
            changed = s.execute(update(TrialRow).where(TrialRow.id == trial_id,
                                                       TrialRow.status == "running")
                                .values(status="failed", fail_reason=reason,
                                        finished_at=utcnow()))
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    def mark_retried(self, trial_id: int) -> None:
        """The trial is re-run under a new number: it stops counting in the budget."""
        with self.session() as s:
            row = s.get(TrialRow, trial_id)
            if row is None or row.retried:
                return
            row.retried = True
            s.execute(update(StudyRow).where(StudyRow.id == row.study_id)
                      .values(claimed=StudyRow.claimed - 1))

    def metrics(self, trial_id: int) -> dict[str, float]:
        """A trial's stored metrics, named ``<split>_<metric>`` (``val_accuracy``, …)."""
        with self.session() as s:
            rows = s.execute(select(MetricRow.split, MetricRow.name, MetricRow.value).where(
                MetricRow.trial_id == trial_id))
            return {f"{split}_{name}": value for split, name, value in rows}

    def val_metrics(self, trial_id: int) -> dict[str, float]:
        """A trial's validation metrics, by their bare names."""
        return {k.removeprefix("val_"): v for k, v in self.metrics(trial_id).items()
                if k.startswith("val_")}

    def seed_values(self, study_id: int, config_key: str | None, split: str,
                    name: str) -> list[float]:
        """A configuration's stored values of one metric over its complete runs (one per
        seed)."""
        with self.session() as s:
            return list(s.scalars(select(MetricRow.value).join(
                TrialRow, TrialRow.id == MetricRow.trial_id).where(
                TrialRow.study_id == study_id, TrialRow.config_key == config_key,
                TrialRow.status == "complete", MetricRow.split == split,
                MetricRow.name == name)))

    @survives_outages
    def start_trial(self, study_id: int, plan: TrialPlan, context: TrialContext) -> int:
        """Insert the ``running`` row for a trial that is about to start."""
        with self.session() as s:
            row = TrialRow(
                study_id=study_id, number=plan.number, status="running",
                architecture=plan.architecture, optimizer=plan.optimizer,
                scheduler=plan.scheduler, batch_size=plan.batch_size,
                hyperparameters=plan.hyperparameters(), seed=plan.seed,
                device=context.device_class,
                hardware=context.hardware(plan.precision, plan.compile), precision=plan.precision,
                memory_format=plan.memory_format, compile_mode=plan.compile,
                space_hash=context.space_hash, environment=context.environment,
                heartbeat_at=now(), config_key=plan.config_key(), repeat_of=plan.repeat_of,
                owner=process_owner())
            s.add(row)
            s.execute(update(StudyRow).where(StudyRow.id == study_id)
                      .values(claimed=StudyRow.claimed + 1))
            s.flush()
            return row.id

    def missing_repeats(self, study_id: int, metric: str, maximize: bool, top: int,
                        seeds: list[int]) -> list[tuple[int, int]]:
        """``(search trial number, seed)`` still to run: the ``top`` best configurations of
        the search (by the validation ``metric``), each under every seed of ``seeds``.

        A seed counts as taken once a trial of that configuration holds it (running, done or
        pruned); a failed repeat is claimed again. Called under the study lock, so processes
        confirming at once never run a seed twice."""
        with self.session() as s:
            order = MetricRow.value.desc() if maximize else MetricRow.value.asc()
            ranked = s.execute(
                select(TrialRow.config_key, TrialRow.number)
                .join(MetricRow, MetricRow.trial_id == TrialRow.id)
                .where(TrialRow.study_id == study_id, TrialRow.status == "complete",
                       TrialRow.repeat_of.is_(None), MetricRow.split == "val",
                       MetricRow.name == metric)
                .order_by(order, TrialRow.number)).all()
            best: dict[str, int] = {}
            for key, number in ranked:
                if key is not None and key not in best and len(best) < top:
                    best[key] = number
            taken = set(s.execute(
                select(TrialRow.config_key, TrialRow.seed)
                .where(TrialRow.study_id == study_id, TrialRow.config_key.in_(list(best)),
                       TrialRow.status != "failed")).all())
        return [(number, seed) for key, number in best.items() for seed in seeds
                if (key, seed) not in taken]

    def search_counts(self, study_id: int) -> dict[tuple[str, str], int]:
        """Search trials that count in the budget, per (architecture, optimizer)."""
        with self.session() as s:
            found = s.execute(
                select(TrialRow.architecture, TrialRow.optimizer, func.count())
                .where(TrialRow.study_id == study_id, TrialRow.repeat_of.is_(None),
                       TrialRow.retried.is_(False))
                .group_by(TrialRow.architecture, TrialRow.optimizer)).all()
        return {(arch, opt): int(n) for arch, opt, n in found}

    def finished_search_trials(self, study_id: int) -> int:
        """Complete trials of the search itself (repeats not counted)."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(TrialRow).where(
                TrialRow.study_id == study_id, TrialRow.status == "complete",
                TrialRow.repeat_of.is_(None))) or 0)

    @survives_outages
    def add_epoch(self, trial_id: int, record: EpochRecord) -> None:
        """Store an epoch (again, when a resumed trial trains it a second time: an older
        checkpoint was the last one on disk)."""
        with self.session() as s:
            s.execute(delete(EpochRow).where(EpochRow.trial_id == trial_id,
                                             EpochRow.epoch == record.epoch))
            s.add(EpochRow(trial_id=trial_id, epoch=record.epoch, train_loss=record.train_loss,
                           lr=record.lr, train_seconds=record.train_seconds,
                           val_metrics=dict(record.val_metrics),
                           data_wait_s=record.data_wait_s, val_seconds=record.val_seconds))

    @survives_outages
    def finish_trial(self, trial_id: int, result: TrialResult) -> None:
        """Write a trial's outcome once; a finished row is never rewritten."""
        with self.session() as s:
            row = s.get(TrialRow, trial_id)
            if row is None or row.status != "running":
                state = row.status if row else "missing"
                raise TrialTakenOver(f"trial row {trial_id} is {state}; finished rows are "
                                     "never rewritten")
            _fill_outcome(row, result)
            hardware = row.hardware
            for split, metrics in (("val", result.val_metrics), ("test", result.test_metrics),
                                   (PROBE_SPLIT, result.probe_metrics)):
                s.add_all(MetricRow(trial_id=trial_id, split=split, name=k, value=v)
                          for k, v in metrics.items())
        self._share_speed(trial_id, result, hardware)

    @survives_outages
    def speed(self, key: str) -> tuple[dict[str, Any], int] | None:
        """Stored speed figures for ``key`` and the trial that measured them, if any."""
        with self.session() as s:
            row = s.scalar(select(SpeedRow).where(SpeedRow.key == key))
            return (dict(row.figures), int(row.trial_id or 0)) if row is not None else None

    @survives_outages
    def _share_speed(self, trial_id: int, result: TrialResult, hardware: str) -> None:
        """A complete trial that measured its own speed offers it to later trials of the same
        setting (the first to store a key keeps it)."""
        if (result.status != "complete" or result.speed_key is None
                or result.speed_from_trial is not None or result.inference is None
                or result.latency_b1 is None):
            return
        figures = {"inference": dataclasses.asdict(result.inference),
                   "latency_b1": dataclasses.asdict(result.latency_b1),
                   "flops_per_sample": result.flops_per_sample}
        try:
            with self.session() as s:
                if s.scalar(select(SpeedRow.id).where(SpeedRow.key == result.speed_key)):
                    return
                s.add(SpeedRow(key=result.speed_key, architecture=result.plan.architecture,
                               hardware=hardware, figures=figures,
                               trial_id=trial_id))
        except StoreError:
            pass  # another process stored the same key first: theirs is as good

    def trial_count(self, study_id: int) -> int:
        """Every trial row of a study, whatever its state."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).where(TrialRow.study_id == study_id)) or 0)

    def count_trials(self, study_name: str) -> dict[str, int]:
        with self.session() as s:
            rows = s.execute(select(TrialRow.status, func.count()).join(StudyRow)
                             .where(StudyRow.name == study_name).group_by(TrialRow.status))
            return {status: n for status, n in rows}

    def close(self) -> None:
        self.engine.dispose()


def _fill_outcome(row: TrialRow, result: TrialResult) -> None:
    row.status = result.status
    row.fail_reason = result.fail_reason
    row.param_count = result.param_count
    row.duration_s = result.duration_s
    row.batch_size_used = result.batch_size_used
    row.peak_memory_mb = result.peak_memory_mb
    row.gflops_per_sample = (result.flops_per_sample / 1e9
                             if result.flops_per_sample is not None else None)
    row.e2e_infer_samples_per_s = _finite(result.e2e_infer_samples_per_s)
    row.train_samples_per_s = _finite(result.train_samples_per_s)
    row.data_wait_s = result.data_wait_s
    row.data_wait_share = result.data_wait_share
    row.speed_from_trial = result.speed_from_trial
    row.constraints = dict(result.constraints) if result.constraints is not None else None
    row.feasible = result.feasible
    row.compile_s = result.compile_s
    row.warmup_s = result.warmup_s
    if result.inference is not None:
        row.infer_samples_per_s = _finite(result.inference.samples_per_s)
        row.infer_batch_size = result.inference.batch_size
        row.infer_latency_ms_p50 = result.inference.latency_ms_p50
        row.infer_latency_ms_p90 = result.inference.latency_ms_p90
        row.infer_latency_ms_p99 = result.inference.latency_ms_p99
    if result.onnx is not None:
        row.infer_onnx_samples_per_s = _finite(result.onnx.samples_per_s)
        row.infer_onnx_batch_size = result.onnx.batch_size
        row.infer_onnx_ms_p50 = result.onnx.latency_ms_p50
        row.infer_onnx_ms_p90 = result.onnx.latency_ms_p90
        row.infer_onnx_ms_p99 = result.onnx.latency_ms_p99
    if result.latency_b1 is not None:
        row.latency_b1_ms_p50 = result.latency_b1.latency_ms_p50
        row.latency_b1_ms_p90 = result.latency_b1.latency_ms_p90
        row.latency_b1_ms_p99 = result.latency_b1.latency_ms_p99
    row.finished_at = utcnow()


def _finite(value: float | None) -> float | None:
    """A throughput too fast for the clock to resolve is unknown, not infinite."""
    return value if value is not None and math.isfinite(value) else None


@functools.cache
def schema_head() -> str | None:
    """The newest revision of our migrations (read from their scripts once per process)."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def alembic_config(connection: Any) -> Config:
    """Alembic's configuration for our migrations, run on ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def tune_engine(engine: Any) -> None:
    """Give an engine made elsewhere (Optuna's storage) the same SQLite settings as ours."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        engine.dispose()  # connections opened before the listener reconnect with it


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL stays consistent through any crash of the process (SIGKILL included);
    # only a power cut can lose the last commits. FULL would fsync every commit: ~25 per trial.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_s() * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _missing_driver(url: str, exc: ImportError) -> str:
    """What to install when SQLAlchemy cannot import a database driver."""
    if make_url(url).get_backend_name() == "postgresql":
        return f"the PostgreSQL driver is not installed ({exc}): pip install 'harness[postgres]'"
    return f"its database driver is not installed: {exc}"


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.split())[:300]


def _aware(moment: datetime) -> datetime:
    """SQLite hands timezone-aware columns back naive (they were stored in UTC)."""
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
