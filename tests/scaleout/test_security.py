"""Secrets stay secret: a database password never reaches the terminal, the stored study, the
leaderboards or the reports; checkpoints could only ever be loaded as plain tensors."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import REPO
from tests.conftest import run_cli

SECRET = "Sup3r-S3cret-pw"


def _every_stored_text(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = [t for (t,) in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]
            return "\n".join(str(conn.execute(text(f'SELECT * FROM "{t}"')).fetchall())
                             for t in tables)
    finally:
        engine.dispose()


def test_database_password_never_appears(write_task, tmp_path, pg_url):
    # The server trusts local connections, so any password is accepted — and must be hidden.
    url = make_url(pg_url).set(password=SECRET).render_as_string(hide_password=False)
    task = write_task(replace=(("n_trials = 2", "n_trials = 1"),),
                      append=f'\n[results]\ndb = "{url}"\n')
    seen = []
    run = run_cli("run", str(task))
    assert run.returncode == 0, run.stderr
    seen += [run.stdout, run.stderr]
    for fmt in ("table", "json", "csv", "md"):
        board = run_cli("leaderboard", "--db", url, "--format", fmt)
        assert board.returncode == 0, board.stderr
        seen += [board.stdout, board.stderr]
    report = run_cli("report", "--db", url, "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    seen += [p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "report").rglob("*")
             if p.is_file()]
    unreachable = run_cli("leaderboard", "--db",
                          url.replace("127.0.0.1:5432", "127.0.0.1:1"))
    assert unreachable.returncode != 0
    seen += [unreachable.stdout, unreachable.stderr]
    assert "***" in run.stdout  # the URL is shown, masked
    seen.append(_every_stored_text(url))
    leaks = [chunk[:200] for chunk in seen if SECRET in chunk]
    assert not leaks, leaks


def _torch_load_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"]


def test_every_checkpoint_load_is_weights_only():
    """harness never unpickles arbitrary objects: any torch.load passes weights_only=True."""
    unsafe = []
    for path in [*REPO.joinpath("harness").rglob("*.py"), *REPO.joinpath("plugins").rglob("*.py"),
                 *REPO.joinpath("examples").rglob("*.py")]:
        for call in _torch_load_calls(path):
            flags = {k.arg: k.value for k in call.keywords}
            value = flags.get("weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                unsafe.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert not unsafe, unsafe


def test_the_weights_only_check_catches_an_unsafe_load(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nstate = torch.load('x.pt')\nok = torch.load('y.pt', "
                   "weights_only=True)\n")
    calls = _torch_load_calls(bad)
    assert [c.lineno for c in calls] == [2, 3]
