"""The bad-input corpus: malformed task files and data sets, run with ``harness run`` against a
results database that already holds a finished study.

Every case must end in one line on stderr that names the file (and the key, column, line or
sample), exit status 2, and leave the database byte-for-byte as it was. Trials that go wrong
inside a study (NaN loss, simulated out-of-memory, a plugin that raises, a worker that dies)
are FAILed with their reason while the study goes on — and the database stays whole.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness._cli import main
from tests.conftest import REPO
from tests.conftest import TINY_TASK
from tests.conftest import assert_one_line_error
from tests.conftest import run_cli
from tests.conftest import says
from tests.core.test_config import MALFORMED
from tests.core.test_config import malformed_text

# -- task files beyond the validation table of tests/core/test_config.py ----------------------

# (id, text of the task file (or bytes), fragments the one-line error must contain)
TASK_FILES: list[tuple[str, str | bytes, list[str]]] = [
    ("empty-file", "", ["[study]", "required table is missing"]),
    ("binary-garbage", b"\x89PNG\r\n\x1a\n\x00\x00garbage", ["cannot read task file"]),
    ("unclosed-table-header", "[study\nname = 1\n", ["TOML syntax error"]),
    ("duplicate-key", TINY_TASK.replace("seed = 0", "seed = 0\nseed = 1"),
     ["TOML syntax error"]),
    ("not-utf8", b"[study]\nname = \"caf\xe9\"\n", ["cannot read task file"]),
    ("study-not-a-table", 'study = "tiny"\n', ["study", "expected a table"]),
    ("budget-zero-trials", TINY_TASK.replace("n_trials = 2", "n_trials = 0"),
     ["budget.n_trials", "at least 1"]),
    ("budget-bool-trials", TINY_TASK.replace("n_trials = 2", "n_trials = true"),
     ["budget.n_trials", "expected an integer, got true"]),
    ("retry-negative", TINY_TASK.replace("epochs = 1", "epochs = 1\nretry_crashed = -1"),
     ["budget.retry_crashed", "at least 0"]),
    ("grace-shorter-than-heartbeat",
     TINY_TASK.replace("epochs = 1", "epochs = 1\nheartbeat_s = 30\ngrace_s = 10"),
     ["budget.grace_s", "longer than heartbeat_s"]),
    ("trial-floor-without-compute-budget",
     TINY_TASK.replace("epochs = 1", "epochs = 1\nmin_trials = 1"),
     ["budget.min_trials", "set compute_s too"]),
    ("trial-floor-above-the-trials",
     TINY_TASK.replace("epochs = 1", "epochs = 1\ncompute_s = 10\nmin_trials = 9"),
     ["budget.min_trials", "more than the study's trials"]),
    ("code-in-architecture-name",
     TINY_TASK.replace('architectures = ["small_cnn"]',
                       'architectures = ["__import__(\'os\').system(\'touch pwned\')"]'),
     ["search.architectures", "no architecture"]),
    ("plugin-param-out-of-range", TINY_TASK.replace("width = 8", "width = [64, 8]"),
     ["search.space.small_cnn.width"]),
    ("epochs-float", TINY_TASK.replace("epochs = 1", "epochs = 1.5"),
     ["budget.epochs", "expected an integer"]),
    ("workers-negative", TINY_TASK.replace("threads = 1", "threads = 1\nworkers = -2"),
     ["device.workers"]),
    ("nested-50000-deep", "[study]\nname = " + "[" * 50000 + "]" * 50000 + "\n",
     ["cannot read task file", "nested too deeply"]),
]


def _dataset(template: str, table: str) -> str:
    """A shipped task file with its ``[dataset]`` table replaced."""
    text = (REPO / "tasks" / template).read_text()
    return re.sub(r"\[dataset\]\n(?:(?!\[).*\n)*", f"[dataset]\n{table}\n\n", text, count=1)


def _corrupt_images(root: Path) -> None:
    for label in ("a", "b"):
        (root / "imgs" / label).mkdir(parents=True)
        for i in range(3):
            (root / "imgs" / label / f"{i}.png").write_bytes(b"not a png at all")


def _voc_bad_xml(root: Path) -> None:
    from PIL import Image

    (root / "voc").mkdir()
    Image.new("RGB", (32, 32)).save(root / "voc" / "a.jpg")
    (root / "voc" / "a.xml").write_text("<annotation><object><name>cat</name>")


def _coco_bad_json(root: Path) -> None:
    (root / "coco").mkdir()
    (root / "coco" / "ann.json").write_text('{"images": [ {"id": 1,, }')


def _csv_text_value(root: Path) -> None:
    (root / "s.csv").write_text("t,y\n" + "".join(f"{i},n/a\n" for i in range(40)))


def _ucr_bad_line(root: Path) -> None:
    (root / "Toy_TRAIN.tsv").write_text("1\t0.1\t0.2\n1\t0.1\tabc\n")
    (root / "Toy_TEST.tsv").write_text("1\t0.1\t0.2\n")


def _nothing(root: Path) -> None:
    return None


def _file_not_folder(root: Path) -> None:
    (root / "imgs").write_text("I am a file")


def _empty_folder(root: Path) -> None:
    (root / "imgs").mkdir()


# (id, template task, [dataset] table, data builder, fragments of the one-line error)
DATA_SETS: list[tuple[str, str, str, Callable[[Path], None], list[str]]] = [
    ("imagefolder-missing", "classification.toml", 'name = "imagefolder"\npath = "nowhere"',
     _nothing, ["dataset.path", "no such file or folder"]),
    ("imagefolder-is-a-file", "classification.toml", 'name = "imagefolder"\npath = "imgs"',
     _file_not_folder, ["dataset", "imgs"]),
    ("imagefolder-empty", "classification.toml", 'name = "imagefolder"\npath = "imgs"',
     _empty_folder, ["dataset", "imgs"]),
    ("imagefolder-corrupt-images", "classification.toml", 'name = "imagefolder"\npath = "imgs"',
     _corrupt_images, ["dataset", "imgs"]),
    ("voc-malformed-xml-strict", "detection.toml", 'name = "voc"\npath = "voc"\nstrict = true',
     _voc_bad_xml, ["dataset", "a.xml"]),
    ("coco-json-syntax", "detection.toml",
     'name = "coco"\nimages = "coco"\nannotations = "coco/ann.json"', _coco_bad_json,
     ["dataset", "ann.json"]),
    ("csv-no-numbers-in-target", "sequence.toml",
     'name = "csv"\npath = "s.csv"\ntarget = ["y"]', _csv_text_value,
     ["dataset", "s.csv", "column 'y' holds no numbers"]),
    ("csv-missing-column", "sequence.toml",
     'name = "csv"\npath = "s.csv"\ntarget = ["sales"]',
     _csv_text_value, ["dataset", "s.csv", "sales"]),
    ("ucr-malformed-line", "sequence_classification.toml",
     'name = "ucr"\npath = "."\nproblem = "Toy"',
     _ucr_bad_line, ["dataset", "Toy_TRAIN.tsv:2: not a number"]),
]

CORPUS_SIZE = len(MALFORMED) + len(TASK_FILES) + len(DATA_SETS)


@pytest.fixture
def populated_db(tiny_study) -> Path:
    """A results database holding one finished study, written by the real CLI."""
    return tiny_study


def _snapshot(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = "
                                            "'table' ORDER BY name")]
        return [(t, con.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()) for t in tables]
    finally:
        con.close()


def _run_and_expect_one_line(task: Path, db: Path, fragments: list[str]) -> None:
    before = _snapshot(db)
    result = CliRunner().invoke(main, ["run", str(task), "--db", str(db)])
    assert_one_line_error(result, task, fragments)
    assert _snapshot(db) == before, "a bad input changed the results database"


def test_the_corpus_is_large_enough():
    assert CORPUS_SIZE >= 30


@pytest.mark.parametrize(("replacements", "fragments"),
                         [pytest.param(r, f, id=i) for i, r, f in MALFORMED])
def test_validation_corpus_through_run(populated_db, tmp_path, replacements, fragments):
    task = tmp_path / "bad.toml"
    task.write_text(malformed_text(replacements))
    _run_and_expect_one_line(task, populated_db, fragments)


@pytest.mark.parametrize(("text", "fragments"),
                         [pytest.param(t, f, id=i) for i, t, f in TASK_FILES])
def test_malformed_task_files(populated_db, tmp_path, monkeypatch, text, fragments):
    monkeypatch.chdir(tmp_path)
    task = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        task.write_bytes(text)
    else:
        task.write_text(text)
    _run_and_expect_one_line(task, populated_db, fragments)
    assert not (tmp_path / "pwned").exists()  # a task file is data, never code


@pytest.mark.parametrize(("template", "table", "build", "fragments"),
                         [pytest.param(t, d, b, f, id=i) for i, t, d, b, f in DATA_SETS])
def test_malformed_data_sets(populated_db, tmp_path, template, table, build, fragments):
    build(tmp_path)
    task = tmp_path / "bad.toml"
    task.write_text(_dataset(template, table))
    _run_and_expect_one_line(task, populated_db, fragments)


@pytest.mark.slow
def test_failing_trials_are_recorded_and_the_database_stays_whole(
        populated_db, tmp_path, fake_plugin_path):
    """NaN loss, a plugin that raises, simulated OOM below the batch floor, a dying worker:
    each trial FAILs with its reason, the study finishes, earlier results are untouched."""
    before = _snapshot(populated_db)
    archs = ["nan_net", "broken_net", "oom_net", "crash_net", "fake_mlp"]
    task = tmp_path / "failing.toml"
    task.write_text(TINY_TASK.replace('name = "tiny"', 'name = "failing"')
                    .replace('architectures = ["small_cnn"]', f"architectures = {json.dumps(archs)}")
                    .replace('sampler = "random"', 'sampler = "grid"')
                    .replace('optimizers = ["adamw", "sgd"]', 'optimizers = ["adamw"]')
                    .replace('schedulers = ["constant", "cosine"]', 'schedulers = ["constant"]')
                    .replace("lr = [1e-3, 1e-2]", "lr = 0.005")
                    .replace("[search.space.small_cnn]\nwidth = 8\ndepth = 1\ndropout = 0.0\n", "")
                    .replace("n_trials = 2", "n_trials = 5")
                    .replace("threads = 1", "threads = 1\nmin_batch_size = 16"))
    proc = run_cli("run", str(task), "--db", str(populated_db), extra_path=fake_plugin_path)
    assert proc.returncode == 0, proc.stderr
    assert says(proc.stdout, "5/5 of the budget finished")
    con = sqlite3.connect(populated_db)
    try:
        outcome = dict(con.execute(
            "SELECT t.architecture, t.status || ': ' || coalesce(t.fail_reason, '') "
            "FROM harness_trials t JOIN harness_studies s ON s.id = t.study_id "
            "WHERE s.name = 'failing'"))
    finally:
        con.close()
    assert outcome["fake_mlp"].startswith("complete")
    assert outcome["nan_net"].startswith("failed") and "nan" in outcome["nan_net"]
    assert "broken on purpose" in outcome["broken_net"]
    assert "out of memory" in outcome["oom_net"]
    assert "worker process exited with code 3" in outcome["crash_net"]
    after = dict(_snapshot(populated_db))
    for table, rows in before:  # the earlier study's rows are all still there, unchanged
        assert set(rows) <= set(after[table]), table
