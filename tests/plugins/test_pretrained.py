"""Pretrained weights from local files (no network), fine-tuning groups, and their errors."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
import timm
import torch
from safetensors.torch import save_file

import harness
from harness._run.epochs import _freeze
from harness._run.trial import _optimizer_groups
from harness._run.trial import trainable_only
from harness._specs import ModelRequest
from harness_plugins import arch_detectors
from harness_plugins import arch_timm
from tests.conftest import run_cli

DIGITS_IO = {"num_classes": 10, "in_chans": 1, "img_size": 16}
FINE = {"backbone_lr_scale": 1.0, "freeze_epochs": 0, "layer_decay": 1.0}
PROBE = "layer2.0.conv1.weight"  # a backbone tensor of resnet10t


@pytest.fixture(scope="module")
def source():
    """A tiny timm model "pretrained" on 5 RGB classes, and its weights as the tests save them."""
    torch.manual_seed(3)
    return timm.create_model("resnet10t", num_classes=5)


@pytest.fixture(scope="module")
def checkpoints(source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, folder / "resnet10t.safetensors")
    torch.save(state, folder / "resnet10t.pth")
    # A training checkpoint wraps the weights; DataParallel prefixes them with "module.".
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}},
               folder / "wrapped.pth")
    snapshot = folder / "hub" / "models--timm--resnet10t.gluon_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file(state, snapshot / "model.safetensors")
    (folder / "corrupt.safetensors").write_bytes(b"\x00not a checkpoint at all")
    other = timm.create_model("mobilenetv3_small_050", num_classes=5).state_dict()
    save_file({k: v.contiguous() for k, v in other.items()}, folder / "mobilenet.safetensors")
    (folder / "empty").mkdir()
    return folder


def _timm(pretrained, **params):
    return arch_timm.build(ModelRequest("resnet10t", "classification", DIGITS_IO,
                                        {"drop_rate": 0.0, "pretrained": pretrained,
                                         **FINE, **params}))


@pytest.mark.parametrize("name", ["resnet10t.safetensors", "resnet10t.pth", "wrapped.pth",
                                  "hub", "hub/models--timm--resnet10t.gluon_in1k"])
def test_local_weights_load_with_a_new_head_and_an_adapted_stem(source, checkpoints, name):
    model = _timm(str(checkpoints / name))
    assert torch.equal(model.state_dict()[PROBE], source.state_dict()[PROBE])
    # 10 digit classes, not the checkpoint's 5: a new head
    assert model.get_classifier().out_features == 10
    # grey input: timm's adapt_input_conv sums the RGB filters into one channel
    stem = model.state_dict()["conv1.0.weight"]
    assert stem.shape[1] == 1
    assert torch.allclose(stem[:, 0], source.state_dict()["conv1.0.weight"].sum(dim=1))
    untrained = _timm(False)
    assert not torch.equal(untrained.state_dict()[PROBE], source.state_dict()[PROBE])


def test_a_new_head_on_pretrained_features_starts_at_zero(source, checkpoints):
    """The loss of a fresh head on pretrained features starts at ln K (timm's scratch
    initialisation would start EfficientNet's 2-class head at logits of ±6); a head the
    checkpoint provides is kept, and a model trained from scratch keeps timm's own."""
    model = _timm(str(checkpoints / "resnet10t.safetensors"))
    head = model.get_classifier()
    assert not head.weight.any() and not head.bias.any()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 16, 16)),
                                             torch.tensor([0, 3, 6, 9]))
    assert loss.item() == pytest.approx(math.log(10), rel=1e-6)
    assert _timm(False).get_classifier().weight.any()
    same_classes = arch_timm.build(ModelRequest(
        "resnet10t", "classification", {"num_classes": 5, "in_chans": 3, "img_size": 16},
        {"drop_rate": 0.0, "pretrained": str(checkpoints / "resnet10t.safetensors"), **FINE}))
    assert torch.equal(same_classes.get_classifier().weight, source.get_classifier().weight)


def test_detector_backbone_loads_local_weights(source, checkpoints):
    params = {"backbone": "resnet10t", "fpn_channels": 64, "score_thresh": 0.05,
              "pretrained": str(checkpoints / "resnet10t.safetensors"),
              "backbone_lr_scale": 0.1, "freeze_epochs": 1}
    io = {"num_classes": 3, "in_chans": 3, "img_size": 64}
    model = arch_detectors.build_fcos(ModelRequest("fcos", "detection", io, params))
    body = model.backbone.body.state_dict()
    assert torch.equal(body[PROBE], source.state_dict()[PROBE])
    groups = arch_detectors.param_groups(model, params)
    backbone = [g for g in groups if g.frozen_epochs == 1]
    assert len(backbone) == 1 and backbone[0].lr_scale == pytest.approx(0.1)
    assert {id(p) for p in backbone[0].params} == {id(p) for p in
                                                   model.backbone.body.parameters()}


def test_a_headless_detector_body_loads_its_weights_without_timm_noise(checkpoints, caplog):
    """A features-only body has no head, so timm calls the checkpoint's head tensors
    "unexpected" on every load; the checkpoint was vetted already, so that line is dropped —
    and only for that load: timm's other warnings still reach the log."""
    import logging

    params = {"backbone": "mobilenetv3_small_050", "fpn_channels": 64, "score_thresh": 0.05,
              "pretrained": str(checkpoints / "mobilenet.safetensors"), **FINE}
    io = {"num_classes": 2, "in_chans": 3, "img_size": 64}
    with caplog.at_level(logging.INFO, logger="timm"):
        arch_detectors.build_fcos(ModelRequest("fcos", "detection", io, params))
    assert caplog.records, "timm logged nothing: the check below would prove nothing"
    assert not [r for r in caplog.records if "Unexpected keys" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="timm"):
        logging.getLogger("timm.models._builder").warning("Unexpected keys (x) elsewhere")
    assert [r.getMessage() for r in caplog.records] == ["Unexpected keys (x) elsewhere"]


def _detector(pretrained, norm, **fine):
    params = {"backbone": "resnet10t", "fpn_channels": 64, "score_thresh": 0.05,
              "pretrained": pretrained, "backbone_norm": norm, **FINE, **fine}
    return arch_detectors.build_fcos(ModelRequest("fcos", "detection", {
        "num_classes": 2, "in_chans": 3, "img_size": 64}, params))


def _norm_state(module):
    return {k: v.clone() for k, v in module.state_dict().items()
            if "bn" in k or "running" in k}


def _one_training_step(model):
    torch.manual_seed(0)
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0]]), "labels": torch.tensor([1])}
               for _ in images]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    sum(model(images, targets).values()).backward()
    optimizer.step()


@pytest.mark.parametrize(("pretrained", "norm", "frozen"), [
    (True, "frozen", True), (False, "frozen", True), (True, "train", False),
    (False, "train", False)])
def test_backbone_norm_frozen_keeps_the_batchnorm_of_a_detector_backbone(
        checkpoints, pretrained, norm, frozen):
    """``frozen``: a training step changes neither the statistics nor the scales of the
    backbone's BatchNorm (torchvision's rule for small GPU batches); ``train`` updates them."""
    weights = str(checkpoints / "resnet10t.safetensors") if pretrained else False
    model = _detector(weights, norm)
    before = _norm_state(model.backbone.body)
    assert before and all(torch.isfinite(v).all() for v in before.values())
    _one_training_step(model)
    after = _norm_state(model.backbone.body)
    unchanged = {k for k in before if k in after and torch.equal(before[k], after[k])}
    assert (unchanged == set(before)) is frozen, sorted(set(before) - unchanged)[:3]


def test_frozen_batchnorm_computes_what_trained_batchnorm_does_in_evaluation(checkpoints):
    """Weights trained with BatchNorm (and its batch counters) load strictly into a frozen
    build, and the backbone answers the same in evaluation."""
    weights = str(checkpoints / "resnet10t.safetensors")
    old = _detector(weights, "train")
    _one_training_step(old)
    new = _detector(weights, "frozen")
    new.load_state_dict(old.state_dict(), strict=True)
    image = [torch.rand(3, 64, 64)]
    old.eval(), new.eval()
    with torch.no_grad():
        # the same arithmetic up to float rounding (frozen BatchNorm folds it into one scale)
        assert torch.allclose(old.backbone(old.transform(image)[0].tensors)["0"],
                              new.backbone(new.transform(image)[0].tensors)["0"], atol=1e-5)


@pytest.mark.parametrize(("norm", "frozen"), [("frozen", True), ("train", False)])
def test_backbone_norm_frozen_keeps_the_batchnorm_of_a_pretrained_classifier(
        checkpoints, norm, frozen):
    """The timm catalog takes ``backbone_norm`` too: frozen, a training step leaves every
    BatchNorm statistic and scale as the weights had it (what the linear probe saw)."""
    model = _timm(str(checkpoints / "resnet10t.safetensors"), backbone_norm=norm)
    before = _norm_state(model)
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 16, 16)),
                                      torch.tensor([0, 1, 2, 3])).backward()
    optimizer.step()
    after = _norm_state(model)
    unchanged = {k for k in before if k in after and torch.equal(before[k], after[k])}
    assert before and (unchanged == set(before)) is frozen


def test_freeze_stages_keeps_the_stem_and_first_stage_of_a_detector_backbone(checkpoints):
    """``freeze_stages = 1`` (torchvision's default for a pretrained ResNet): a training step
    changes nothing in the stem and the stride-4 stage, weights or BatchNorm statistics, and
    trains the stages above; the thaw after ``freeze_epochs`` leaves them frozen."""
    fine = {"freeze_stages": 1, "freeze_epochs": 1}
    model = _detector(str(checkpoints / "resnet10t.safetensors"), "train", **fine)
    body = model.backbone.body
    # the groups as a trial gets them: the core leaves the model's own frozen tensors out
    groups = trainable_only(arch_detectors.param_groups(model, {**FINE, **fine}))
    _freeze(groups, 2)  # the epoch after freeze_epochs: the backbone's groups thaw
    stem_and_stage = {"conv1", "bn1", "layer1"}
    in_frozen = [p for n, p in body.named_parameters() if n.split(".")[0] in stem_and_stage]
    assert in_frozen and not any(p.requires_grad for p in in_frozen)
    before = {k: v.clone() for k, v in body.state_dict().items()}
    _one_training_step(model)
    changed = {k for k, v in body.state_dict().items() if not torch.equal(before[k], v)}
    assert not {k for k in changed if k.split(".")[0] in stem_and_stage}
    # (a fresh block's last BatchNorm scale is zero, so its convolutions get no gradient yet)
    assert {"layer2.0.bn2.bias", "layer2.0.bn1.running_mean"} <= changed


@pytest.mark.parametrize(("backbone", "stages", "frozen"), [
    ("resnet10t", 1, ["conv1", "bn1", "act1", "maxpool", "layer1"]),
    ("resnet10t", 2, ["conv1", "bn1", "act1", "maxpool", "layer1", "layer2"]),
    # levels inside a container; its first block already halves (stride 4 at blocks.0)
    ("mobilenetv3_small_050", 1, ["conv_stem", "bn1", "act1", "blocks.0"]),
    # no stride-2 level, and timm's FeatureListNet renames "stages.0" to "stages_0"
    ("convnext_atto", 1, ["stem_0", "stem_1", "stages_0"]),
])
def test_freeze_stages_counts_stages_by_stride_on_any_backbone(backbone, stages, frozen):
    body = timm.create_model(backbone, features_only=True, out_indices=(-3, -2, -1))
    assert arch_detectors.stem_and_stages(body, stages) == frozen


@pytest.mark.parametrize(("name", "expected"), [
    ("corrupt.safetensors", "could not be read"),
    ("mobilenet.safetensors", "do not fit resnet10t"),
    ("empty", "holds no weights"),
])
def test_a_wrong_checkpoint_is_one_clear_reason(checkpoints, name, expected):
    with pytest.raises(harness.TrialFailed, match=expected) as info:
        _timm(str(checkpoints / name))
    assert "\n" not in str(info.value)


def test_frozen_backbone_and_its_learning_rate_share(source, checkpoints):
    model = _timm(str(checkpoints / "resnet10t.safetensors"), backbone_lr_scale=0.1,
                  freeze_epochs=1)
    groups = arch_timm.param_groups(model, {**FINE, "backbone_lr_scale": 0.1,
                                            "freeze_epochs": 1})
    optimizer = torch.optim.SGD(_optimizer_groups(groups, {"lr": 0.1}), lr=0.1)
    assert sorted(g["lr"] for g in optimizer.param_groups) == pytest.approx([0.01, 0.1])
    head_before = model.get_classifier().weight.detach().clone()
    # the stem: a residual block's own convolutions get no gradient at first (timm zero-inits
    # each block's last norm)
    stem = "conv1.0.weight"
    stem_before = model.state_dict()[stem].clone()

    def step(epoch):
        _freeze(groups, epoch)
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 16, 16)),
                                          torch.tensor([0, 1, 2, 3])).backward()
        optimizer.step()

    step(1)  # frozen: only the head moves
    assert torch.equal(model.state_dict()[stem], stem_before)
    assert not torch.equal(model.get_classifier().weight, head_before)
    step(2)  # thawed
    assert not torch.equal(model.state_dict()[stem], stem_before)


def test_layer_decay_gives_deeper_layers_larger_rates(source):
    model = timm.create_model("resnet10t", num_classes=10, in_chans=1)
    groups = arch_timm.param_groups(model, {**FINE, "layer_decay": 0.5})
    scales = sorted({g.lr_scale for g in groups})
    assert len(scales) > 3 and scales[-1] == 1.0 and scales[0] < 0.1
    stem = next(g for g in groups if any(p is model.conv1[0].weight for p in g.params))
    assert stem.lr_scale == scales[0]


def test_fine_tuning_from_a_local_file_through_the_cli(checkpoints, write_task, tmp_path):
    # a path relative to the task file (the CLI runs in the repository, elsewhere)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "r10.safetensors").write_bytes(
        (checkpoints / "resnet10t.safetensors").read_bytes())
    weights = "weights/r10.safetensors"
    task = write_task(replace=(('architectures = ["small_cnn"]', 'architectures = ["resnet10t"]'),
                               ("image_size = 8", 'image_size = 16\nnormalize = "pretrained"'),
                               ("n_trials = 2", "n_trials = 1"), ("epochs = 1", "epochs = 2")),
                      append=f"""
        [search.space.timm]
        pretrained = "{weights}"
        backbone_lr_scale = [0.05, 0.5]
        freeze_epochs = 1
        """)
    db = tmp_path / "results.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as con:
        status, = con.execute("SELECT state FROM trials").fetchone()
        params = dict(con.execute("SELECT param_name, param_value FROM trial_params"))
    assert status == "COMPLETE"
    assert 0.05 <= params["timm.backbone_lr_scale"] <= 0.5
    # the linear-probe reference of the pretrained features, beside the trial's own metrics
    with sqlite3.connect(db) as con:
        probe = dict(con.execute("SELECT name, value FROM harness_metrics WHERE split='probe'"))
    assert {"val_accuracy", "test_accuracy", "val_macro_f1", "test_loss"} <= set(probe)
    assert all(0.0 <= probe[k] <= 1.0 for k in ("val_accuracy", "test_accuracy"))
    board = run_cli("leaderboard", "--db", str(db), "--format", "md")
    assert board.returncode == 0, board.stderr
    (reference,) = [line for line in board.stdout.splitlines() if line.startswith("| ref |")]
    assert "resnet10t (linear probe)" in reference
    assert f"{probe['val_accuracy']:.4f}" in reference
    assert "logistic regression on the frozen pretrained features" in board.stdout


@pytest.mark.parametrize(("value", "expected"), [
    ('"missing.safetensors"', "do not exist"),
    ('"{empty}"', "holds no weights"),
    ('"{notes}"', "not a checkpoint"),
])
def test_a_bad_pretrained_value_is_refused_before_the_study(checkpoints, write_task, value,
                                                            expected):
    notes = checkpoints / "notes.txt"
    notes.write_text("hello")
    value = value.format(empty=checkpoints / "empty", notes=notes)
    task = write_task(replace=(('architectures = ["small_cnn"]', 'architectures = ["resnet10t"]'),),
                      append=f"\n[search.space.timm]\npretrained = {value}\n")
    proc = run_cli("validate", str(task))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "pretrained" in lines[0]
    json.dumps(lines)


def test_weights_fetch_says_in_one_line_what_is_wrong(tmp_path):
    unknown = run_cli("weights", "fetch", "resnet1800", "--to", str(tmp_path))
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: unknown timm model 'resnet1800' — did you mean " \
                                     "'resnet18'?"
    # this machine has no network: the hub cannot be reached, and nothing is left behind
    offline = run_cli("weights", "fetch", "resnet10t", "--to", str(tmp_path / "w"))
    assert offline.returncode == 1
    assert len(offline.stderr.strip().splitlines()) == 1
    assert "could not fetch weights for 'resnet10t'" in offline.stderr
    assert not list((tmp_path / "w").rglob("*.safetensors"))
