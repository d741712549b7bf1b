"""Dataset ``text``: the quirks of real corpora (quotes, tabs, newlines, BOM, trailing spaces,
bad bytes, empty texts), every format, splits, duplicates across splits, and tokenizers that
never see a validation or test text."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import harness
from harness.data._hygiene import find_leaks
from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it

REGISTRY = installed_registry()
SPEC = REGISTRY.datasets.get("text")


def load(path, **options):
    return SPEC.load({**{k: o.default for k, o in SPEC.options.items()}, "path": str(path),
                      **options})


def every_text(data):
    return [t for split in (data.train, data.val, data.test) for t in split.texts]


def corpus(n=40):
    """n messages per class with distinct texts."""
    return [("spam" if i % 2 else "ham", f"message number {i} " + ("win cash" if i % 2 else "hi"))
            for i in range(2 * n)]


def test_csv_quoted_fields_keep_commas_tabs_and_newlines(tmp_path):
    rows = corpus()
    rows[0] = ("ham", 'she said "hi, there"\tthen\nleft')
    path = tmp_path / "a.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        import csv

        writer = csv.writer(f)
        writer.writerow(["label", "text"])
        writer.writerows(rows)
    data = load(path)
    assert len(every_text(data)) == len(rows)
    assert 'she said "hi, there"\tthen\nleft' in every_text(data)
    assert data.classes == ("ham", "spam")


def test_tsv_with_an_unclosed_quote_is_read_line_by_line(tmp_path):
    """An SMS corpus holds messages that open a quote and never close it; a quote-aware
    reader would swallow the following lines into one message."""
    rows = corpus()
    lines = ["label\ttext"] + [f"{label}\t{text}" for label, text in rows]
    lines[3] = 'ham\t"Gud mrng dear, have a nice day'
    path = tmp_path / "sms.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load(path)
    assert len(every_text(data)) == len(rows)
    assert '"Gud mrng dear, have a nice day' in every_text(data)


def test_headerless_tsv_by_column_number_with_bom_and_trailing_spaces(tmp_path):
    rows = corpus()
    body = "".join(f"{label} \t  {text}  \n" for label, text in rows)
    path = tmp_path / "SMSSpamCollection"  # as the corpus ships: no extension
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    data = load(path, header=False, label="1", text="2")
    assert data.classes == ("ham", "spam")  # "ham " and "ham" are one class
    assert "message number 0 hi" in every_text(data)  # no BOM, no surrounding spaces


@pytest.mark.parametrize(("name", "style"), [("data.txt", "csv"), ("export", "jsonl"),
                                             ("dump.dat", "tsv")])
def test_a_file_without_a_known_extension_is_read_by_its_content(tmp_path, name, style):
    rows = corpus()
    lines = {"csv": ["label,text"] + [f"{label},{text}" for label, text in rows],
             "tsv": ["label\ttext"] + [f"{label}\t{text}" for label, text in rows],
             "jsonl": [json.dumps({"text": text, "label": label}) for label, text in rows]}
    path = tmp_path / name
    path.write_text("\n".join(lines[style]) + "\n", encoding="utf-8")
    data = load(path)
    assert sorted(every_text(data)) == sorted(text for _, text in rows)


def test_a_column_number_with_a_header_says_what_to_set(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("label\ttext\nham\thi\n", encoding="utf-8")
    with pytest.raises(harness.DataError, match="no column '2'.*header = false"):
        load(path, text="2", label="1")


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    text = "label,text\n" + "".join(f"{label},{t}\n" for label, t in corpus())
    data = text.encode() + "ham,caf\xe9 au lait\n".encode("latin-1")
    path.write_bytes(data)
    with pytest.raises(harness.DataError, match=r"latin1.csv:82: not valid UTF-8 \(byte 0xe9\)"):
        load(path)


def test_empty_texts_are_counted_and_skipped(tmp_path):
    path = tmp_path / "a.csv"
    lines = ["text,label"] + [f"{t},{label}" for label, t in corpus()] + [",ham", '"  ",spam']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load(path)
    assert data.repairs == {"empty_text_skipped": 2}
    assert len(every_text(data)) == 80


def test_stratified_fractions_and_seed(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": label}) + "\n"
                            for label, t in corpus(50)), encoding="utf-8")
    data = load(path, val_fraction=0.2, test_fraction=0.1)
    assert (len(data.train.texts), len(data.val.texts), len(data.test.texts)) == (70, 20, 10)
    assert sorted(data.val.labels).count(1) == 10  # half spam, as in the corpus
    again = load(path, val_fraction=0.2, test_fraction=0.1)
    assert again.val.texts == data.val.texts
    other = load(path, val_fraction=0.2, test_fraction=0.1, split_seed=1)
    assert other.val.texts != data.val.texts


def test_a_split_column_decides_and_val_is_held_out_of_train_when_absent(tmp_path):
    rows = [{"text": t, "label": label, "part": "test" if i % 5 == 0 else "train"}
            for i, (label, t) in enumerate(corpus())]
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    data = load(path, split="part", val_fraction=0.25)
    assert set(data.test.texts) == {r["text"] for r in rows if r["part"] == "test"}
    assert len(data.val.texts) == 16 and not set(data.val.texts) & set(data.train.texts)


def test_a_bad_split_value_and_a_bad_json_line_name_the_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a", "label": "x", "part": "train"}\n'
                    '{"text": "b", "label": "y", "part": "holdout"}\n', encoding="utf-8")
    with pytest.raises(harness.DataError, match=r"a.jsonl:2: split 'holdout'"):
        load(path, split="part")
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", label}\n', encoding="utf-8")
    with pytest.raises(harness.DataError, match=r"a.jsonl:2: not JSON"):
        load(path)


def test_exact_duplicates_across_splits_reach_the_dedup_check(tmp_path):
    """Real corpora repeat messages; a test copy of a training text (even re-spaced) is
    found by the cache's fingerprints, which [dataset] dedup uses."""
    rows = [{"text": t, "label": label, "part": "train"} for label, t in corpus()]
    rows += [{"text": "message  number 3 win cash", "label": "spam", "part": "test"},
             {"text": "a new one", "label": "ham", "part": "test"},
             {"text": "message number 4 hi", "label": "ham", "part": "val"}]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    options = {**{k: o.default for k, o in SPEC.options.items()}, "path": str(path),
               "split": "part"}
    views = load_as_tasks_see_it(SPEC, options, str(tmp_path / "cache"))
    leaks = find_leaks(dict(views.splits), near=False)
    assert leaks.rows == {"val": {0}, "test": {0}}


@pytest.mark.parametrize(("kind", "unseen"), [("word", "zyzzyva"), ("bpe", "qxqxqxqx"),
                                               ("char", "ж")])
def test_tokenizers_are_fitted_on_the_training_split_only(tmp_path, kind, unseen):
    train = [f"hello world {i}" for i in range(30)]
    val = [f"{unseen} appears only here {i}" for i in range(6)]
    test = [f"and {unseen} here too" for _ in range(1)] + ["hello"]
    data = harness.data.TextData(
        harness.data.TextSet(tuple(train), tuple(i % 2 for i in range(30))),
        harness.data.TextSet(tuple(val), tuple(i % 2 for i in range(6))),
        harness.data.TextSet(tuple(test), (0, 1)), ("a", "b"))
    from harness.data._cache import DataCache
    from harness.data._materialize import materialize

    views, _ = materialize(dataset="t", kind="texts", options={}, data=data, owner="test",
                           load=load, cache=DataCache(tmp_path / "cache"))
    spec = REGISTRY.tasks.get("text_classification")
    params = {"tokenizer": kind, "vocab_size": 5000, "max_length": 64, "lowercase": True}
    task = spec.build(harness.TaskContext(views, params, {}, 0))
    vocabulary = task.tokenizer.get_vocab()
    pieces = [unseen] if kind != "bpe" else [unseen[:2], unseen[:3], unseen]
    assert not any(p in vocabulary for p in pieces)
    if kind == "char":
        assert unseen not in vocabulary
    ids = task.fetch("val", False)(np.array([0]))[0][0]
    assert 1 in ids.tolist()  # [UNK] stands for what training never showed
    # fitted once: a second trial with the same settings loads the stored tokenizer
    stored = list((tmp_path / "cache").rglob(f"tokenizers/{kind}-*.json"))
    assert len(stored) == 1
    again = spec.build(harness.TaskContext(views, params, {}, 1))
    assert again.tokenizer.get_vocab() == vocabulary
