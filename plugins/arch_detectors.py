"""Architectures ``fcos``, ``retinanet``, ``faster_rcnn`` and ``ssdlite``: torchvision's detectors
on any timm backbone.

The detector family is the architecture; the backbone is its ``backbone`` hyperparameter (any
timm model that supports ``features_only``), so family and backbone are separate search choices.
Strides come from the backbone's feature levels and anchor sizes from those strides and the image
size, so small images get small anchors. Models expect images in [0, 1]; the detector's own
transform normalises them and, since the task already resized them, keeps their size.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import harness
from harness_plugins._finetune import BACKBONE_NORM
from harness_plugins._finetune import FINE_TUNING
from harness_plugins._finetune import backbone_and_head
from harness_plugins._finetune import freeze_norm
from harness_plugins._finetune import frozen_norm
from harness_plugins._weights import check_pretrained
from harness_plugins._weights import timm_model

TASKS = ("detection",)


def _check_backbone(name: Any) -> str | None:
    import timm

    if isinstance(name, str) and timm.is_model(name):
        return None
    suggestion = harness.did_you_mean(str(name), timm.list_models())
    return f"unknown timm model {name!r}{suggestion}"


COMMON = {
    "backbone": harness.Choice("resnet18", ("resnet18",), search=False, check=_check_backbone,
                               help="any timm model with features_only (e.g. resnet18, "
                                    "mobilenetv3_large_100, efficientnet_b0)"),
    "fpn_channels": harness.Choice(64, (64, 128, 256), search=False,
                                   help="channels of the feature pyramid"),
    "pretrained": harness.Choice(False, (False, True, "hub"), search=False,
                                 check=check_pretrained, paths=True,
                                 help="backbone weights: true/\"hub\" (needs network access), "
                                      "or a local .safetensors/.pth file or weights folder"),
    **BACKBONE_NORM,
    "freeze_stages": harness.Int(0, 0, 4, search=False,
                                 help="the stem and the first N stages of the backbone (up to "
                                      "stride 2^(N+1)) keep the weights' values and "
                                      "statistics; 1 = stem and stride-4 stage"),
    **{k: v for k, v in FINE_TUNING.items() if k != "layer_decay"},
}
SCORE = {"score_thresh": harness.Float(0.05, 0.01, 0.3, search=False,
                                       help="drop detections below this score")}


class TimmFPN:
    """Factory of a timm ``features_only`` body under a torchvision feature pyramid."""

    def __init__(self, request: harness.ModelRequest, levels: int = 3) -> None:
        import timm
        from torch import nn
        from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        from harness_plugins._detector_modules import Pyramid

        p = request.params
        body = _features(timm, p, levels)
        channels = int(p["fpn_channels"])
        in_channels = body.feature_info.channels()
        self.strides = list(body.feature_info.reduction())
        self.image_size = int(request.io["img_size"])
        # Two extra coarse levels only pay off when objects can be that large.
        extra = None
        if self.image_size >= 256:
            extra = LastLevelP6P7(channels, channels)
            self.strides += [self.strides[-1] * 2, self.strides[-1] * 4]
        fpn = FeaturePyramidNetwork(in_channels, channels, extra_blocks=extra)
        self.module: nn.Module = Pyramid(body, fpn, channels)

    def anchor_sizes(self) -> tuple[tuple[int, ...], ...]:
        """Three sizes per level, from twice the stride, capped by the image size."""
        return tuple(tuple(min(self.image_size, int(round(2 * s * 2 ** (k / 3))))
                           for k in range(3)) for s in self.strides)


def _features(timm: Any, params: Mapping[str, Any], levels: int) -> Any:
    name, pretrained = params["backbone"], params["pretrained"]
    probe = timm.create_model(name, features_only=True, pretrained=False)
    count = len(probe.feature_info)
    indices = tuple(range(max(0, count - levels), count))
    body = timm_model(name, pretrained, features_only=True, out_indices=indices)
    stages = int(params.get("freeze_stages", 0))  # trials stored before it existed: none
    if stages:
        from timm.utils.model import freeze

        freeze(body, stem_and_stages(body, stages))  # type: ignore[no-untyped-call]
    return freeze_norm(body) if frozen_norm(params) else body


def stem_and_stages(body: Any, stages: int) -> list[str]:
    """The body's modules, in order, up to and including its last feature level at stride
    2^(stages+1) or less: the stem and the first ``stages`` stages.

    Strides, not level counts, because backbones differ in their first level (ResNet and
    EfficientNet report one at stride 2, ConvNeXt starts at 4); ``stages = 1`` is what
    torchvision (``trainable_backbone_layers=3``) and Detectron2 (``FREEZE_AT=2``) freeze in
    a pretrained ResNet: the stem and the first residual stage."""
    levels = [i["module"] for i in body.feature_info.info if i["reduction"] <= 2 ** (stages + 1)]
    if not levels:
        return []
    last = levels[-1]
    if last.split(".")[0] not in dict(body.named_children()):
        last = last.replace(".", "_")  # timm's FeatureListNet flattens sequential containers
    names: list[str] = []
    module, prefix = body, ""
    for part in last.split("."):  # siblings before each step of the path, then the level
        for child, _ in module.named_children():
            if child == part:
                break
            names.append(prefix + child)
        module, prefix = module.get_submodule(part), f"{prefix}{part}."
    return [*names, last]


def param_groups(model: Any, params: Mapping[str, Any]) -> list[harness.ParamGroup]:
    """The timm body is the backbone (scaled, frozen for ``freeze_epochs``); pyramid and
    heads train at the trial's rate."""
    body = {id(p) for p in model.backbone.body.parameters()}
    head = [p for p in model.parameters() if id(p) not in body]
    return backbone_and_head(model, head, params)


def _transform_kwargs(request: harness.ModelRequest) -> dict[str, Any]:
    """torchvision's detector transform: in training it picks one of ``min_size`` per image
    (multi-scale training, when the task asks for several sizes), in evaluation the last."""
    size = int(request.io["img_size"])
    sizes = tuple(int(s) for s in request.io.get("train_sizes") or (size,))
    return {"min_size": sizes, "max_size": max(sizes), "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225]}


def _num_classes(request: harness.ModelRequest) -> int:
    return int(request.io["num_classes"]) + 1  # torchvision counts the background class


def build_fcos(request: harness.ModelRequest) -> Any:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    pyramid = TimmFPN(request)
    # FCOS is anchor-free: one "anchor" per location, sized by the stride, marks the centres.
    anchors = AnchorGenerator(tuple((s,) for s in pyramid.strides),
                              ((1.0,),) * len(pyramid.strides))
    return FCOS(pyramid.module, _num_classes(request), anchor_generator=anchors,
                score_thresh=float(request.params["score_thresh"]), detections_per_img=50,
                **_transform_kwargs(request))


def build_retinanet(request: harness.ModelRequest) -> Any:
    from torch import nn
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.retinanet import RetinaNetHead

    pyramid = TimmFPN(request)
    sizes = pyramid.anchor_sizes()
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    # The v2 recipe: GroupNorm in the head and a GIoU box loss. The plain head trains from
    # scratch only with much smaller learning rates.
    head = RetinaNetHead(pyramid.module.out_channels, anchors.num_anchors_per_location()[0],
                         _num_classes(request), norm_layer=partial(nn.GroupNorm, 32))
    head.regression_head._loss_type = "giou"
    return RetinaNet(pyramid.module, _num_classes(request), anchor_generator=anchors, head=head,
                     score_thresh=float(request.params["score_thresh"]), detections_per_img=50,
                     **_transform_kwargs(request))


def build_faster_rcnn(request: harness.ModelRequest) -> Any:
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.faster_rcnn import TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    pyramid = TimmFPN(request)
    sizes = pyramid.anchor_sizes()
    names = [str(i) for i in range(len(sizes))]
    channels = int(request.params["fpn_channels"])
    hidden = 256
    return FasterRCNN(
        pyramid.module, num_classes=None,
        rpn_anchor_generator=AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes)),
        box_roi_pool=MultiScaleRoIAlign(names[:4], output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(channels * 49, hidden),
        box_predictor=FastRCNNPredictor(hidden, _num_classes(request)),
        rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=150,
        box_batch_size_per_image=128, box_score_thresh=float(request.params["score_thresh"]),
        box_detections_per_img=50, **_transform_kwargs(request))


def build_ssdlite(request: harness.ModelRequest) -> Any:
    import timm
    from torch import nn
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.ssdlite import SSDLiteHead

    from harness_plugins._detector_modules import SSDBackbone
    from harness_plugins._detector_modules import extra_block

    size = int(request.io["img_size"])
    body = _features(timm, request.params, 2)
    channels = list(body.feature_info.channels())
    stride = body.feature_info.reduction()[-1]
    extras = nn.ModuleList()
    # Extra stride-2 depthwise-separable blocks until the map is about 2×2 (at most four).
    while size / stride > 3 and len(extras) < 4:
        extras.append(extra_block(channels[-1], 128))
        channels.append(128)
        stride *= 2
    backbone = SSDBackbone(body, extras)
    anchors = DefaultBoxGenerator([[2, 3]] * len(channels), min_ratio=0.15, max_ratio=0.9)
    head = SSDLiteHead(channels, anchors.num_anchors_per_location(), _num_classes(request),
                       nn.BatchNorm2d)
    model = SSD(backbone, anchors, (size, size), _num_classes(request), head=head,
                score_thresh=float(request.params["score_thresh"]), detections_per_img=50,
                image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    return model


FAMILIES = (
    ("fcos", build_fcos, "FCOS (anchor-free, centre-ness) on a timm backbone + FPN", SCORE),
    ("retinanet", build_retinanet, "RetinaNet (focal loss, anchors) on a timm backbone + FPN",
     SCORE),
    ("faster_rcnn", build_faster_rcnn, "Faster R-CNN (two-stage, RoIAlign) on a timm backbone "
     "+ FPN", SCORE),
    ("ssdlite", build_ssdlite, "SSDlite (depthwise head) on a timm backbone", SCORE),
)


EXPORT_NOTE = ("exports with its post-processing (score threshold, NMS): one image per call, "
               "returning boxes, scores and labels")


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    for name, build, description, extra in FAMILIES:
        params = {**COMMON, **extra}
        if name == "ssdlite":
            params = {k: v for k, v in params.items() if k != "fpn_channels"}
        # Post-processing (NMS) time depends on how many boxes the trained detector keeps.
        register(harness.ArchitectureSpec(name=name, build=build, tasks=TASKS,
                                          description=description, params=params,
                                          speed_depends_on_weights=True,
                                          param_groups=param_groups, onnx_export="single",
                                          export_note=EXPORT_NOTE))

