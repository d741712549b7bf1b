"""Split hygiene: planted duplicates across train/val/test are found, reported, and with
``dedup = "drop"`` removed from the later split only."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.data._hygiene import apply_dedup
from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it
from tests.conftest import run_cli

SIZE = 48


def _photo(seed: int) -> Image.Image:
    """A smooth random picture: distinct seeds give clearly different images."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((96, 96), Image.BICUBIC)


@pytest.fixture
def leaky_folder(tmp_path):
    """train/val/test folders, 2 classes; val holds 1 exact copy of a training image and
    test holds 1 exact copy and 1 re-encoded, resized copy (a near-duplicate)."""
    root = tmp_path / "photos"
    seed = 0
    for split, count in (("train", 10), ("val", 4), ("test", 4)):
        for label in ("cat", "dog"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                seed += 1
                _photo(seed).save(folder / f"{i}.png")
    Image.open(root / "train/cat/0.png").save(root / "val/cat/copy.png")
    Image.open(root / "train/dog/3.png").save(root / "test/dog/copy.png")
    near = Image.open(root / "train/cat/5.png").resize((80, 80), Image.BILINEAR)
    near.save(root / "test/cat/near.jpg", quality=85)
    return root


def _views(folder):
    spec = installed_registry().datasets.get("imagefolder")
    options = {k: o.default for k, o in spec.options.items()}
    options.update(path=str(folder), image_size=SIZE)
    return load_as_tasks_see_it(spec, options)


def test_planted_duplicates_are_found_and_dropped_from_the_right_split(leaky_folder):
    views = _views(leaky_folder)
    sizes = {s: len(views.split(s)) for s in ("train", "val", "test")}
    _, found = apply_dedup(views, "report", near=True)
    assert found is not None
    assert {s: len(r) for s, r in found.rows.items()} == {"val": 1, "test": 2}
    assert (found.exact, found.near) == (2, 1)

    dropped, _ = apply_dedup(views, "drop", near=True)
    after = {s: len(dropped.split(s)) for s in ("train", "val", "test")}
    assert after == {"train": sizes["train"], "val": sizes["val"] - 1,
                     "test": sizes["test"] - 2}
    assert dropped.repairs["duplicates dropped"] == 3
    # what is left reads like any split, and no longer overlaps train
    train = set(dropped.split("train").fingerprints())
    assert not train & set(dropped.split("test").fingerprints())
    assert dropped.split("test").images([0, 1]).shape == (2, SIZE, SIZE, 3)
    assert len(dropped.split("test").labels) == after["test"]

    clean, none = apply_dedup(views, "off", near=True)
    assert clean is views and none is None


def test_the_run_reports_leaks_in_one_line_and_drops_them(leaky_folder, write_task, tmp_path):
    task = write_task(replace=(('name = "digits"', f'name = "imagefolder"\n'
                                                   f'path = "{leaky_folder}"\n'
                                                   f'image_size = {SIZE}\ndedup = "drop"'),
                               ("n_trials = 2", "n_trials = 1")))
    proc = run_cli("run", str(task), "--db", str(tmp_path / "r.db"))
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stderr.splitlines() if "duplicate an earlier split" in x]
    assert len(line) == 1
    assert "1 val, 2 test sample(s)" in line[0] and "removed from their split" in line[0]


def test_an_unknown_dedup_mode_is_a_configuration_error(write_task):
    task = write_task(replace=(('name = "digits"', 'name = "digits"\ndedup = "maybe"'),))
    proc = run_cli("validate", str(task))
    assert proc.returncode == 2
    assert "dataset.dedup" in proc.stderr and "maybe" in proc.stderr


class _Series:
    """A split of labelled series, as the cache's SequenceTable reads them."""

    def __init__(self, series):
        self._series = [np.asarray(s, dtype=np.float64) for s in series]
        self.labels = np.arange(len(series))
        self.lengths = np.array([len(s) for s in series])

    def __len__(self):
        return len(self._series)

    def series(self, i):
        return self._series[i]

    def fingerprints(self):
        import hashlib

        return [hashlib.sha1(s.tobytes()).hexdigest() for s in self._series]


def test_duplicate_series_across_splits_are_dropped_from_the_later_split():
    from dataclasses import dataclass
    from dataclasses import field

    @dataclass(frozen=True)
    class Views:
        splits: dict
        repairs: dict = field(default_factory=dict)

    train = _Series([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    val = _Series([[4, 5, 6], [0, 0, 1]])
    test = _Series([[0, 0, 1], [9, 9, 9], [1, 2, 3]])  # one copy of val, one of train
    dropped, leaks = apply_dedup(Views({"train": train, "val": val, "test": test}), "drop",
                                 near=False)
    assert leaks.rows == {"val": {0}, "test": {0, 2}} and leaks.exact == 3
    assert len(dropped.splits["train"]) == 3
    assert [list(dropped.splits["val"].series(i)) for i in range(1)] == [[0, 0, 1]]
    assert [list(dropped.splits["test"].series(i)) for i in range(1)] == [[9, 9, 9]]
    assert dropped.splits["test"].labels.tolist() == [1]
    assert dropped.repairs == {"duplicates dropped": 3}
