"""Finding a kept model and loading it: the study's best by default, checked before use.

The weights are read only when their SHA-256 matches the one recorded in the results database
and in the card: a damaged or swapped file is one line, never a model. The network is rebuilt
from the card by the architecture's own plugin (which must be installed), with any
``pretrained`` weights switched off: the kept weights replace them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from harness._errors import HarnessError
from harness._errors import StoreError
from harness._errors import UsageError
from harness._export.card import WEIGHTS
from harness._export.card import read_card
from harness._files import file_sha256
from harness._registry import Registry
from harness._specs import ModelRequest
from harness._store.artifacts import ArtifactStore
from harness._store.artifacts import artifact_root
from harness._store.artifacts import mask_secret
from harness._store.queries import kept_models
from harness._store.results import ResultsStore

__all__ = ["Kept", "build_model", "find_kept", "open_kept", "study_task"]


@dataclass(frozen=True)
class Kept:
    """A kept model, found and checked: its folder (local) and its card."""

    study: str
    trial: int
    folder: Path
    card: dict[str, Any]


def find_kept(store: ResultsStore, study: str, trial: int | None = None) -> dict[str, Any]:
    """The ``harness_models`` row of trial ``trial`` of ``study``, or of its best kept model;
    one line saying what is wrong otherwise."""
    found = store.find_study(study)
    if found is None:
        raise UsageError(f"no study '{study}' in {store.safe_url}")
    with Session(store.engine) as session:
        rows = kept_models(session, found.id)
    if trial is not None:
        if store.trials_by_number(found.id, [trial]).get(trial) is None:
            raise UsageError(f"study '{study}' has no trial {trial}")
        rows = [r for r in rows if r["trial"] == trial]
        if not rows:
            raise UsageError(f"trial {trial} of study '{study}' has no kept model: a study "
                             "keeps its best [artifacts] keep trials (default 3); "
                             f"`harness reproduce {study} {trial} --keep` trains it again "
                             "and keeps it")
    kept = [r for r in rows if r["status"] == "kept"]
    if not kept:
        if rows:
            raise StoreError(f"trial {rows[0]['trial']} of study '{study}': its model is "
                             f"missing ({rows[0]['reason']})")
        raise UsageError(f"study '{study}' has no kept model (is [artifacts] keep 0?)")
    metric = found.primary_metric
    sign = -1.0 if found.direction == "maximize" else 1.0
    return min(kept, key=lambda r: (sign * r["metrics"].get(metric, float("nan"))
                                    if metric in r["metrics"] else float("inf"), r["trial"]))


def open_kept(store: ResultsStore, row: dict[str, Any]) -> Kept:
    """The kept model's files, local (downloaded once from object storage) and verified."""
    artifacts = ArtifactStore(artifact_root(store.url), store.url)
    folder = artifacts.fetch(row["location"], artifacts.staging_root.parent / ".downloads")
    card = read_card(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise StoreError(f"kept model {mask_secret(row['location'])}: {WEIGHTS} is missing")
    actual = file_sha256(weights)
    expected = {row["checksum"], (card.get("weights") or {}).get("sha256")}
    if expected != {actual}:
        raise StoreError(f"kept model {mask_secret(row['location'])}: the checksum of "
                         f"{WEIGHTS} does not match the one recorded ({actual[:12]}… is not "
                         f"{(row['checksum'] or '?')[:12]}…): the file was changed or damaged")
    return Kept(row["study"], row["trial"], folder, card)


def build_model(registry: Registry, card: dict[str, Any], folder: Path) -> Any:
    """The network the card describes, with the kept weights loaded (strictly)."""
    from safetensors.torch import load_model

    try:
        choice = registry.resolve_architectures(card["architecture"])[0]
    except LookupError:
        raise HarnessError(f"architecture '{card['architecture']}' is not installed: the "
                           f"plugin that registered it is needed to rebuild the model") from None
    params = dict(card["architecture_params"])
    if "pretrained" in params:
        params["pretrained"] = False  # the kept weights replace whatever it started from
    model = choice.spec.build(ModelRequest(choice.name, card["task"], card["model_io"], params))
    try:
        load_model(model, str(folder / WEIGHTS), strict=True)
    except (RuntimeError, OSError) as exc:
        raise StoreError(f"{folder / WEIGHTS}: the weights do not fit "
                         f"{card['architecture']} ({' '.join(str(exc).split())[:200]})") \
            from None
    return model.eval()


def study_task(store: ResultsStore, kept: Kept, pm: Any) -> Any:
    """The kept trial's task, built on its study's own data (loaded from the dataset cache,
    or built into it): its test split checks an export, its validation split shows the
    model in a report."""
    from harness._run.dataset import data_for
    from harness._run.reproduce import resolve_stored
    from harness._specs import TaskContext

    row = store.find_study(kept.study)
    if row is None:
        raise UsageError(f"no study '{kept.study}' in {store.safe_url}")
    resolved = resolve_stored(row, store.url, pm)
    return resolved.task.build(TaskContext(data_for(resolved), kept.card["task_params"],
                                           resolved.task_options, int(kept.card["seed"])))
