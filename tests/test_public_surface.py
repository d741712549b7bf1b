"""The public surface: what plugins may import, and a plugin written from the docs alone.

``harness.__all__``, ``harness.api``, ``harness.data``, ``harness.testing`` and
``harness.hookspecs`` are public; every other module's name starts with an underscore. Plugins outside ``plugins/`` (the example package,
the fresh plugin below) import nothing else — and never the builtins' ``harness_plugins``.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import harness
import harness.api
import harness.data
import harness.testing
from tests.conftest import REPO
from tests.conftest import install_distribution
from tests.conftest import run_cli
from tests.conftest import says

FRESH = REPO / "tests" / "fresh_plugin" / "harness_fresh.py"
THIRD_PARTY = [*sorted((REPO / "examples").rglob("*.py")), FRESH]


def private_imports(source: str) -> list[str]:
    """Every use of harness beyond its public surface in ``source``."""
    allowed = {"harness": set(harness.__all__), "harness.data": set(harness.data.__all__),
               "harness.testing": set(harness.testing.__all__),
               "harness.api": set(harness.api.__all__)}
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
        public = allowed["harness"] | {"data", "testing", "api"}
        return [] if node.attr in public else [f"harness.{node.attr}"]
    inner = node.value
    if (isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name)
            and inner.value.id == "harness" and inner.attr in ("data", "testing", "api")):
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
    public_files = {"__init__.py", "hookspecs.py", "__main__.py", "api.py"}
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
    tracked = tmp_path / "tracked.jsonl"
    task.write_text(FRESH_TASK + f'\n[tracking]\nfresh_log = "{tracked}"\n')
    events = tmp_path / "events.jsonl"
    db = tmp_path / "fresh.db"
    proc = run_cli("run", str(task), "--db", str(db), extra_path=site,  # a new interpreter
                   env={"HARNESS_FRESH_EVENTS": str(events)}, process=True)  # finds it
    assert proc.returncode == 0, proc.stderr
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["hook"] for e in logged] == ["configure", "trial_finished", "trial_finished",
                                           "study_finished"]
    assert len({e["pid"] for e in logged}) == 1  # all in the one coordinating process
    for trial in logged[1:3]:
        assert trial["status"] == "complete" and trial["epochs"] == 2
        assert 0.01 <= trial["lr"] <= 0.2 and trial["hyperparameters"]["opt.lr"] == trial["lr"]
        assert "lr" not in trial["hyperparameters"]
    lines = [json.loads(line) for line in tracked.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["trial_started", "epoch_finished", "epoch_finished",
                                           "trial_finished"] * 2 + ["study_finished"]
    assert [e["epoch"] for e in lines if e["event"] == "epoch_finished"] == [1, 2, 1, 2]
    assert all("rmse" in e["val"] for e in lines if e["event"] == "epoch_finished")
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
    renamed = snapshot["renamed"]
    for name, fields in snapshot["fields"].items():
        current = [f.name for f in dataclasses.fields(getattr(harness, name))]
        expected = [renamed.get(f"{name}.{f}", {}).get("to", f) for f in fields]
        assert current[:len(fields)] == expected, name
    assert set(snapshot["data_all"]) <= set(harness.data.__all__)
    assert set(snapshot["api_all"]) <= set(harness.api.__all__)
    for name, fields in snapshot["data_fields"].items():
        current = [f.name for f in dataclasses.fields(getattr(harness.data, name))]
        assert current[:len(fields)] == fields, name


def test_a_renamed_field_keeps_its_old_name_for_one_minor_release():
    """docs/plugins.md: a public rename keeps the old name working, with a DeprecationWarning
    naming the new one, until the next minor release after it was renamed."""
    import warnings

    import pytest

    from harness._version import minor
    from harness._version import next_minor

    snapshot = json.loads((REPO / "tests" / "public_api.json").read_text())
    for old, change in snapshot["renamed"].items():
        assert minor() < minor(next_minor(change["since"])), (
            f"{old} was deprecated in {change['since']}: remove it and this entry now")
    spec = harness.DatasetSpec(name="d", data_kind="series", load=dict)
    with pytest.warns(DeprecationWarning, match=r"DatasetSpec\.data_kind"):
        assert spec.kind == "series"
    with pytest.warns(DeprecationWarning, match=r"DatasetSpec\(data_kind=\.\.\.\)"):
        old = harness.DatasetSpec(name="d", kind="series", load=dict)
    assert old == spec
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name never warns
        harness.DatasetSpec("d", "series", dict)


def _private_classes() -> dict[str, str]:
    """Every class defined in a private harness module, by name → module."""
    import importlib
    import inspect
    import pkgutil

    found = {}
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        if "migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == info.name and any(
                    part.startswith("_") for part in info.name.split(".")[1:]):
                found[name] = info.name
    return found


def _signatures_of(obj: object) -> list[str]:
    """The annotation strings of a public function, or of a public class's fields and public
    methods (``__init__`` included)."""
    import dataclasses
    import inspect

    texts: list[str] = []
    targets = [obj]
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj):
            texts += [str(f.type) for f in dataclasses.fields(obj)]
        targets = [m for n, m in vars(obj).items()
                   if callable(m) and (not n.startswith("_") or n == "__init__")]
        targets += [p.fget for p in vars(obj).values() if isinstance(p, property)]
    for target in targets:
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            continue
        texts += [str(p.annotation) for p in signature.parameters.values()]
        texts.append(str(signature.return_annotation))
    return texts


def leaked_private_types() -> dict[str, list[str]]:
    import re

    modules = (harness, harness.api, harness.data, harness.testing)
    public = {name for module in modules for name in module.__all__}
    private = {name: module for name, module in _private_classes().items()
               if name not in public}
    leaks: dict[str, list[str]] = {}
    for module in modules:
        for name in module.__all__:
            for text in _signatures_of(getattr(module, name)):
                for word in re.findall(r"[A-Za-z_][\w.]*", text):
                    if word.rsplit(".", 1)[-1] in private:
                        leaks.setdefault(f"{module.__name__}.{name}", []).append(word)
    return leaks


def test_public_signatures_name_only_public_types():
    assert leaked_private_types() == {}


LEGACY = REPO / "tests" / "legacy_plugins" / "harness_fresh_0_3.py"


def test_a_plugin_written_for_0_3_still_loads_runs_and_conforms(tmp_path):
    """A verbatim copy of the fresh plugin as it was written against harness 0.3
    (``DatasetSpec(kind=...)``, ``register: Any``): it loads, warns about the rename, trains
    and passes the kit."""
    import pytest

    site = tmp_path / "site"
    install_distribution(site, "harness-fresh-legacy", "harness_fresh_0_3", LEGACY.read_text(),
                         "fresh_legacy")
    task = tmp_path / "fresh.toml"
    task.write_text(FRESH_TASK.replace("n_trials = 2", "n_trials = 1"))
    with pytest.warns(DeprecationWarning, match=r"DatasetSpec\(data_kind=\.\.\.\)"):
        proc = run_cli("run", str(task), "--db", str(tmp_path / "legacy.db"), extra_path=site)
    assert proc.returncode == 0, proc.stderr
    assert says(proc.stdout, "1 complete")
    with pytest.warns(DeprecationWarning):
        checked = run_cli("plugins", "check", "fresh_legacy", extra_path=site)
    assert checked.returncode == 0, checked.stdout
    assert re.search(r"^\d+ passed, 0 failed", checked.stdout, re.M)
