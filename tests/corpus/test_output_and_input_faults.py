"""The faults of docs/reliability.md rows 27–38: outputs through links and into devices,
leftover temporary files, hostile names in replay.md, malformed blackboxes, secrets in cache
URLs, damaged databases found before writing, impossible sampler options, weights folders that
name no single file, and what a dead fork server is called."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.conftest import one_line
from tests.conftest import run_cli

# -- outputs ----------------------------------------------------------------------------------


def test_an_output_named_through_a_link_is_written_where_it_points(tiny_study, tmp_path):
    target = tmp_path / "kept" / "tiny.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "l.json"
    link.symlink_to(target)
    ran = invoke("export", "--db", str(tiny_study), "--study", "tiny", "--out", str(link))
    assert ran.returncode == 0, ran.stderr
    assert link.is_symlink() and link.resolve() == target  # the link stays a link
    assert json.loads(target.read_text())["study"] == "tiny"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "l.json", "tiny.db"]


def test_an_output_that_is_a_fifo_is_streamed_into_not_replaced(tiny_study, tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    ran = invoke("export", "--db", str(tiny_study), "--study", "tiny", "--out", str(fifo))
    reader.join(timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(received[0])["study"] == "tiny"
    assert fifo.exists() and not fifo.is_file()  # still the FIFO, not a regular file


@pytest.mark.slow
def test_dev_stdout_is_written_to_never_replaced(tiny_study):
    """`--out /dev/stdout` as root (CI is root): the device stays a device."""
    before = os.stat("/dev/stdout", follow_symlinks=True)
    ran = run_cli("export", "--db", str(tiny_study), "--study", "tiny", "--out",
                  "/dev/stdout", process=True)
    assert ran.returncode == 0, ran.stderr
    assert '"study": "tiny"' in ran.stdout
    assert Path("/dev/stdout").exists()
    after = os.stat("/dev/stdout", follow_symlinks=True)
    assert not Path(os.path.realpath("/dev/stdout")).is_file() or before == after


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tiny_study, tmp_path):
    out = tmp_path / "tiny.json"
    stale = tmp_path / ".tiny.json.tmp-999999"  # what SIGTERM mid-write leaves (pid gone)
    stale.write_text("half")
    live = tmp_path / f".tiny.json.tmp-{os.getppid()}"  # a writer still at work: left alone
    live.write_text("busy")
    ran = invoke("export", "--db", str(tiny_study), "--study", "tiny", "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    assert not stale.exists() and live.exists()


@pytest.mark.slow
def test_export_and_replay_into_a_read_only_folder_areone_line(tiny_study, tmp_path):
    from tests.corpus.test_hardening import _tmpfs

    with _tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        ran = invoke("export", "--db", str(tiny_study), "--study", "tiny", "--out",
                     str(folder / "tiny.json"))
        one_line(ran, 1, str(folder / "tiny.json"), "read-only")
        ran = invoke("replay", "--db", str(tiny_study), "--study", "tiny", "--seeds", "2",
                     "--out", str(folder / "replay"))
        one_line(ran, 1, "read-only")


# -- replay: hostile names and malformed blackboxes --------------------------------------------


@pytest.fixture
def blackbox(tiny_study, tmp_path) -> dict:
    out = tmp_path / "tiny.json"
    assert invoke("export", "--db", str(tiny_study), "--study", "tiny", "--out",
                  str(out)).returncode == 0
    return json.loads(out.read_text())


def test_a_hostile_study_name_is_text_in_replay_md(blackbox, tmp_path):
    from markdown_it import MarkdownIt

    blackbox["study"] = "R <img src=x onerror=alert(1)>"
    source = tmp_path / "hostile.json"
    source.write_text(json.dumps(blackbox))
    ran = invoke("replay", str(source), "--seeds", "2", "--out", str(tmp_path / "replay"))
    assert ran.returncode == 0, ran.stderr
    markdown = (tmp_path / "replay" / "replay.md").read_text()
    html = MarkdownIt("commonmark").render(markdown)  # raw HTML passes through CommonMark
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def _variants(good: dict) -> dict[str, dict]:
    """Blackboxes wrong in one field each: the types and values a hand edit produces."""
    def with_meta(**changes):
        return {**good, **changes}

    def with_trial(**changes):
        trials = [dict(t) for t in good["trials"]]
        trials[0].update(changes)
        return {**good, "trials": trials}

    return {
        "epochs-string": with_meta(epochs="two"), "epochs-zero": with_meta(epochs=0),
        "direction": with_meta(direction="sideways"), "no-objective": {
            k: v for k, v in good.items() if k != "objective"},
        "space-garbage": with_meta(space={"lr": {"name": "Nope"}}),
        "space-list": with_meta(space=[1, 2]), "trials-not-list": with_meta(trials={"a": 1}),
        "values-missing": {**good, "trials": [{k: v for k, v in good["trials"][0].items()
                                               if k != "values"}]},
        "values-strings": with_trial(values=["a", "b"]),
        "seconds-negative": with_trial(seconds=[-1.0] * len(good["trials"][0]["seconds"])),
        "seconds-short": with_trial(seconds=[]), "final-string": with_trial(final="high"),
        "status-odd": with_trial(status="maybe"), "number-float": with_trial(number=1.5),
        "params-list": with_trial(params=[1]), "trial-not-object": with_meta(trials=[3]),
        "not-an-object": [1, 2, 3],
    }


def test_a_malformed_blackbox_is_one_line_naming_the_field(blackbox, tmp_path):
    for name, document in _variants(blackbox).items():
        source = tmp_path / f"{name}.json"
        source.write_text(json.dumps(document))
        ran = invoke("replay", str(source), "--seeds", "2")
        line = one_line(ran, 2, str(source))
        if name == "direction":
            assert "'sideways'" in line  # once accepted silently
        if name.startswith(("values", "seconds", "final", "status", "number", "params")):
            assert "trial 0: " in line, line  # the trial that is wrong


def test_a_parquet_blackbox_without_its_final_column_isone_line(tiny_study, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "tiny.parquet"
    assert invoke("export", "--db", str(tiny_study), "--study", "tiny", "--out",
                  str(out)).returncode == 0
    table = pq.read_table(out)
    pq.write_table(table.drop_columns(["final"]), out)
    one_line(invoke("replay", str(out), "--seeds", "2"), 2, "missing field 'final'")


# -- secrets, databases, options, weights, processes ------------------------------------------


def test_a_secret_in_an_unreachable_cache_url_is_never_printed_and_exits_1(tmp_path,
                                                                         write_task):
    """The object store is down: an environment failure (exit 1, not a usage error 2), said
    in one line that masks the URL's secret — as `cache list` does."""
    url = "s3://KEYID:TOPSECRET@bucket/x?endpoint_override=127.0.0.1:9&scheme=http"
    env = {"HARNESS_CACHE": url, "AWS_EC2_METADATA_DISABLED": "true"}
    listed = invoke("cache", "list", "--db", str(tmp_path / "r.db"), env=env)
    assert "TOPSECRET" not in listed.stdout + listed.stderr and "KEYID:***@" in listed.stdout
    ran = run_cli("run", str(write_task()), "--db", str(tmp_path / "r.db"), env=env,
                  process=True, timeout=240)
    line = one_line(ran, 1, "shared dataset cache")
    assert "TOPSECRET" not in ran.stdout + ran.stderr and "***" in line


def test_a_damaged_database_is_reported_before_anything_is_written(tiny_study, write_task):
    size = tiny_study.stat().st_size
    assert size > 96 * 1024
    with tiny_study.open("r+b") as fh:  # the fault as found: 8 KB of garbage at 80 KB
        fh.seek(80 * 1024)
        fh.write(os.urandom(8 * 1024))
    damaged = tiny_study.read_bytes()
    ran = invoke("run", str(write_task()), "--db", str(tiny_study))
    one_line(ran, 1, "is damaged", "PRAGMA integrity_check")
    assert tiny_study.read_bytes() == damaged  # not one byte written
    assert not Path(f"{tiny_study}-wal").exists() or Path(f"{tiny_study}-wal").stat().st_size == 0


@pytest.mark.parametrize(("option", "key"), [("n_ei_candidates = 0", "sampler_options"),
                                               ("popsize = 0", "sampler_options")])
def test_impossible_sampler_options_are_refused_by_validate(write_task, option, key):
    sampler = "cmaes" if "popsize" in option else "tpe"
    task = write_task(replace=(('sampler = "random"', f'sampler = "{sampler}"'),),
                      append=f"\n[search.{key}]\n{option}\n")
    line = one_line(invoke("validate", str(task)), 2, f"search.{key}",
                     f"{option.split()[0]} must be at least 1")
    assert str(task) in line


def test_a_weights_folder_with_several_files_for_one_model_names_them(tmp_path):
    from harness import TrialFailed
    from plugins._weights import weights_file

    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("epoch10.pth", "epoch20.pth"):
        (folder / name).write_bytes(b"x")
    with pytest.raises(TrialFailed, match=r"several weight files \(epoch10.pth, epoch20.pth\)"):
        weights_file(str(folder), "resnet18")
    (folder / "model.safetensors").write_bytes(b"x")  # a conventional name decides
    assert weights_file(str(folder), "resnet18").name == "model.safetensors"


def test_a_dead_fork_server_is_not_called_a_native_crash():
    from harness._run.workers import FORK_SERVER_GONE
    from harness._run.workers import death_reason

    assert "fork server died" in death_reason(FORK_SERVER_GONE)
    assert "native" not in death_reason(FORK_SERVER_GONE)
    assert "native" not in death_reason(1)


def test_every_location_masks_secrets_by_one_rule():
    """The dataset cache and kept models name object storage alike: a password that holds
    "/" (AWS secret keys do) and secret options are masked whole."""
    from harness._store.artifacts import mask_secret
    from harness.data._remote import mask_secrets

    url = "s3://KEY:ab/c+d@bucket/x?endpoint_override=h:1&secret_key=zz"
    assert mask_secrets(url) == mask_secret(url) == (
        "s3://KEY:***@bucket/x?endpoint_override=h:1&secret_key=***")
    assert mask_secret("/a/local/folder") == "/a/local/folder"
