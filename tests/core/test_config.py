"""Task files: every mistake is one line naming the file and key path, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harness._cli import main
from harness._config import load_config
from harness._errors import ConfigError
from tests.conftest import TINY_TASK
from tests.conftest import assert_one_line_error
from tests.conftest import run_cli

# (id, replacements or appended text, fragments the one-line error must contain)
MALFORMED = [
    ("toml-syntax", [("[study]", "[study")], ["TOML syntax error", "line 1"]),
    ("unknown-table", [("[search]\n", "[serch]\n")], ["serch: unknown key", "did you mean 'search'"]),
    ("unknown-key", [('sampler = "random"', 'samplr = "random"')],
     ["search.samplr: unknown key", "did you mean 'sampler'"]),
    ("wrong-type", [("n_trials = 2", 'n_trials = "ten"')],
     ["budget.n_trials: expected an integer, got str 'ten'"]),
    ("out-of-range", [("n_trials = 2", "n_trials = 0")], ["budget.n_trials: must be at least 1"]),
    ("bool-as-int", [("epochs = 1", "epochs = true")], ["budget.epochs: expected an integer"]),
    ("negative-timeout", [("epochs = 1", "epochs = 1\ntimeout_s = -5")],
     ["budget.timeout_s: must be positive"]),
    ("unknown-sampler", [('sampler = "random"', 'sampler = "tpee"')],
     ["search.sampler", "did you mean 'tpe'"]),
    ("unknown-pruner", [('pruner = "none"', 'pruner = "medain"')],
     ["search.pruner", "did you mean 'median'"]),
    ("unknown-arch", [('["small_cnn"]', '["smal_cnn"]')],
     ["search.architectures[0]", "did you mean 'small_cnn'"]),
    ("wildcard-no-match", [('["small_cnn"]', '["small_cnn", "zzqq*"]')],
     ["search.architectures[1]", "no architecture matches 'zzqq*'"]),
    ("empty-architectures", [('["small_cnn"]', "[]")], ["search.architectures", "empty list"]),
    ("arch-not-a-string", [('["small_cnn"]', "[3]")], ["search.architectures", "expected names"]),
    ("duplicate-arch", [('["small_cnn"]', '["small_cnn", "small_cnn"]')], ["listed twice"]),
    ("unknown-optimizer", [('["adamw", "sgd"]', '["adamm"]')],
     ["search.optimizers", "did you mean 'adam"]),
    ("unknown-scheduler", [('["constant", "cosine"]', '["cosin"]')],
     ["search.schedulers", "did you mean 'cosine'"]),
    ("missing-dataset", [('[dataset]\nname = "digits"\n', "")], ["[dataset]", "required table"]),
    ("dataset-not-table", [('[dataset]\nname = "digits"\n', ""),
                           ("[study]", 'dataset = "digits"\n\n[study]')],
     ["dataset: expected a table, got str 'digits'"]),
    ("unknown-dataset", [('name = "digits"', 'name = "digitz"')],
     ["dataset.name", "did you mean 'digits'"]),
    ("unknown-dataset-option", [('name = "digits"', 'name = "digits"\nval_fractoin = 0.1')],
     ["dataset.val_fractoin: unknown key", "did you mean 'val_fraction'"]),
    ("dataset-option-type", [('name = "digits"', 'name = "digits"\nval_fraction = "a lot"')],
     ["dataset.val_fraction: expected a number"]),
    ("unknown-task", [('task = "classification"', 'task = "clasification"')],
     ["study.task", "did you mean 'classification'"]),
    ("missing-task", [('task = "classification"\n', "")], ["study.task: required key is missing"]),
    ("lr-reversed", [("lr = [1e-3, 1e-2]", "lr = [0.1, 0.001]")],
     ["search.lr", "low 0.1 is greater than high 0.001"]),
    ("lr-log-zero", [("lr = [1e-3, 1e-2]", "lr = [0.0, 0.1]")],
     ["search.lr", "log-scale range must be positive"]),
    ("lr-three-values", [("lr = [1e-3, 1e-2]", "lr = [0.1, 0.2, 0.3]")],
     ["search.lr", "a range is [low, high]"]),
    ("batch-empty", [("batch_size = [64]", "batch_size = []")], ["search.batch_size", "empty list"]),
    ("space-unknown-owner", [("[search.space.small_cnn]", "[search.space.resnet]")],
     ["search.space.resnet", "names no installed task, architecture"]),
    ("space-unused-plugin-checked", [("[budget]", "[search.space.fcos]\nbackbone = 'resnet18'\nfpn_chanels = 3\n\n[budget]")],
     ["search.space.fcos.fpn_chanels", "did you mean 'fpn_channels'"]),
    ("space-unknown-backbone", [("[budget]", "[search.space.fcos]\nbackbone = 'resnet18x'\n\n[budget]")],
     ["search.space.fcos.backbone", "unknown timm model 'resnet18x'", "did you mean 'resnet18"]),
    ("space-unknown-param", [("width = 8", "widht = 8")],
     ["search.space.small_cnn.widht", "did you mean 'width'"]),
    ("space-bad-choice", [('augment = "none"', 'augment = ["none", "rotate"]')],
     ["search.space.classification.augment", "'rotate' is not one of"]),
    ("unknown-objective", [("seed = 0", 'seed = 0\nobjectives = ["acc"]')],
     ["study.objectives[0]", "reports no metric 'acc'"]),
    ("unknown-device", [('device = "cpu"', 'device = "gpu"')], ["device.device", "unknown device"]),
    ("unknown-precision", [('device = "cpu"', 'device = "cpu"\nprecision = "fp3"')],
     ["device.precision", "did you mean 'fp32'", "choose from"]),
    ("sampler-option", [("[budget]", "[search.sampler_options]\nn_startup = 3\n\n[budget]")],
     ["search.sampler_options.n_startup", "not an option of RandomSampler"]),
    ("pruner-option", [('pruner = "none"', 'pruner = "median"'),
                       ("[budget]", "[search.pruner_options]\nwarmup = 3\n\n[budget]")],
     ["search.pruner_options.warmup", "did you mean 'n_warmup_steps'"]),
    ("imagefolder-missing-path", [('name = "digits"', 'name = "imagefolder"')],
     ["dataset.path: required key is missing"]),
]


def malformed_text(replacements: list[tuple[str, str]]) -> str:
    """TINY_TASK with one MALFORMED case's replacements applied."""
    text = TINY_TASK
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(("replacements", "fragments"),
                         [pytest.param(r, f, id=i) for i, r, f in MALFORMED])
def test_validate_reports_one_line_naming_file_and_key(write_task, replacements, fragments):
    path = write_task(malformed_text(replacements), name="bad.toml")
    assert_one_line_error(CliRunner().invoke(main, ["validate", str(path)]), path, fragments)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", ["unknown-key", "unknown-arch", "toml-syntax", "lr-reversed"])
def test_real_cli_exits_2_with_one_line(write_task, tmp_path, command, case):
    replacements = next(r for i, r, _ in MALFORMED if i == case)
    path = write_task(malformed_text(replacements), name="bad.toml")
    args = [command, str(path)] + (["--db", str(tmp_path / "r.db")] if command == "run" else [])
    proc = run_cli(*args, process=case == "unknown-key")  # one case through `python -m`
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.db").exists(), "a bad task file must not create a database"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such task file"):
        load_config(tmp_path / "nope.toml")


def test_shipped_task_files_validate(tmp_path):
    import shutil

    files = sorted(map(str, Path("tasks").glob("*.toml")))
    result = CliRunner().invoke(main, ["validate", *files])
    assert result.exit_code == 0, result.output
    for name in ("classification.toml", "detection.toml", "sequence.toml"):
        assert f"{name}: ok" in result.output
    # The examples point at the user's data and weights: refused while they are absent, valid
    # once they exist.
    for example, folders in (("voc.toml", ["data/VOCdevkit/VOC2012"]),
                             ("coco.toml", ["data/coco/val2017", "data/coco/annotations"])):
        shipped = Path("tasks/examples") / example
        absent = CliRunner().invoke(main, ["validate", str(shipped)])
        assert absent.exit_code == 2 and "no such file or folder" in absent.stderr
        copy = tmp_path / "tasks" / "examples" / example
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shipped, copy)
        for folder in folders:
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        weights = tmp_path / "weights" / "models--timm--resnet18.a1_in1k" / "snapshots" / "r"
        weights.mkdir(parents=True, exist_ok=True)
        (weights / "model.safetensors").write_bytes(b"")
        if example == "coco.toml":
            (tmp_path / "data/coco/annotations/instances_val2017.json").write_text("{}")
        result = CliRunner().invoke(main, ["validate", str(copy)])
        assert result.exit_code == 0, result.output


def test_config_is_frozen_and_paths_resolve_relative_to_the_file(write_task, tmp_path):
    path = write_task(replace=(('name = "digits"', 'name = "imagefolder"\npath = "imgs"'),),
                      append='\n[results]\ndb = "out/r.db"\n')
    config = load_config(path)
    assert config.db == f"sqlite:///{(tmp_path / 'out' / 'r.db').as_posix()}"
    assert config.dataset.options["path"] == "imgs"
    with pytest.raises(AttributeError):
        config.study = None  # type: ignore[misc]


def test_overrides_change_only_budget_storage_and_name(write_task):
    config = load_config(write_task())
    changed = config.with_overrides(n_trials=7, timeout_s=3.0, db="sqlite:///x.db", study="s2")
    assert (changed.budget.n_trials, changed.budget.timeout_s) == (7, 3.0)
    assert (changed.db, changed.study.name) == ("sqlite:///x.db", "s2")
    assert changed.space_hash() == config.space_hash()
    with pytest.raises(ConfigError, match="--n-trials: must be at least 1"):
        config.with_overrides(n_trials=0)


def test_space_hash_changes_with_the_search_space(write_task):
    a = load_config(write_task())
    b = load_config(write_task(replace=(("lr = [1e-3, 1e-2]", "lr = [1e-3, 1e-1]"),)))
    assert a.space_hash() != b.space_hash()


def test_every_default_has_one_source(tmp_path):
    """A minimal task file gets exactly the section dataclasses' defaults, and the heartbeat
    grace period is the same whether the file sets heartbeat_s or not (it had two defaults
    that disagreed: 60 s in the dataclass, max(60, 3 × heartbeat) in the reader)."""
    from harness._config import BudgetSection
    from harness._config import DeviceSection
    from harness._config import default_grace_s
    from harness._config import parse_config

    minimal = '[study]\ntask = "classification"\n[dataset]\nname = "digits"\n' \
              '[search]\narchitectures = ["small_cnn"]\n'
    config = parse_config(minimal, source="m.toml", base_dir=tmp_path)
    assert config.budget == BudgetSection()
    assert config.device == DeviceSection()
    assert BudgetSection().grace_s == default_grace_s(BudgetSection().heartbeat_s)
    slow = parse_config(minimal + "[budget]\nheartbeat_s = 30\n", source="m.toml",
                        base_dir=tmp_path)
    assert slow.budget.grace_s == default_grace_s(30.0) == 90.0


def test_a_misspelt_required_key_gets_did_you_mean(write_task):
    from click.testing import CliRunner

    from harness._cli import main
    from tests.conftest import assert_one_line_error

    task = write_task(replace=(('name = "digits"', 'name = "imagefolder"\npth = "imgs"'),))
    result = CliRunner().invoke(main, ["validate", str(task)])
    assert_one_line_error(result, task, ["dataset.path: required key is missing — did you "
                                         "mean 'path' instead of 'pth'?"])


def test_validate_rejects_a_missing_dataset_path_and_an_unavailable_device(write_task,
                                                                          tmp_path):
    from click.testing import CliRunner

    from harness._cli import main
    from tests.conftest import assert_one_line_error

    missing = write_task(name="m.toml", replace=(('name = "digits"',
                                                  'name = "imagefolder"\npath = "nowhere"'),))
    result = CliRunner().invoke(main, ["validate", str(missing)])
    assert_one_line_error(result, missing, ["dataset.path: no such file or folder",
                                            str(tmp_path / "nowhere")])
    gpu = write_task(name="g.toml", replace=(('device = "cpu"', 'device = "cuda:0"'),))
    result = CliRunner().invoke(main, ["validate", str(gpu)])
    assert_one_line_error(result, gpu, ["device.device", "no CUDA device"])
    fp16 = write_task(name="h.toml", replace=(('device = "cpu"',
                                               'device = "cpu"\nprecision = "fp16"'),))
    result = CliRunner().invoke(main, ["validate", str(fp16)])
    assert_one_line_error(result, fp16, ["device.precision", "fp16 autocast needs a CUDA"])


def test_a_list_option_takes_a_single_value(tmp_path):
    from harness._config import validate_options
    from harness._specs import Option

    options = {"target": Option(list, help="columns")}
    assert validate_options(options, {"target": "Passengers"}, source="t.toml", key="dataset",
                            base_dir=tmp_path) == {"target": ["Passengers"]}
    assert validate_options(options, {"target": ["a", "b"]}, source="t.toml", key="dataset",
                            base_dir=tmp_path) == {"target": ["a", "b"]}
