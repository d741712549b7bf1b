"""The dataset cache: decoded once, shared by trials and processes, rebuilt exactly when its
source changes, safe under races, kills and truncation, and a trial's memory flat in N.

Build counts come from the cache's own log (``builds.jsonl``), never from timings.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it
from tests.conftest import REPO
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

FOLDER_TASK = """\
[study]
name = "folder"
task = "classification"

[dataset]
name = "imagefolder"
path = "images"
image_size = {size}

[search]
sampler = "random"
pruner = "none"
architectures = ["small_cnn"]
optimizers = ["adamw"]
batch_size = [32]

[search.space.small_cnn]
width = 8
depth = 1

[search.space.classification]
image_size = {size}

[budget]
n_trials = {trials}
epochs = 1

[device]
device = "cpu"
threads = 1
"""


def write_jpegs(root: Path, count: int, side: int = 48, classes: int = 2, seed: int = 0) -> None:
    """``count`` JPEGs in ``classes`` class folders: class k is brighter on the left or right."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        label = i % classes
        gradient = np.linspace(40, 215, side)[None, :, None]
        if label:
            gradient = gradient[:, ::-1]
        pixels = gradient + rng.normal(0, 25, (side, side, 3))
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg",
                                                                    quality=85)


def builds(cache: Path) -> list[dict]:
    log = cache / "builds.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _imagefolder(path: Path, size: int = 32) -> dict:
    return {"path": str(path), "image_size": size, "channels": 3, "val_fraction": 0.2,
            "test_fraction": 0.2, "split_seed": 0, "strict": False}


def _cached(options: dict, cache: Path):
    return load_as_tasks_see_it(installed_registry().datasets.get("imagefolder"), options,
                                str(cache))


def test_decoded_once_and_shared_by_every_trial_and_process(tmp_path):
    write_jpegs(tmp_path / "images", 60)
    task = tmp_path / "folder.toml"
    task.write_text(FOLDER_TASK.format(size=32, trials=2))
    env = {"HARNESS_CACHE": str(tmp_path / "cache")}
    first = run_cli("run", str(task), "--db", str(tmp_path / "a.db"), env=env)
    assert first.returncode == 0, first.stderr
    assert len(builds(tmp_path / "cache")) == 1  # two trials in two worker processes: one build
    second = run_cli("run", str(task), "--db", str(tmp_path / "a.db"), "--n-trials", "3",
                     env=env)
    assert second.returncode == 0, second.stderr
    assert len(builds(tmp_path / "cache")) == 1  # a second process reads the same entry
    rows = sqlite3.connect(tmp_path / "a.db").execute(
        "SELECT status FROM harness_trials ORDER BY number").fetchall()
    assert rows == [("complete",)] * 3


def test_a_changed_file_or_option_rebuilds_and_nothing_else_does(tmp_path):
    write_jpegs(tmp_path / "images", 30)
    cache = tmp_path / "cache"
    before = _cached(_imagefolder(tmp_path / "images"), cache)
    _cached(_imagefolder(tmp_path / "images"), cache)
    assert len(builds(cache)) == 1
    victim = sorted((tmp_path / "images" / "class0").iterdir())[0]
    Image.new("RGB", (48, 48), "white").save(victim, quality=85)  # new content, new mtime
    after = _cached(_imagefolder(tmp_path / "images"), cache)
    assert len(builds(cache)) == 2
    assert before.split("train").fingerprints() != after.split("train").fingerprints() or \
        before.split("val").fingerprints() != after.split("val").fingerprints() or \
        before.split("test").fingerprints() != after.split("test").fingerprints()
    _cached(_imagefolder(tmp_path / "images", size=16), cache)  # an option changed
    assert len(builds(cache)) == 3
    assert after.split("train").shape == (32, 32, 3)


RACER = """
import json, sys
from harness.testing import installed_registry, load_as_tasks_see_it
options = json.loads(sys.argv[1])
data = load_as_tasks_see_it(installed_registry().datasets.get("imagefolder"), options,
                            sys.argv[2])
print(json.dumps([data.split(s).fingerprints() for s in ("train", "val", "test")]))
"""


def test_two_processes_racing_for_one_cache_produce_one_correct_cache(tmp_path):
    write_jpegs(tmp_path / "images", 400)
    cache = tmp_path / "cache"
    args = [sys.executable, "-c", RACER, json.dumps(_imagefolder(tmp_path / "images")),
            str(cache)]
    racers = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO) for _ in range(2)]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert [r.returncode for r in racers] == [0, 0], outputs
    assert len(builds(cache)) == 1
    assert outputs[0][0] == outputs[1][0]  # both read the same, complete data
    assert sum(len(split) for split in json.loads(outputs[0][0])) == 400
    assert not list(cache.glob(".*tmp*"))


def test_a_truncated_shard_is_rebuilt_never_read(tmp_path):
    write_jpegs(tmp_path / "images", 40)
    cache = tmp_path / "cache"
    good = _cached(_imagefolder(tmp_path / "images"), cache).split("train").fingerprints()
    (shard,) = [p for p in cache.glob("imagefolder-*/train-*.arrow")]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    again = _cached(_imagefolder(tmp_path / "images"), cache)
    assert len(builds(cache)) == 2
    assert again.split("train").fingerprints() == good


@pytest.mark.parametrize("where", ["pixels", "labels"])
def test_damaged_bytes_of_the_same_size_are_found_and_rebuilt(tmp_path, where):
    write_jpegs(tmp_path / "images", 40)
    cache = tmp_path / "cache"
    good = _cached(_imagefolder(tmp_path / "images"), cache).split("train")
    pixels, labels = good.fingerprints(), good.labels.tolist()
    (shard,) = list(cache.glob("imagefolder-*/train-*.arrow"))
    data = bytearray(shard.read_bytes())
    # pixels fill most of the shard; the label column sits near its end, before the footer
    at = len(data) // 3 if where == "pixels" else _label_offset(data, labels)
    data[at:at + 64] = os.urandom(64)
    shard.write_bytes(bytes(data))  # same size: only a checksum can tell
    again = _cached(_imagefolder(tmp_path / "images"), cache).split("train")
    assert len(builds(cache)) == 2  # found damaged, rebuilt — never read
    assert again.fingerprints() == pixels
    assert again.labels.tolist() == labels
    # an unchanged entry is not hashed again: its check is remembered by size and time
    memo = json.loads(next(cache.glob("imagefolder-*/.verified.json")).read_text())
    assert shard.name in memo


def _label_offset(data: bytearray, labels: list[int]) -> int:
    """Where the label column's values are: the int64 run that spells the labels."""
    needle = np.asarray(labels[:8], dtype=np.int64).tobytes()
    at = bytes(data).rfind(needle)
    assert at > 0, "test bug: labels not found in the shard"
    return at


def test_clear_keeps_an_entry_a_running_study_reads(tmp_path):
    write_jpegs(tmp_path / "images", 40)
    cache = tmp_path / "cache"
    _cached(_imagefolder(tmp_path / "images"), cache)
    from harness.data._cache import DataCache

    store = DataCache(cache)
    (entry,) = store.entries()
    with store.in_use(entry.path):  # what `harness run` holds while its trials read it
        proc = run_cli("cache", "clear", process=True, env={"HARNESS_CACHE": str(cache)})
        assert proc.returncode == 0, proc.stderr
        assert "removed 0 cache entries" in proc.stdout
        assert f"kept {entry.path.name}: a running study reads it" in proc.stdout
        assert entry.path.is_dir()
    proc = run_cli("cache", "clear", env={"HARNESS_CACHE": str(cache)})
    assert "removed 1 cache entry" in proc.stdout and not entry.path.exists()


ORPHAN_BUILDER = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from harness.data._build import _remember

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_remember, initargs=({},))
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(600)
"""


def test_cache_builders_die_with_the_run_that_started_them(tmp_path):
    script = tmp_path / "builder.py"
    script.write_text(textwrap.dedent(ORPHAN_BUILDER))
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                           cwd=REPO)
    builder = int(run.stdout.readline())
    run.send_signal(signal.SIGKILL)  # the run dies without a word to its pool
    run.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _alive(builder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(builder), "the decoder process outlived its run"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "zombie" not in fh.read()
    except FileNotFoundError:
        return False


SLOW_BUILD = """
import os, sys, time
import numpy as np
from harness.data import ImageClassificationData, ImageSample, LazySplit
from harness.data._cache import DataCache
from harness.data._materialize import materialize


class Slow:
    def __call__(self, i):
        time.sleep(float(os.environ.get("SLOW_READ_S", "0")))
        return ImageSample(np.full((8, 8, 1), i % 250, np.uint8), i % 2)


split = LazySplit(600, Slow())
data = ImageClassificationData(("a", "b"), split, LazySplit(4, Slow()), LazySplit(4, Slow()))
materialize(dataset="slow", kind="image_classification", options={}, data=data, owner="t",
            load=Slow, cache=DataCache(sys.argv[1]), workers=1)
"""


def test_a_build_killed_midway_leaves_nothing_that_is_read(tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent(SLOW_BUILD))
    builder = subprocess.Popen([sys.executable, str(script), str(cache)], cwd=tmp_path,
                               env={**os.environ, "SLOW_READ_S": "0.05"})
    deadline = time.monotonic() + 120
    while not list(cache.glob(".slow-*.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # well inside the build (it takes 30 s)
    builder.send_signal(signal.SIGKILL)
    builder.wait(timeout=30)
    assert list(cache.glob(".slow-*.tmp-*")), "the build was not under way when killed"
    assert not [p for p in cache.glob("slow-*") if p.is_dir()]  # nothing was published
    assert builds(cache) == []
    # The next builder of the same entry clears the leftovers and builds it whole.
    subprocess.run([sys.executable, str(script), str(cache)], cwd=tmp_path, check=True,
                   timeout=120)
    assert len(builds(cache)) == 1 and not list(cache.glob(".slow-*.tmp-*"))


def _peak_rss_mb(tmp_path: Path, count: int) -> float:
    root = tmp_path / f"n{count}"
    write_jpegs(root / "images", count, side=64)
    task = root / "folder.toml"
    task.write_text(FOLDER_TASK.format(size=64, trials=1))
    proc = run_cli("run", str(task), "--db", str(root / "r.db"),
                   env={"HARNESS_CACHE": str(root / "cache")})
    assert proc.returncode == 0, proc.stderr
    (peak,) = sqlite3.connect(root / "r.db").execute(
        "SELECT peak_memory_mb FROM harness_trials").fetchone()
    return float(peak)


def test_a_trials_memory_does_not_grow_with_the_dataset(tmp_path):
    # Three times the images (both past the evaluation batch of 64). The old in-memory path
    # held float32 copies of every split in the worker: +125 MB per copy here. Reading batches
    # from the cache holds none; what may grow is the cache file's pages the epoch touched
    # (uint8, a quarter of one copy: +31 MB, shared page cache that VmHWM counts) and noise
    # (+20 MB alone, +43 MB beside another test process). Half a float32 copy is the bound.
    added = 3900 - 1300
    float_copy_mb = added * 64 * 64 * 3 * 4 / 2**20
    small, large = _peak_rss_mb(tmp_path, 1300), _peak_rss_mb(tmp_path, 3900)
    assert large - small < float_copy_mb / 2, (small, large)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI is root)")
def test_a_full_disk_while_building_is_one_line_and_leaves_no_cache(tmp_path):
    write_jpegs(tmp_path / "images", 300, side=64)
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        task = tmp_path / "folder.toml"
        task.write_text(FOLDER_TASK.format(size=64, trials=1))
        proc = run_cli("run", str(task), "--db", str(tmp_path / "r.db"),
                       env={"HARNESS_CACHE": str(small / "cache")})
        assert proc.returncode == 1, proc.stderr  # the machine's fault, not the task file's
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "no space left on the device" in lines[0], proc.stderr
        assert str(small / "cache") in lines[0] and "Traceback" not in proc.stderr
        left = [p.name for p in (small / "cache").iterdir()] if (small / "cache").exists() else []
        assert [name for name in left if not name.endswith(".lock")] == []
    finally:
        subprocess.run(["umount", str(small)], check=False)
