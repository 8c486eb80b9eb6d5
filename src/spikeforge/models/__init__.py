"""Named reference architectures, so a model file can be a plain state dict plus a name.

Each entry builds a ``torch.nn.Module`` from keyword options and knows its input shape and the
options it takes (type and range), checked here, in one place, however the options arrive (a
model file, ``--option``, Python). Models use ``nn.ReLU`` modules (not ``F.relu``) so
:func:`~spikeforge.models.layers.relu_to_qcfs` can swap them for QCFS activations.

Examples
--------
>>> build_model("vgg", width=float("nan"))
Traceback (most recent call last):
...
spikeforge.errors.ModelFileError: architecture 'vgg': option width=nan: must be a finite number in (0, 64]
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import torch
from torch import nn

from spikeforge.api import public
from spikeforge.errors import ModelFileError
from spikeforge.models.layers import relu_to_qcfs
from spikeforge.models.zoo import (
    VGG_CONFIGS,
    digits_cnn,
    lenet5,
    mlp,
    resnet18,
    unet,
    vgg,
)
from spikeforge.resources import check_memory


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({type(value).__name__})"


@dataclass(frozen=True)
class Option:
    """A keyword option of an architecture: ``kind`` (``int``, ``float``, ``bool``, ``str`` or
    ``tuple`` of ints), the range ``low..high`` of numbers (floats: ``low`` excluded) and the
    ``choices`` of a string."""

    kind: type
    low: float = 1
    high: float = 1 << 20
    choices: tuple[str, ...] = ()

    def check(self, where: str, value: Any) -> Any:
        """``value`` as the option's type, or :class:`ModelFileError` naming ``where``."""
        integer = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ModelFileError(f"{where}: must be true or false")
            return value
        if self.kind is str:
            if not isinstance(value, str) or value not in self.choices:
                raise ModelFileError(f"{where}: must be one of {', '.join(map(repr, self.choices))}")
            return value
        if self.kind is int:
            if not integer or not self.low <= value <= self.high:
                raise ModelFileError(f"{where}: must be an integer in {self.low}..{self.high}")
            return int(value)
        if self.kind is float:
            if (not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value)
                    or not self.low < value <= self.high):
                raise ModelFileError(f"{where}: must be a finite number in ({self.low:g}, {self.high:g}]")
            return float(value)
        # a tuple of ints
        if (not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 64
                or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                           and self.low <= v <= self.high for v in value)):
            raise ModelFileError(f"{where}: must be a list of 1 to 64 integers in {self.low}..{self.high}")
        return tuple(int(v) for v in value)


_COUNT = Option(int)                   # channels, features, classes
_SIZE = Option(int, high=1 << 16)      # image side in pixels
_POOL = Option(str, choices=("avg", "max"))
_WIDTH = Option(float, low=0, high=64)  # channel multiplier
#: Options every architecture takes.
COMMON_OPTIONS: dict[str, Option] = {"qcfs_levels": Option(int, high=1024)}


@dataclass(frozen=True)
class Architecture:
    """A named model family: ``build(**options)``, the input shape it expects for those options,
    and the ``options`` it takes (besides :data:`COMMON_OPTIONS`)."""

    name: str
    build: Callable[..., nn.Module]
    input_shape: Callable[..., tuple[int, ...]]
    description: str
    options: Mapping[str, Option] = field(default_factory=dict)

    def check_options(self, options: Mapping[Any, Any]) -> dict[str, Any]:
        """``options`` with every value checked and converted to its option's type.

        Raises
        ------
        ModelFileError
            An unknown option name, or a value of the wrong type or out of range.
        """
        known = {**self.options, **COMMON_OPTIONS}
        checked = {}
        for key, value in options.items():
            if key not in known:
                raise ModelFileError(f"architecture {self.name!r}: unknown option {_show(key)}; "
                                     f"options are {', '.join(sorted(known))}")
            checked[key] = known[key].check(f"architecture {self.name!r}: option {key}={_show(value)}", value)
        return checked


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a for a in (
        Architecture("digits-cnn", digits_cnn, lambda **o: (1, 8, 8),
                     "conv8-pool-conv16-pool-linear for 8×8 scikit-learn digits",
                     {"num_classes": _COUNT, "pool": _POOL}),
        Architecture("mlp", mlp, lambda in_features=784, **o: (in_features,),
                     "multi-layer perceptron (default 784-256-128-10)",
                     {"in_features": _COUNT, "hidden": Option(tuple), "num_classes": _COUNT}),
        Architecture("lenet5", lenet5, lambda in_channels=1, size=28, **o: (in_channels, size, size),
                     "LeNet-5 for 28×28 images",
                     {"in_channels": _COUNT, "size": _SIZE, "num_classes": _COUNT}),
        Architecture("vgg", vgg, lambda in_channels=3, size=32, **o: (in_channels, size, size),
                     "VGG (config 'vgg11' or 'small') for CIFAR-size images, width multiplier",
                     {"config": Option(str, choices=tuple(VGG_CONFIGS)), "width": _WIDTH, "in_channels": _COUNT,
                      "size": _SIZE, "num_classes": _COUNT, "batch_norm": Option(bool), "pool": _POOL}),
        Architecture("resnet18", resnet18, lambda in_channels=3, size=32, **o: (in_channels, size, size),
                     "ResNet-18 (CIFAR stem, or ImageNet stem with imagenet=True), width multiplier",
                     {"width": _WIDTH, "in_channels": _COUNT, "size": _SIZE, "num_classes": _COUNT,
                      "imagenet": Option(bool)}),
        Architecture("unet", unet, lambda in_channels=1, size=128, **o: (in_channels, size, size),
                     "U-Net with concatenated skips and transposed convolutions",
                     {"in_channels": _COUNT, "size": _SIZE, "base": _COUNT, "depth": Option(int, high=16),
                      "num_classes": _COUNT}),
    )
}


def _check_memory(arch: Architecture, options: dict[str, Any]) -> None:
    """Build the model on the ``meta`` device (shapes only: no memory, no random numbers drawn)
    and refuse options whose parameters would not fit in the free memory, before allocating
    anything. The parameters count twice: the model, and the network IR's copy made on import."""
    described = f"architecture {arch.name!r}" + (f" ({', '.join(f'{k}={v}' for k, v in options.items())})"
                                                  if options else "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Initializing zero-element tensors is a no-op"
        try:
            with torch.device("meta"):
                model = arch.build(**options)
        except (RuntimeError, ValueError, ZeroDivisionError) as exc:
            raise ModelFileError(f"{described}: cannot be built ({str(exc).splitlines()[0][:200]})") from None
    parameters = sum(t.numel() * t.element_size() for t in chain(model.parameters(), model.buffers()))
    check_memory(2 * parameters, f"building {described}")


@public
def build_model(name: str, **options: Any) -> tuple[nn.Module, tuple[int, ...]]:
    """Build a named architecture; return the model and its input shape.

    The option ``qcfs_levels=L`` replaces every ReLU with a QCFS activation of L levels.

    Raises
    ------
    ModelFileError
        Unknown name or option, or an option value of the wrong type or out of range.
    spikeforge.errors.ResourceError
        The model's parameters would not fit in the free memory (estimated before building it).
    """
    arch = ARCHITECTURES.get(name) if isinstance(name, str) else None
    if arch is None:
        raise ModelFileError(f"unknown architecture {_show(name)}; known: {', '.join(sorted(ARCHITECTURES))}")
    options = arch.check_options(options)
    levels = options.pop("qcfs_levels", None)
    _check_memory(arch, options)
    model = arch.build(**options)
    shape = arch.input_shape(**options)
    if levels is not None:
        relu_to_qcfs(model, levels=levels)
    return model, shape
