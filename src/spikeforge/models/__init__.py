"""Named reference architectures, so a model file can be a plain state dict plus a name.

Each entry builds a ``torch.nn.Module`` from keyword options and knows its input shape. Models
use ``nn.ReLU`` modules (not ``F.relu``) so :func:`~spikeforge.convert.qcfs.relu_to_qcfs` can
swap them for QCFS activations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from spikeforge.convert.qcfs import relu_to_qcfs
from spikeforge.errors import ModelFileError
from spikeforge.models.zoo import digits_cnn, lenet5, mlp, resnet18, unet, vgg


@dataclass(frozen=True)
class Architecture:
    """A named model family: ``build(**options)`` and the input shape it expects for those options."""

    name: str
    build: Callable[..., nn.Module]
    input_shape: Callable[..., tuple[int, ...]]
    description: str


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a for a in (
        Architecture("digits-cnn", digits_cnn, lambda **o: (1, 8, 8),
                     "conv8-pool-conv16-pool-linear for 8×8 scikit-learn digits"),
        Architecture("mlp", mlp, lambda in_features=784, **o: (in_features,),
                     "multi-layer perceptron (default 784-256-128-10)"),
        Architecture("lenet5", lenet5, lambda in_channels=1, size=28, **o: (in_channels, size, size),
                     "LeNet-5 for 28×28 images"),
        Architecture("vgg", vgg, lambda in_channels=3, size=32, **o: (in_channels, size, size),
                     "VGG (config 'vgg11' or 'small') for CIFAR-size images, width multiplier"),
        Architecture("resnet18", resnet18, lambda in_channels=3, size=32, **o: (in_channels, size, size),
                     "ResNet-18 (CIFAR stem, or ImageNet stem with imagenet=True), width multiplier"),
        Architecture("unet", unet, lambda in_channels=1, size=128, **o: (in_channels, size, size),
                     "U-Net with concatenated skips and transposed convolutions"),
    )
}


def build_model(name: str, **options: Any) -> tuple[nn.Module, tuple[int, ...]]:
    """Build a named architecture; return the model and its input shape.

    The option ``qcfs_levels=L`` replaces every ReLU with a QCFS activation of L levels.

    Raises
    ------
    ModelFileError
        Unknown name or options.
    """
    arch = ARCHITECTURES.get(name)
    if arch is None:
        raise ModelFileError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    options = dict(options)
    levels = options.pop("qcfs_levels", None)
    try:
        model = arch.build(**options)
        shape = arch.input_shape(**options)
    except TypeError as exc:
        raise ModelFileError(f"architecture {name!r}: bad options {options} ({exc})") from None
    if levels is not None:
        relu_to_qcfs(model, levels=int(levels))
    return model, shape
