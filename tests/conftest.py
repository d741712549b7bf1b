"""Shared fixtures: task files, real SQLite files, a fake plugin distribution, the real CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# A task small enough for a CPU test: digits at 8×8, one tiny CNN, one or two epochs.
TINY_TASK = """\
[study]
name = "tiny"
task = "classification"
seed = 0

[dataset]
name = "digits"

[search]
sampler = "random"
pruner = "none"
architectures = ["small_cnn"]
optimizers = ["adamw", "sgd"]
schedulers = ["constant", "cosine"]
lr = [1e-3, 1e-2]
batch_size = [64]

[search.space.small_cnn]
width = 8
depth = 1
dropout = 0.0

[search.space.classification]
image_size = 8
augment = "none"
blur_sigma = 0.0

[budget]
n_trials = 2
epochs = 1

[device]
device = "cpu"
threads = 1
"""


@pytest.fixture
def write_task(tmp_path: Path) -> Callable[..., Path]:
    """Write a task file (default: TINY_TASK, with ``replace`` pairs applied)."""

    def write(text: str = TINY_TASK, name: str = "task.toml",
              replace: tuple[tuple[str, str], ...] = (), append: str = "") -> Path:
        for old, new in replace:
            assert old in text, f"test bug: {old!r} not in the task text"
            text = text.replace(old, new)
        path = tmp_path / name
        path.write_text(text + textwrap.dedent(append))
        return path

    return write


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'results.db'}"


FAKE_PLUGIN = '''
import harness

def _mlp(request):
    from torch import nn
    c, h, w = request.io["input_shape"]
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, request.params["hidden"]), nn.ReLU(),
                         nn.Linear(request.params["hidden"], request.io["num_classes"]))

def _nan(request):
    import torch
    from torch import nn

    class NaNNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))
        def forward(self, x):
            return x.flatten(1)[:, :request.io["num_classes"]] * self.scale * float("nan")

    return NaNNet()

def _broken(request):
    raise RuntimeError("this architecture is broken on purpose")

def _wrapping(request, before):
    """``_mlp`` behind a forward that first calls ``before(module, x)``."""
    import torch

    inner = _mlp(request)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner
        def forward(self, x):
            before(self, x)
            return self.inner(x)

    return Wrapped()

def _oom(request):
    """Simulates a GPU that fits at most 8 samples per training batch."""
    import torch

    def check(module, x):
        if module.training and x.shape[0] > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    return _wrapping(request, check)

def _slow(request):
    """Answers in no less than 30 ms at inference: a latency any CPU measures the same."""
    import time

    def wait(module, x):
        if not module.training:
            time.sleep(0.03)

    return _wrapping(request, wait)

def _sleepy(request):
    import time
    time.sleep(60)

def _flaky(request):
    import os
    if os.environ.get("HARNESS_FAKE_FLAKY"):
        raise RuntimeError("flaky failure")
    return _mlp(request)

def _crash(request):
    import os
    os._exit(3)

_LEAKED = []

def _hog(request):
    """Holds (and touches) 300 MB while its trial runs: a worker must give it back after."""
    import torch
    model = _mlp(request)
    model.register_buffer("ballast", torch.ones(75_000_000), persistent=False)
    return model

def _leaky(request):
    """Leaks 300 MB into module state on every build: a worker must be recycled."""
    import torch
    _LEAKED.append(torch.ones(75_000_000))
    return _mlp(request)

@harness.hookimpl
def register_architectures(register):
    register(harness.ArchitectureSpec(
        name="fake_mlp", build=_mlp, tasks=("classification",),
        params={"hidden": harness.Int(32, 16, 64)}, description="third-party MLP"))
    register(harness.ArchitectureSpec(name="nan_net", build=_nan, tasks=("classification",)))
    # A hostile name: every report must show it as text, never run it.
    register(harness.ArchitectureSpec(
        name="<script>alert(1)</script>", build=_mlp, tasks=("classification",),
        params={"hidden": harness.Int(16, 8, 32)}, description="a name to escape"))
    register(harness.ArchitectureSpec(name="broken_net", build=_broken, tasks=("classification",)))
    register(harness.ArchitectureSpec(name="oom_net", build=_oom, tasks=("classification",),
                                      params={"hidden": harness.Int(32, 16, 64)}))
    register(harness.ArchitectureSpec(name="sleepy_net", build=_sleepy, tasks=("classification",)))
    register(harness.ArchitectureSpec(name="slow_net", build=_slow, tasks=("classification",),
                                      params={"hidden": harness.Int(32, 16, 64)}))
    register(harness.ArchitectureSpec(name="crash_net", build=_crash, tasks=("classification",)))
    for name, build in (("hog_net", _hog), ("leaky_net", _leaky)):
        register(harness.ArchitectureSpec(name=name, build=build, tasks=("classification",),
                                          params={"hidden": harness.Int(32, 16, 64)}))
    register(harness.ArchitectureSpec(name="flaky_mlp", build=_flaky, tasks=("classification",),
                                      params={"hidden": harness.Int(32, 16, 64)}))

def _log(line):
    import os
    path = os.environ.get("HARNESS_FAKE_EVENTS")
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\\n")

@harness.hookimpl
def configure(config):
    import os
    import time
    _log(f"configure {config.study.name}")
    time.sleep(float(os.environ.get("HARNESS_FAKE_SLOW_CONFIGURE") or 0))

@harness.hookimpl
def trial_finished(result):
    _log(f"trial {result.plan.number} {result.status}")

@harness.hookimpl
def study_finished(summary):
    _log(f"study {summary.ran} {summary.failed}")
'''


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the project's default): one test process per core, at most four. Each holds
    torch, its own fork server and its trials' memory; beyond four the suite's few dozen long
    tests, not the core count, set the wall time."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` are deselected where there is no CUDA device (they run in
    ``benchmarks/gpu_check.sh`` on a GPU machine): said in the summary, never a silent skip."""
    import torch

    if torch.cuda.is_available():
        return
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        config.hook.pytest_deselected(items=gpu)
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]


def install_distribution(root: Path, dist: str, module: str, source: str,
                         entry_point: str | None = None) -> Path:
    """Write ``module.py`` and a ``*.dist-info`` declaring it in the ``harness`` group."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[harness]\n{entry_point or module} = {module}\n")
    return root


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install a plugin distribution into a temp dir on sys.path; entry points then find it."""
    import importlib

    def install(dist: str, module: str, source: str, entry_point: str) -> Path:
        root = install_distribution(tmp_path / "site" / dist, dist, module, source, entry_point)
        monkeypatch.syspath_prepend(str(root))
        importlib.invalidate_caches()
        return root

    return install


@pytest.fixture
def fake_plugin_path(install_plugin: Callable[..., Path]) -> Path:
    """A fake third-party distribution ``harness-fake``, found via its entry point."""
    return install_plugin("harness-fake", "harness_fake", FAKE_PLUGIN, "fake")


def assert_one_line_error(result, path: Path, fragments: list[str]) -> None:
    """A CliRunner result that failed with exit status 2 and one stderr line naming ``path``
    and containing every fragment — never a traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.output


def one_line(ran: Any, code: int, *fragments: str) -> str:
    """A command that failed with exit status ``code`` and one stderr line holding every
    fragment — never a traceback; returns the line."""
    assert ran.returncode == code, (ran.returncode, ran.stdout, ran.stderr)
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in ran.stderr, ran.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_cli(*args: str, cwd: Path | None = None, extra_path: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 300, process: bool = False,
            ) -> Ran | subprocess.CompletedProcess[str]:
    """Run the ``harness`` command: in this process (:func:`invoke`), or with ``process`` in a
    fresh interpreter, ``python -m harness`` — where the process boundary is what is tested
    (exit statuses of the real executable, a plugin found by a new interpreter, output a real
    pipe receives)."""
    if not process:
        return invoke(*args, cwd=cwd, extra_path=extra_path, env=env)
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HARNESS_DB", None)
    if extra_path is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(extra_path), full_env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd or REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


@dataclass
class Ran:
    """What a command did, as ``subprocess.CompletedProcess`` says it."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, cwd: Path | None = None, extra_path: Path | None = None,
           env: dict[str, str] | None = None) -> Ran:
    """Run ``harness ARGS`` in this process through click's CliRunner: the real command's
    code path without starting an interpreter (about 4 s a call on two cores), for every test
    where no process boundary is under test. Trials still train in worker processes; with
    ``env`` their fork server is restarted, so the workers see it too. An exception the
    command lets escape is printed as a traceback with exit status 1, as the real one would."""
    import importlib
    import traceback

    from click.testing import CliRunner

    from harness._cli import main
    from harness._run.workers import stop_fork_server

    environment: dict[str, str | None] = {"HARNESS_DB": None, **(env or {})}
    saved_path, saved_cwd = list(sys.path), os.getcwd()
    if env:
        stop_fork_server()
    try:
        if extra_path is not None:
            sys.path.insert(0, str(extra_path))
            importlib.invalidate_caches()
        os.chdir(cwd or REPO)
        result = CliRunner(env=environment).invoke(main, list(args), catch_exceptions=True)
    finally:
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
        if env:
            stop_fork_server()
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)


def _train_once(folder: Path, text: str) -> Path:
    task = folder / "task.toml"
    task.write_text(text)
    db = folder / "results.db"
    ran = invoke("run", str(task), "--db", str(db))
    assert ran.returncode == 0, ran.stderr
    task.unlink()  # studies keep their task file: nothing after this may need it on disk
    return db


@pytest.fixture(scope="session")
def _tiny_study_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train_once(tmp_path_factory.mktemp("tiny-study"), TINY_TASK)


@pytest.fixture(scope="session")
def _repeated_study_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train_once(tmp_path_factory.mktemp("repeated-study"), REPEATED_TASK)


REPEATED_TASK = TINY_TASK.replace("n_trials = 2", "n_trials = 2\nrepeats = 2\nconfirm_top = 1")
"""TINY_TASK's two search trials, then its best configuration again under seed 1."""


@pytest.fixture
def tiny_study(_tiny_study_once: Path, tmp_path: Path) -> Path:
    """A copy of a results database holding study 'tiny' (TINY_TASK: two complete trials),
    trained once per test session; each test may change its own copy."""
    return Path(shutil.copy(_tiny_study_once, tmp_path / "tiny.db"))


@pytest.fixture
def repeated_study(_repeated_study_once: Path, tmp_path: Path) -> Path:
    """A copy of a results database holding study 'tiny' trained from REPEATED_TASK (trials 0
    and 1 searched, trial 2 a repeat under seed 1), trained once per test session."""
    return Path(shutil.copy(_repeated_study_once, tmp_path / "repeated.db"))


def says(text: str, phrase: str) -> bool:
    """``phrase`` occurs in ``text`` as a whole: a count it starts with is not the tail of a
    larger number ("5 passed" is not found in "15 passed")."""
    import re

    return re.search(rf"(?<![\w.]){re.escape(phrase)}(?![\w])", text) is not None


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 (now)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(command: list[str], port: int, env: dict[str, str] | None = None,
            ready: str | None = None, timeout: float = 90) -> Iterator[str]:
    """A server (moto's S3, MLflow's tracking server, optuna-dashboard) started for a test:
    yields its base URL once it answers (an HTTP GET of ``ready`` succeeds, or the port takes
    connections), and stops it and every process it started (MLflow's workers) afterwards."""
    import signal

    base = f"http://127.0.0.1:{port}"
    # A file, not a pipe: a chatty server never blocks on a full pipe.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, **(env or {})}, start_new_session=True)
        try:
            _wait_until_serving(server, log, command, base, port, ready, timeout)
            yield base
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _wait_until_serving(server: subprocess.Popen[bytes], log: Any, command: list[str],
                        base: str, port: int, ready: str | None, timeout: float) -> None:
    import socket
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            log.seek(0)
            raise AssertionError(f"{' '.join(command)} exited: "
                                 f"{log.read().decode(errors='replace')[-2000:]}")
        try:
            if ready is None:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            else:
                urllib.request.urlopen(base + ready, timeout=5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{' '.join(command)} did not start"
            time.sleep(0.3)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0", "--virtual-time-budget=15000"]


def chromium(*args: str, profile: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Headless Chromium (``--dump-dom URL``, ``--screenshot=FILE URL``): pages render with
    their JavaScript for up to 15 s of virtual time; ``profile`` is a fresh user-data folder."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is required (apt-get install chromium; .ci/run installs it)"
    return subprocess.run([found, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)
