"""A study as a tabular benchmark ("blackbox"): configuration → objective and seconds per epoch.

``harness export`` writes one from a stored study, as Parquet or JSON; ``harness replay`` reads
either (or the study straight from its database). The format, version ``harness-blackbox/1``:

- metadata: ``format``, ``study``, ``task``, ``dataset``, ``objective`` (a validation metric,
  e.g. ``accuracy``), ``direction`` (``maximize``/``minimize``), ``epochs`` (per trial),
  ``space`` (every searched parameter's Optuna distribution, as Optuna's own JSON);
- one record per trial: ``number``, ``status`` (``complete``/``pruned``/``failed``),
  ``params`` (the searched values, as Optuna named them), ``values`` (the objective after each
  epoch run), ``seconds`` (each epoch's training plus validation seconds), ``final`` (the
  objective of a complete trial, else null).

In Parquet the metadata is a JSON object in the schema's metadata under ``harness``, and
``params`` a JSON string per row.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._errors import UsageError
from harness._files import atomic_path
from harness._files import atomic_write
from harness._files import output_error

__all__ = ["FORMAT", "Blackbox", "RecordedTrial", "from_database", "read_blackbox",
           "write_blackbox"]

FORMAT = "harness-blackbox/1"


@dataclass(frozen=True)
class RecordedTrial:
    number: int
    status: str
    params: dict[str, Any]
    values: tuple[float, ...]
    seconds: tuple[float, ...]
    final: float | None


@dataclass(frozen=True)
class Blackbox:
    study: str
    task: str
    dataset: str
    objective: str
    direction: str
    epochs: int
    space: dict[str, Any]  # parameter → Optuna distribution
    trials: tuple[RecordedTrial, ...]
    source: str

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def best_final(self) -> float:
        finals = [t.final for t in self.trials if t.final is not None]
        return max(finals) if self.maximize else min(finals)

    def metadata(self) -> dict[str, Any]:
        from optuna.distributions import distribution_to_json

        return {"format": FORMAT, "study": self.study, "task": self.task,
                "dataset": self.dataset, "objective": self.objective,
                "direction": self.direction, "epochs": self.epochs,
                "space": {k: json.loads(distribution_to_json(v)) for k, v in self.space.items()}}


def from_database(db_url: str, study: str) -> Blackbox:
    """The stored study ``study`` as a blackbox (single objective)."""
    import optuna
    from sqlalchemy.orm import Session

    from harness._store import ResultsStore
    from harness._store.queries import study_for_export

    store = ResultsStore(db_url)
    try:
        with Session(store.engine) as session:
            found = study_for_export(session, study)
            if found is None:
                raise UsageError(f"no study '{study}' in {store.safe_url}")
            row, trials, epochs = found
            objectives = list(row.objectives)
            if len(objectives) != 1:
                raise UsageError(f"study '{study}' optimises {len(objectives)} objectives; "
                                 "replay needs a single-objective study")
            objective = objectives[0]["name"]
            meta = (row.name, row.task, row.dataset, objective, objectives[0]["direction"],
                    int((row.config or {}).get("budget", {}).get("epochs", 0)))
        storage = optuna.storages.RDBStorage(db_url)
        try:
            frozen = {t.number: t for t in optuna.load_study(
                study_name=study, storage=storage).get_trials(deepcopy=False)}
        finally:
            storage.engine.dispose()
    finally:
        store.close()
    space: dict[str, Any] = {}
    recorded = []
    for trial in trials:
        optuna_trial = frozen.get(trial.number)
        params = dict(optuna_trial.params) if optuna_trial else {}
        space.update(optuna_trial.distributions if optuna_trial else {})
        recorded.append(_recorded(trial, epochs.get(trial.id, []), objective, params))
    return Blackbox(*meta, space, tuple(recorded), store.safe_url)  # type: ignore[arg-type]


def _recorded(trial: Any, epochs: list[Any], objective: str,
              params: dict[str, Any]) -> RecordedTrial:
    values = tuple(float(e.val_metrics[objective]) for e in epochs
                   if objective in (e.val_metrics or {}))
    seconds = tuple(float(e.train_seconds) + float(e.val_seconds or 0.0) for e in epochs)
    final = values[-1] if trial.status == "complete" and values else None
    return RecordedTrial(trial.number, trial.status, params, values, seconds[:len(values)],
                         final)


def write_blackbox(blackbox: Blackbox, path: Path) -> Path:
    """Write as Parquet (``.parquet``) or JSON (anything else): whole or not at all; a folder
    that cannot take it (read-only, full) is one line."""
    try:
        return _write_blackbox(blackbox, path)
    except OSError as exc:
        raise output_error(path, exc) from None


def _write_blackbox(blackbox: Blackbox, path: Path) -> Path:
    records = [{"number": t.number, "status": t.status, "params": t.params,
                "values": list(t.values), "seconds": list(t.seconds), "final": t.final}
               for t in blackbox.trials]
    meta = blackbox.metadata()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            "number": [r["number"] for r in records],
            "status": [r["status"] for r in records],
            "params": [json.dumps(r["params"]) for r in records],
            "values": pa.array([r["values"] for r in records], pa.list_(pa.float64())),
            "seconds": pa.array([r["seconds"] for r in records], pa.list_(pa.float64())),
            "final": pa.array([r["final"] for r in records], pa.float64()),
        }).replace_schema_metadata({"harness": json.dumps(meta)})
        with atomic_path(path) as temporary:
            pq.write_table(table, temporary)
    else:
        with atomic_write(path, encoding="utf-8") as fh:
            fh.write(json.dumps({**meta, "trials": records}, indent=1))
    return path


def read_blackbox(path: Path) -> Blackbox:
    """Read a blackbox written by ``harness export`` (Parquet or JSON).

    Raises:
        UsageError: the file is missing, unreadable, or of another (newer) format.
    """
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {}).get(b"harness", b"{}"))
            rows = table.to_pylist()
            for row in rows:
                if isinstance(row.get("params"), str):
                    row["params"] = json.loads(row["params"])
        else:
            document = json.loads(path.read_text())
            if not isinstance(document, dict):
                raise ValueError("expected a JSON object")
            meta, rows = document, document.get("trials", [])
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a harness blackbox ({' '.join(str(exc).split())[:200]})"
                         ) from None
    if meta.get("format") != FORMAT:
        raise UsageError(f"{path}: format {meta.get('format')!r}; this harness reads {FORMAT} "
                         "(a newer harness wrote it? upgrade harness)")
    return _from_records(meta, rows, str(path))


def _from_records(meta: dict[str, Any], rows: list[dict[str, Any]], source: str) -> Blackbox:
    """The blackbox a file holds, every field checked: a wrong type or value is one line
    naming the field (and the trial), never a traceback from deep in a replay."""
    if not isinstance(meta, dict) or not isinstance(rows, list):
        raise UsageError(f"{source}: not a harness blackbox (expected an object with trials)")
    for key in ("study", "task", "dataset", "objective"):
        _field(meta, key, str, source)
    direction = _field(meta, "direction", str, source)
    if direction not in ("maximize", "minimize"):
        raise UsageError(f"{source}: direction must be \"maximize\" or \"minimize\", got "
                         f"{direction!r}")
    epochs = _field(meta, "epochs", int, source)
    if epochs < 1:
        raise UsageError(f"{source}: epochs must be at least 1, got {epochs}")
    space = _space(_field(meta, "space", dict, source), source)
    trials = tuple(_trial(row, i, source) for i, row in enumerate(rows))
    return Blackbox(meta["study"], meta["task"], meta["dataset"], meta["objective"],
                    direction, epochs, space, trials, source)


def _field(record: dict[str, Any], key: str, kind: type, source: str,
           where: str = "") -> Any:
    if not isinstance(record, dict) or key not in record:
        raise UsageError(f"{source}: {where}missing field '{key}'")
    value = record[key]
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise UsageError(f"{source}: {where}field '{key}' must be {_KINDS[kind]}, got "
                         f"{json.dumps(value, default=str)[:60]}")
    return value


_KINDS = {str: "a string", int: "an integer", float: "a number", dict: "an object",
          list: "a list"}


def _space(raw: dict[str, Any], source: str) -> dict[str, Any]:
    from optuna.distributions import json_to_distribution

    space = {}
    for name, value in raw.items():
        try:
            space[name] = json_to_distribution(json.dumps(value))
        except Exception as exc:  # Optuna raises several types for a malformed distribution
            raise UsageError(f"{source}: space.{name} is not an Optuna distribution "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
                             ) from None
    return space


def _numbers(values: Any, key: str, source: str, where: str, *, least: float | None = None
             ) -> tuple[float, ...]:
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values):
        raise UsageError(f"{source}: {where}field '{key}' must be a list of finite numbers")
    if least is not None and any(v < least for v in values):
        raise UsageError(f"{source}: {where}field '{key}' holds a value below {least}")
    return tuple(float(v) for v in values)


def _trial(row: Any, index: int, source: str) -> RecordedTrial:
    where = f"trial {index}: "
    number = _field(row, "number", int, source, where)
    where = f"trial {number}: "
    status = _field(row, "status", str, source, where)
    if status not in ("complete", "pruned", "failed"):
        raise UsageError(f"{source}: {where}status must be complete, pruned or failed, got "
                         f"{status!r}")
    params = _field(row, "params", dict, source, where)
    values = _numbers(row.get("values"), "values", source, where)
    seconds = _numbers(row.get("seconds"), "seconds", source, where, least=0.0)
    if len(seconds) != len(values):
        raise UsageError(f"{source}: {where}'values' and 'seconds' differ in length "
                         f"({len(values)} and {len(seconds)})")
    if "final" not in row:
        raise UsageError(f"{source}: {where}missing field 'final'")
    final = row["final"]
    if final is not None and (isinstance(final, bool) or not isinstance(final, (int, float))
                              or not math.isfinite(final)):
        raise UsageError(f"{source}: {where}field 'final' must be a finite number or null")
    return RecordedTrial(number, status, dict(params), values, seconds,
                         None if final is None else float(final))
