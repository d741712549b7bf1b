"""Dataset ``ucr`` (kind ``sequences``): the UCR/UEA archive's ``<Name>_TRAIN`` and
``<Name>_TEST`` files, in the ``.ts`` format (header, multivariate dimensions, variable
lengths, ``?`` for missing) or the classic format (a label, then the values, per line, tab-,
comma- or space-separated). A malformed line is an error naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import harness
import harness.data
from harness_plugins._seqdata import stratified_sequence_split

OPTIONS = {
    "path": harness.Option("path", help="folder holding <Name>_TRAIN and <Name>_TEST files"),
    # Not `name`: that key of [dataset] names the dataset plugin itself.
    "problem": harness.Option(str, "", "the problem, the prefix of its files "
                                       "(default: the only one in the folder)"),
    "val_fraction": harness.Option(float, 0.2, "share of TRAIN held out for validation"),
    "split_seed": harness.Option(int, 0, "seed of the validation split"),
}

Case = tuple[Any, str]


def load_ucr(options: Mapping[str, Any]) -> harness.data.SequenceData:
    folder = Path(options["path"])
    if not folder.is_dir():
        raise harness.DataError(f"ucr: '{folder}' is not a folder")
    train_file, test_file = _files(folder, options["problem"])
    train, test = _read(train_file), _read(test_file)
    classes = tuple(sorted({label for _, label in train + test}, key=_label_key))
    index = {label: i for i, label in enumerate(classes)}
    labels = [index[label] for _, label in train]
    keep, held = stratified_sequence_split([x for x, _ in train], labels,
                                           options["val_fraction"], options["split_seed"])

    def subset(cases: list[Case], picks: list[int]) -> harness.data.SequenceSet:
        return harness.data.SequenceSet(tuple(cases[i][0] for i in picks),
                                        tuple(index[cases[i][1]] for i in picks))

    return harness.data.SequenceData(subset(train, keep), subset(train, held),
                                     subset(test, list(range(len(test)))), classes,
                                     fingerprint=harness.data.fingerprint_files(
                                         [train_file, test_file]))


def _label_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


PREFERRED_SUFFIXES = (".ts", ".tsv", ".txt", "")
"""When one problem comes in several formats (the sktime wheel ships ``.ts`` and ``.tsv`` side
by side), the richer one: ``.ts`` carries the class labels' declared order and several
dimensions."""


def _files(folder: Path, name: str) -> tuple[Path, Path]:
    candidates = sorted(p for p in folder.iterdir() if "_TRAIN" in p.name and p.is_file())
    if name:
        candidates = [p for p in candidates if p.name.split("_TRAIN")[0] == name]
    problems = sorted({p.name.split("_TRAIN")[0] for p in candidates})
    if len(problems) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        hint = "" if name else "; set `problem`"
        raise harness.DataError(f"ucr: need exactly one <Name>_TRAIN file in '{folder}' "
                                f"(found: {found}{hint})")
    train = min(candidates, key=lambda p: _preference(p.suffix.lower()))
    test = train.with_name(train.name.replace("_TRAIN", "_TEST"))
    if not test.is_file():
        raise harness.DataError(f"ucr: '{test}' is missing")
    return train, test


def _preference(suffix: str) -> int:
    return (PREFERRED_SUFFIXES.index(suffix) if suffix in PREFERRED_SUFFIXES
            else len(PREFERRED_SUFFIXES))


def _read(path: Path) -> list[Case]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    is_ts = any(line.strip().lower() == "@data" for line in lines)
    cases = _read_ts(path, lines) if is_ts else _read_classic(path, lines)
    if not cases:
        raise harness.DataError(f"ucr: '{path}' holds no series")
    return cases


def _read_ts(path: Path, lines: list[str]) -> list[Case]:
    import numpy as np

    cases, in_data, dims = [], False, None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *parts, label = line.split(":")
        if not parts:
            raise harness.DataError(f"{path}:{number}: expected 'values:…:label'")
        if dims is not None and len(parts) != dims:
            raise harness.DataError(f"{path}:{number}: {len(parts)} dimensions, expected {dims}")
        dims = len(parts)
        try:
            channels = [[float("nan") if v.strip() == "?" else float(v)
                         for v in part.split(",")] for part in parts]
        except ValueError as exc:
            raise harness.DataError(f"{path}:{number}: not a number ({exc})") from None
        length = max(len(c) for c in channels)
        # dimensions of one case may differ in length in the archive: pad with missing values
        padded = [c + [float("nan")] * (length - len(c)) for c in channels]
        cases.append((np.array(padded, dtype=np.float64).T, label.strip()))
    return cases


def _read_classic(path: Path, lines: list[str]) -> list[Case]:
    import numpy as np

    cases = []
    for number, raw in enumerate(lines, start=1):
        fields = raw.replace(",", " ").replace("\t", " ").split()
        if not fields:
            continue
        if len(fields) < 2:
            raise harness.DataError(f"{path}:{number}: a label and at least one value needed")
        try:
            values = [float("nan") if v in ("NaN", "?") else float(v) for v in fields[1:]]
        except ValueError as exc:
            raise harness.DataError(f"{path}:{number}: not a number ({exc})") from None
        label = fields[0]
        if label.endswith(".0"):
            label = label[:-2]
        cases.append((np.array(values, dtype=np.float64)[:, None], label))
    return cases


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="ucr", data_kind=harness.data.SEQUENCES, load=load_ucr, options=OPTIONS,
        description="UCR/UEA archive files (.ts or classic), variable length, multivariate"))
