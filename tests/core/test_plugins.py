"""The plugin manager: entry points, duplicates, misspelled hooks, switches, tracing."""

from __future__ import annotations

import pytest

import harness
from harness._errors import NotInstalledError
from harness._errors import PluginError
from harness._plugins import call_event
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager

BUILTINS = {"classification", "digits", "imagefolder", "small_cnn", "timm", "torch_optim",
            "timm_optim", "schedulers"}


def test_builtins_enter_through_entry_points():
    pm = make_plugin_manager()
    names = {info.name for info in pm.plugin_infos()}
    assert names >= BUILTINS
    assert pm.distributions["small_cnn"][0] == "harness"
    registry = load_registry(pm)
    assert "small_cnn" in registry.architectures.names()
    assert registry.owner_of(registry.optimizers.get("adamw")) == "torch_optim"
    assert {"sgd", "adam", "adamw", "rmsprop", "lamb", "lion", "adabelief"} <= set(
        registry.optimizers.names())
    assert {"cosine", "step", "onecycle", "warmup_cosine"} <= set(registry.schedulers.names())


def test_core_never_imports_builtin_plugins():
    import pathlib

    core = pathlib.Path(harness.__file__).parent
    offenders = [p for p in core.rglob("*.py") if "harness_plugins" in p.read_text()]
    assert offenders == []


def test_fake_third_party_plugin_is_discovered(fake_plugin_path):
    pm = make_plugin_manager()
    assert pm.distributions["fake"] == ("harness-fake", "0.1")
    registry = load_registry(pm)
    assert registry.owner_of(registry.architectures.get("fake_mlp")) == "fake"


def test_duplicate_name_names_both_plugins(install_plugin):
    source = ("import harness\n@harness.hookimpl\ndef register_architectures(register):\n"
              "    register(harness.ArchitectureSpec(name='small_cnn', build=None, tasks=()))\n")
    install_plugin("harness-dup", "harness_dup", source, "dup")
    with pytest.raises(PluginError, match="architecture 'small_cnn' is registered twice") as err:
        load_registry(make_plugin_manager())
    assert "plugin 'dup' (harness-dup 0.1)" in str(err.value)
    assert f"plugin 'small_cnn' (harness {harness.__version__})" in str(err.value)


def test_misspelled_hook_is_rejected_by_name(install_plugin):
    source = ("import harness\n@harness.hookimpl\ndef register_architecture(register):\n"
              "    pass\n")
    install_plugin("harness-typo", "harness_typo", source, "typo")
    with pytest.raises(PluginError, match=r"plugin 'typo' \(harness-typo 0.1\) implements unknown "
                                          r"hook 'register_architecture' — did you mean "
                                          r"'register_architectures'\?"):
        make_plugin_manager()


def test_plugin_that_fails_to_import_is_named(install_plugin):
    install_plugin("harness-bad", "harness_bad", "import no_such_module_xyz\n", "bad")
    with pytest.raises(PluginError, match=r"plugin 'bad' \(harness-bad 0.1\) failed to import"):
        make_plugin_manager()
    make_plugin_manager(block=["bad"])  # the user can run without it


def test_plugin_raising_inside_a_hook_is_named():
    class Raises:
        @harness.hookimpl
        def register_optimizers(self, register):
            raise ValueError("boom")

    with pytest.raises(PluginError, match=r"plugin 'Raises' failed in register_optimizers: "
                                          r"ValueError: boom"):
        load_registry(make_plugin_manager(autoload=False, extra=[Raises()]))


def test_registering_a_non_spec_is_an_error():
    class Wrong:
        @harness.hookimpl
        def register_tasks(self, register):
            register({"name": "dict-task"})

    with pytest.raises(PluginError, match="not a harness spec record"):
        load_registry(make_plugin_manager(autoload=False, extra=[Wrong()]))


def test_autoload_switch_and_allow_list(monkeypatch):
    monkeypatch.setenv("HARNESS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert make_plugin_manager().plugin_infos() == []
    monkeypatch.delenv("HARNESS_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("HARNESS_PLUGINS", "digits,small_cnn")
    assert {i.name for i in make_plugin_manager().plugin_infos()} == {"digits", "small_cnn"}
    monkeypatch.setenv("HARNESS_PLUGINS", "digitz")
    with pytest.raises(PluginError, match="did you mean 'digits'"):
        make_plugin_manager()


def test_block_list_from_environment(monkeypatch):
    monkeypatch.setenv("HARNESS_DISABLE_PLUGINS", "timm,timm_optim")
    names = {i.name for i in make_plugin_manager().plugin_infos()}
    assert "timm" not in names and "timm_optim" not in names and "small_cnn" in names


def test_trace_logs_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_TRACE_PLUGINS", "1")
    load_registry(make_plugin_manager())
    err = capsys.readouterr().err
    assert "harness trace:" in err and "register_architectures" in err


def test_not_installed_message():
    with pytest.raises(NotInstalledError, match=r"harness is not installed: run `pip install -e \.`"):
        make_plugin_manager(group="harness-no-such-group")


def test_event_hooks_report_failures_without_raising():
    class Listener:
        seen: list[str] = []

        @harness.hookimpl
        def trial_finished(self, result):
            self.seen.append(result)

    class Broken:
        @harness.hookimpl
        def trial_finished(self, result):
            raise RuntimeError("listener bug")

    listener = Listener()
    pm = make_plugin_manager(autoload=False, extra=[listener, Broken()])
    problems = call_event(pm, "trial_finished", result="r1")
    assert listener.seen == ["r1"]
    assert problems == ["plugin 'Broken' failed in trial_finished: RuntimeError: listener bug"]


def test_broken_plugin_via_cli_is_one_line_and_can_be_disabled(tmp_path):
    from tests.conftest import install_distribution
    from tests.conftest import run_cli

    source = ("import harness\n@harness.hookimpl\ndef register_tasks(register):\n"
              "    raise KeyError('oops')\n")
    site = install_distribution(tmp_path / "site", "harness-raiser", "harness_raiser", source,
                                "raiser")
    broken = run_cli("plugins", "list", extra_path=site)
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines() == [
        "error: plugin 'raiser' (harness-raiser 0.1) failed in register_tasks: KeyError: 'oops'"]
    fine = run_cli("plugins", "list", "--disable-plugin", "raiser", extra_path=site)
    assert fine.returncode == 0 and "raiser" not in fine.stdout
    allowed = run_cli("plugins", "list", extra_path=site, env={"HARNESS_PLUGINS": "digits"})
    assert allowed.returncode == 0 and allowed.stdout.startswith("digits")


LINEAR_PLUGIN = '''
import harness

def _linear(request):
    from torch import nn
    c, h, w = request.io["input_shape"]
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, request.io["num_classes"]))

@harness.hookimpl
def register_architectures(register):
    register(harness.ArchitectureSpec(name="linear_probe", build=_linear,
                                      tasks=("classification",)))
'''


def test_plugins_check_with_an_unknown_name_is_a_usage_error():
    from click.testing import CliRunner

    from harness._cli import main

    result = CliRunner().invoke(main, ["plugins", "check", "no_such_plugin"])
    assert result.exit_code == 2, result.output  # was 1, the code of a failed check
    assert result.stderr.strip().splitlines() == [
        "error: no plugin named 'no_such_plugin' is loaded"]


def test_plugins_check_by_default_checks_only_third_party_plugins(install_plugin,
                                                                  monkeypatch):
    import importlib.metadata

    from click.testing import CliRunner

    from harness._cli import main

    ours = [ep.name for ep in importlib.metadata.entry_points(group="harness")
            if ep.dist and ep.dist.metadata["Name"] == "harness"]
    monkeypatch.setenv("HARNESS_PLUGINS", ",".join(ours))  # whatever else is installed here
    result = CliRunner().invoke(main, ["plugins", "check"])
    assert result.exit_code == 0, result.output  # was: every builtin, over two minutes
    assert "no third-party plugin is installed" in result.output
    install_plugin("harness-linear", "harness_linear", LINEAR_PLUGIN, "linear")
    monkeypatch.setenv("HARNESS_PLUGINS", ",".join([*ours, "linear"]))
    result = CliRunner().invoke(main, ["plugins", "check", "-v"])
    assert result.exit_code == 0, result.output
    checked = {line.split(":")[0] for line in result.output.splitlines()
               if line.startswith("PASS")}
    assert checked == {"PASS architecture linear_probe"}


def test_plugins_show_json_gives_hyperparameters_as_data():
    """They were display strings ("int [16, 64] log (default 32) — …")."""
    import json

    from click.testing import CliRunner

    from harness._cli import main

    result = CliRunner().invoke(main, ["plugins", "show", "small_cnn", "--json"])
    assert result.exit_code == 0, result.output
    params = json.loads(result.output)["registers"][0]["params"]
    assert {k: v for k, v in params["width"].items() if k not in ("help", "summary")} == {
        "type": "int", "default": 32, "low": 16, "high": 64, "log": True, "searched": True}
    assert params["dropout"]["type"] == "float" and params["dropout"]["log"] is False
    shown = CliRunner().invoke(main, ["plugins", "show", "classification", "--json"])
    augment = json.loads(shown.output)["registers"][0]["params"]["augment"]
    assert augment["type"] == "categorical" and "flip_crop" in augment["choices"]


FAILING_CONFIGURE = '''
import harness

@harness.hookimpl
def configure(config):
    raise RuntimeError("cannot reach my tracking server")
'''


def test_a_plugin_failing_in_configure_is_one_line_and_the_store_is_closed(
        install_plugin, write_task, tmp_path, monkeypatch):
    from harness._store.results import ResultsStore
    from tests.conftest import invoke

    install_plugin("harness-grumpy", "harness_grumpy", FAILING_CONFIGURE, "grumpy")
    opened, closed = [], []
    real_init, real_close = ResultsStore.__init__, ResultsStore.close

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        opened.append(self)

    def close(self):
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(ResultsStore, "__init__", init)
    monkeypatch.setattr(ResultsStore, "close", close)
    db = tmp_path / "c.db"
    ran = invoke("run", str(write_task()), "--db", str(db))
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.strip().splitlines() == [
        "error: plugin 'grumpy' (harness-grumpy 0.1) failed in configure: RuntimeError: "
        "cannot reach my tracking server"]
    assert opened and all(store in closed for store in opened)
    import sqlite3

    with sqlite3.connect(db) as con:  # nothing was trained
        assert con.execute("SELECT count(*) FROM harness_trials").fetchone() == (0,)
