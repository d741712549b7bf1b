"""A dataset cache shared through object storage, and the ``harness cache`` commands.

The S3 test starts moto's S3 server on 127.0.0.1 and talks to it over a real socket through
pyarrow's own S3 client — no mock of the client.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import free_port
from tests.conftest import run_cli
from tests.conftest import says
from tests.conftest import serving
from tests.data.test_cache import FOLDER_TASK
from tests.data.test_cache import builds
from tests.data.test_cache import write_jpegs

pytestmark = pytest.mark.slow
S3_ENV = {"AWS_ACCESS_KEY_ID": "harness", "AWS_SECRET_ACCESS_KEY": "harness-secret",
          "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_url() -> Iterator[str]:
    port = free_port()
    with serving([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                 port, env=S3_ENV):
        yield (f"s3://harness-cache/shared?endpoint_override=127.0.0.1:{port}&scheme=http"
               "&region=us-east-1&allow_bucket_creation=true")


def test_a_shared_cache_is_decoded_once_for_every_machine(tmp_path, s3_url):
    write_jpegs(tmp_path / "images", 80)
    task = tmp_path / "folder.toml"
    task.write_text(FOLDER_TASK.format(size=32, trials=1))
    env = {**S3_ENV, "HARNESS_CACHE": s3_url}
    # "Machine A": its local cache sits beside its results database.
    first = run_cli("run", str(task), "--db", str(tmp_path / "a" / "a.db"), env=env)
    assert first.returncode == 0, first.stderr
    assert len(builds(tmp_path / "a" / "cache")) == 1
    # "Machine B": another local cache, the same shared one: it downloads, never decodes.
    second = run_cli("run", str(task), "--db", str(tmp_path / "b" / "b.db"), env=env)
    assert second.returncode == 0, second.stderr
    assert builds(tmp_path / "b" / "cache") == []
    downloads = (tmp_path / "b" / "cache" / "downloads.jsonl").read_text().splitlines()
    assert len(downloads) == 1 and json.loads(downloads[0])["dataset"] == "imagefolder"
    listed = run_cli("cache", "list", "--json", "--db", str(tmp_path / "b" / "b.db"), env=env)
    entries = json.loads(listed.stdout)["entries"]
    assert [e["dataset"] for e in entries] == ["imagefolder"]
    assert sum(entries[0]["samples"].values()) == 80


def test_cache_list_and_clear(tmp_path):
    write_jpegs(tmp_path / "images", 30)
    task = tmp_path / "folder.toml"
    task.write_text(FOLDER_TASK.format(size=32, trials=1))
    db = str(tmp_path / "r.db")
    assert run_cli("run", str(task), "--db", db).returncode == 0
    listed = run_cli("cache", "list", "--db", db)
    assert listed.returncode == 0 and "imagefolder (image_classification)" in listed.stdout
    assert "train 18, val 6, test 6" in listed.stdout
    cleared = run_cli("cache", "clear", "digits", "--db", db)
    assert "removed 0 cache entries of dataset 'digits'" in cleared.stdout
    cleared = run_cli("cache", "clear", "--db", db)
    assert "removed 1 cache entry" in cleared.stdout
    assert says(run_cli("cache", "list", "--db", db).stdout, "0 entries")


def test_kept_models_go_to_object_storage_whole_and_come_back_checked(write_task, tmp_path,
                                                                       s3_url, monkeypatch):
    """[artifacts] uri = s3://…: kept models are published to the bucket (the card last),
    dropped-out ones deleted from it, and export downloads, checks and writes one."""
    import sqlite3

    from pyarrow import fs

    task = write_task(replace=(("n_trials = 2", "n_trials = 3"),),
                      append=f'\n[artifacts]\nkeep = 1\nuri = "{s3_url}"\n')
    db = tmp_path / "s3.db"
    ran = run_cli("run", str(task), "--db", str(db), env=S3_ENV)
    assert ran.returncode == 0, ran.stderr
    with sqlite3.connect(db) as con:
        ((location, status),) = con.execute("SELECT location, status FROM harness_models")
    assert status == "kept" and location.startswith("s3://harness-cache/shared/study-1-tiny/")
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    filesystem, _ = fs.FileSystem.from_uri(s3_url.replace("/shared", ""))
    stored = [info.path for info in filesystem.get_file_info(
        fs.FileSelector("harness-cache/shared", recursive=True)) if info.is_file]
    assert sorted(p.rsplit("/", 1)[1] for p in stored) == ["card.json", "model.safetensors"]
    listed = run_cli("model", "list", "--db", str(db))
    assert "s3://harness-cache/shared/study-1-tiny/" in listed.stdout
    exported = run_cli("model", "export", "tiny", "--db", str(db), "--out", str(tmp_path / "e"),
                       "--format", "safetensors", env=S3_ENV)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "e" / "model.safetensors").is_file()
