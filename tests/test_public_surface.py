"""The public surface: what plugins may import, and a plugin written from the docs alone.

``harness.__all__``, ``harness.data``, ``harness.testing`` and ``harness.hookspecs`` are
public; every other module's name starts with an underscore. Plugins outside ``plugins/`` (the example package,
the fresh plugin below) import nothing else — and never the builtins' ``harness_plugins``.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import harness
import harness.data
import harness.testing
from tests.conftest import REPO
from tests.conftest import install_distribution
from tests.conftest import run_cli

FRESH = REPO / "tests" / "fresh_plugin" / "harness_fresh.py"
THIRD_PARTY = [*sorted((REPO / "examples").rglob("*.py")), FRESH]


def private_imports(source: str) -> list[str]:
    """Every use of harness beyond its public surface in ``source``."""
    allowed = {"harness": set(harness.__all__), "harness.data": set(harness.data.__all__),
               "harness.testing": set(harness.testing.__all__)}
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names
                      if a.name.startswith(("harness.", "harness_plugins"))
                      and a.name not in allowed]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("harness_plugins"):
                found.append(node.module)
            elif node.module in allowed:
                found += [f"{node.module}.{a.name}" for a in node.names
                          if a.name not in allowed[node.module]]
            elif node.module.startswith("harness."):
                found.append(node.module)
        elif isinstance(node, ast.Attribute):
            found += _attribute_problems(node, allowed)
    return found


def _attribute_problems(node: ast.Attribute, allowed: dict[str, set[str]]) -> list[str]:
    """``harness.X`` and ``harness.data.X`` must name public things."""
    if isinstance(node.value, ast.Name) and node.value.id == "harness":
        public = allowed["harness"] | {"data", "testing"}
        return [] if node.attr in public else [f"harness.{node.attr}"]
    inner = node.value
    if (isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name)
            and inner.value.id == "harness" and inner.attr in ("data", "testing")):
        module = f"harness.{inner.attr}"
        return [] if node.attr in allowed[module] else [f"{module}.{node.attr}"]
    return []


def test_plugins_outside_plugins_import_only_public_names():
    offenders = {str(p.relative_to(REPO)): private_imports(p.read_text())
                 for p in THIRD_PARTY}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_check_catches_private_and_builtin_imports():
    planted = ("import harness\nfrom harness import TaskSpec, _config\n"
               "from harness._config import TaskConfig\nimport harness_plugins._imagedata\n"
               "from harness_plugins._detdata import DetectionData\n"
               "x = harness.ArchitectureSpec\ny = harness._study\n"
               "import harness.data\nz = harness.data.ImageSplit\nw = harness.data._cache\n")
    assert sorted(private_imports(planted)) == sorted([
        "harness._config", "harness._config", "harness_plugins._imagedata",
        "harness_plugins._detdata", "harness._study", "harness.data._cache"])


def test_every_module_outside_the_public_surface_is_named_private():
    package = Path(harness.__file__).parent
    public_files = {"__init__.py", "hookspecs.py", "__main__.py"}
    loose = []
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).parts
        if parts[0] == "testing" or (len(parts) == 1 and parts[0] in public_files):
            continue
        if parts == ("data", "__init__.py"):
            continue
        if not any(part.startswith("_") for part in parts):
            loose.append("/".join(parts))
    assert loose == []


FRESH_TASK = """\
[study]
name = "fresh"
task = "fresh_regression"

[dataset]
name = "fresh_waves"
seed = 1

[search]
sampler = "random"
pruner = "none"
architectures = ["fresh_net"]
optimizers = ["fresh_sgd"]
schedulers = ["fresh_halving"]
batch_size = [32]

[budget]
n_trials = 2
epochs = 2

[device]
device = "cpu"
threads = 1
"""


def test_a_plugin_written_from_the_docs_alone_runs_and_conforms(tmp_path):
    site = tmp_path / "site"
    source = FRESH.read_text()
    install_distribution(site, "harness-fresh", "harness_fresh", source, "fresh")
    task = tmp_path / "fresh.toml"
    task.write_text(FRESH_TASK)
    events = tmp_path / "events.jsonl"
    db = tmp_path / "fresh.db"
    proc = run_cli("run", str(task), "--db", str(db), extra_path=site,
                   env={"HARNESS_FRESH_EVENTS": str(events)})
    assert proc.returncode == 0, proc.stderr
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["hook"] for e in logged] == ["configure", "trial_finished", "trial_finished",
                                           "study_finished"]
    assert len({e["pid"] for e in logged}) == 1  # all in the one coordinating process
    for trial in logged[1:3]:
        assert trial["status"] == "complete" and trial["epochs"] == 2
        assert 0.01 <= trial["lr"] <= 0.2 and trial["hyperparameters"]["opt.lr"] == trial["lr"]
        assert "lr" not in trial["hyperparameters"]
    board = json.loads(run_cli("leaderboard", "--db", str(db), "--format", "json",
                               extra_path=site).stdout)
    assert [row["architecture"] for row in board] == ["fresh_net"]
    assert board[0]["val_rmse"] > 0
    checked = run_cli("plugins", "check", "fresh", "-v", extra_path=site)
    assert checked.returncode == 0, checked.stdout
    kinds = {line.split()[1] for line in checked.stdout.splitlines()
             if line.startswith("PASS")}
    assert kinds == {"task", "dataset", "architecture", "optimizer", "scheduler"}
    shutil.rmtree(site)


def test_the_public_api_only_grows():
    """docs/plugins.md's versioning policy: nothing public disappears, and records gain fields
    only after their existing ones (positional construction keeps working). Extend
    tests/public_api.json when the API grows; never edit what is there."""
    import dataclasses

    from harness import hookspecs

    snapshot = json.loads((REPO / "tests" / "public_api.json").read_text())
    assert set(snapshot["all"]) <= set(harness.__all__)
    hooks = {n for n, f in vars(hookspecs).items() if hasattr(f, "harness_spec")}
    assert set(snapshot["hooks"]) <= hooks
    for name, fields in snapshot["fields"].items():
        current = [f.name for f in dataclasses.fields(getattr(harness, name))]
        assert current[:len(fields)] == fields, name
    assert set(snapshot["data_all"]) <= set(harness.data.__all__)
    for name, fields in snapshot["data_fields"].items():
        current = [f.name for f in dataclasses.fields(getattr(harness.data, name))]
        assert current[:len(fields)] == fields, name
