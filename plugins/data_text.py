"""Dataset ``text`` (kind ``texts``): labelled texts from a CSV, TSV, JSONL or Parquet file.

``text`` and ``label`` name the columns (or, in a file without a header row, give their
1-based positions: ``text = 2, label = 1``). The file must be UTF-8 (a byte-order mark is
allowed); a byte that is not is one error naming the line. Quoted CSV fields may hold commas,
tabs and newlines. A TSV file whose every line has the header's number of tabs is read with
quotes as plain text: real corpora (SMS collections among them) hold messages that begin with a
quote and never close it, which a quote-aware reader would merge with the following lines.
Surrounding whitespace is trimmed from texts, labels and column names; empty texts are counted
and skipped. Splits come from a ``split`` column (``train``/``val``/``test``; ``validation``
and ``dev`` mean ``val``) or are drawn by class with ``val_fraction`` / ``test_fraction``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import Literal

import harness
import harness.data
from harness_plugins._splits import holdout
from harness_plugins._splits import stratified_split

OPTIONS = {
    "path": harness.Option("path", help="a CSV, TSV, JSONL or Parquet file (by extension, else "
                                       "by content)"),
    "text": harness.Option(str, "text", "the text column (a 1-based number without header)"),
    "label": harness.Option(str, "label", "the label column (a 1-based number without header)"),
    "split": harness.Option(str, "", "a column saying train, val or test per row (optional)"),
    "header": harness.Option(bool, True, "the first row of a CSV/TSV file names the columns"),
    "val_fraction": harness.Option(float, 0.1, "share split off for validation (no `split`)"),
    "test_fraction": harness.Option(float, 0.1, "share split off for test (no `split`)"),
    "split_seed": harness.Option(int, 0, "seed of the stratified split (fixed across trials)"),
}
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "dev": "val", "test": "test", "testing": "test"}
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
"""Formats by extension; any other file (``SMSSpamCollection``, ``data.txt``) is sniffed."""

Rows = list[dict[str, Any]]


def load_text(options: Mapping[str, Any]) -> harness.data.TextData:
    path = Path(options["path"])
    if not path.is_file():
        raise harness.DataError(f"text: '{path}' is not a file")
    fmt = FORMATS.get(path.suffix.lower()) or _sniffed(path)
    rows = _read_parquet(path) if fmt == "parquet" else _read_lines(path, fmt, options["header"])
    columns = [options["text"], options["label"], *([options["split"]] if options["split"]
                                                    else [])]
    for column in columns:
        _check_column(path, rows, column, options["header"])
    return _labelled(path, rows, options)


# -- reading ----------------------------------------------------------------------------------

def _sniffed(path: Path) -> str:
    """The format of a file whose extension does not say: Parquet by its magic bytes, JSONL
    when its first line is an object, TSV when it holds a tab, else CSV."""
    with path.open("rb") as f:
        head = f.read(65536)
    if head[:4] == b"PAR1":
        return "parquet"
    first = head.lstrip(b"\xef\xbb\xbf").lstrip().split(b"\n", 1)[0]
    if first.startswith(b"{"):
        return "jsonl"
    return "tsv" if b"\t" in first else "csv"


def _decoded(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise harness.DataError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                                "save the file as UTF-8") from None


def _read_lines(path: Path, fmt: str, header: bool) -> Rows:
    text = _decoded(path)
    if fmt == "jsonl":
        return _read_jsonl(path, text)
    delimiter = "\t" if fmt == "tsv" else ","
    quoting: Literal[0, 3] = csv.QUOTE_MINIMAL
    if fmt == "tsv" and _tabs_agree(text):
        quoting = csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting,
                        strict=False)
    records = [(reader.line_num, row) for row in reader if any(f.strip() for f in row)]
    if not records:
        raise harness.DataError(f"{path}: holds no rows")
    names = ([n.strip() for n in records[0][1]] if header
             else [str(i + 1) for i in range(max(len(r) for _, r in records))])
    body = records[1:] if header else records
    return [{"_line": line, **{names[i]: v for i, v in enumerate(row) if i < len(names)}}
            for line, row in body]


def _tabs_agree(text: str) -> bool:
    """Every non-empty line has as many tabs as the first: no field spans lines, so quotes
    can be read as text."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and len({line.count("\t") for line in lines}) == 1


def _read_jsonl(path: Path, text: str) -> Rows:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise harness.DataError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise harness.DataError(f"{path}:{number}: expected a JSON object per line")
        rows.append({"_line": number, **{str(k).strip(): v for k, v in record.items()}})
    return rows


def _read_parquet(path: Path) -> Rows:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise harness.DataError(f"{path}: not a readable Parquet file ({exc})") from None
    names = [str(n).strip() for n in table.column_names]
    return [{"_line": i + 2, **dict(zip(names, row.values(), strict=True))}
            for i, row in enumerate(table.to_pylist())]


def _check_column(path: Path, rows: Rows, column: str, header: bool) -> None:
    found = sorted({k for row in rows[:1] for k in row if k != "_line"})
    if rows and column not in rows[0]:
        hint = harness.did_you_mean(column, found)
        if header and column.isdigit():
            hint += "; a column number needs header = false"
        raise harness.DataError(f"{path}: no column '{column}' (columns: {', '.join(found)})"
                                + hint)


# -- labels and splits ------------------------------------------------------------------------

def _labelled(path: Path, rows: Rows, options: Mapping[str, Any]) -> harness.data.TextData:
    repairs: Counter[str] = Counter()
    texts, labels, splits = [], [], []
    for row in rows:
        text = row.get(options["text"])
        text = "" if text is None else str(text).strip()
        if not text:
            repairs["empty_text_skipped"] += 1
            continue
        label = row.get(options["label"])
        if label is None or not str(label).strip():
            raise harness.DataError(f"{path}:{row['_line']}: no label in column "
                                    f"'{options['label']}'")
        texts.append(text)
        labels.append(_label_name(label))
        if options["split"]:
            splits.append(_split_name(path, row, options["split"]))
    if not texts:
        raise harness.DataError(f"{path}: no row holds a text")
    classes = tuple(sorted(set(labels)))
    index = [classes.index(label) for label in labels]
    parts = _by_column(splits, index, options) if splits else _drawn(path, index, options)

    def subset(picks: list[int]) -> harness.data.TextSet:
        return harness.data.TextSet(tuple(texts[i] for i in picks), tuple(index[i] for i in picks))

    return harness.data.TextData(subset(parts["train"]), subset(parts["val"]),
                                 subset(parts["test"]), classes, dict(repairs),
                                 fingerprint=harness.data.fingerprint_files([path]))


def _label_name(label: Any) -> str:
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label).strip()


def _split_name(path: Path, row: dict[str, Any], column: str) -> str:
    value = str(row.get(column) or "").strip().lower()
    if value not in SPLIT_NAMES:
        raise harness.DataError(f"{path}:{row['_line']}: split '{value}' in column '{column}' "
                                "is not train, val or test")
    return SPLIT_NAMES[value]


def _by_column(splits: list[str], labels: list[int],
               options: Mapping[str, Any]) -> dict[str, list[int]]:
    """The column's splits; without val rows, ``val_fraction`` of train is held out."""
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, split in enumerate(splits):
        parts[split].append(i)
    if not parts["val"] and parts["train"]:
        train = parts["train"]
        keep, held = holdout([labels[i] for i in train], options["val_fraction"],
                             options["split_seed"])
        parts["train"], parts["val"] = [train[i] for i in keep], [train[i] for i in held]
    return parts


def _drawn(path: Path, labels: list[int], options: Mapping[str, Any]) -> dict[str, list[int]]:
    try:
        train, val, test = stratified_split(labels, options["val_fraction"],
                                            options["test_fraction"], options["split_seed"])
    except ValueError as exc:  # scikit-learn: a class too small to stratify
        raise harness.DataError(f"{path}: cannot split {len(labels)} texts into train, val and "
                                f"test by class ({exc}); add rows or a `split` column") from None
    return {"train": train, "val": val, "test": test}


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="text", data_kind=harness.data.TEXTS, load=load_text, options=OPTIONS,
        description="labelled texts from a CSV, TSV, JSONL or Parquet file"))
