r"""Torch layers of the models: the quantisation clip-floor-shift (QCFS) activation, for low-latency
ANN→SNN conversion.

Bu et al., "Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency Spiking Neural
Networks", ICLR 2022. Training the ANN with QCFS in place of ReLU makes its activations take the
values an IF neuron with threshold :math:`\lambda` and initial potential :math:`\lambda/2`
can express in :math:`L` timesteps, so the converted SNN is near-lossless at small T:

.. math::
    h(x) = \frac{\lambda}{L}\,\mathrm{clamp}\!\left(\left\lfloor \frac{x L}{\lambda} + \tfrac12
    \right\rfloor, 0, L\right)

The floor passes gradients straight through; :math:`\lambda` (``clip``) is trained.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spikeforge.api import public
from spikeforge.errors import ConversionError

__all__ = ["QCFS", "relu_to_qcfs"]


class QCFS(nn.Module):
    """Quantised clip-floor-shift activation with a trainable clip :math:`\\lambda`.

    Parameters
    ----------
    levels : int
        Quantisation steps :math:`L` (the SNN reproduces the ANN exactly-on-average at T = L).
    clip : float
        Initial :math:`\\lambda`.

    Examples
    --------
    >>> act = QCFS(levels=4, clip=1.0)
    >>> act(torch.tensor([-1.0, 0.1, 0.2, 0.9, 3.0])).tolist()
    [0.0, 0.0, 0.25, 1.0, 1.0]
    """

    def __init__(self, levels: int = 8, clip: float = 4.0) -> None:
        super().__init__()
        _check_options(levels, clip)
        self.levels = int(levels)
        self.clip = nn.Parameter(torch.tensor(float(clip)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = x * (self.levels / self.clip) + 0.5
        stepped = scaled + (torch.floor(scaled) - scaled).detach()  # straight-through floor
        return torch.clamp(stepped, 0, self.levels) * (self.clip / self.levels)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, clip={float(self.clip):.4g}"


def _check_options(levels: int, clip: float) -> None:
    if levels < 1 or not (math.isfinite(clip) and clip > 0):
        raise ConversionError(f"QCFS: levels={levels} must be ≥ 1 and clip={clip} a finite number > 0")


@public
def relu_to_qcfs(model: nn.Module, levels: int = 8, clip: float = 4.0) -> nn.Module:
    """Replace every ``nn.ReLU`` module of ``model`` in place with a :class:`QCFS`; return ``model``.

    Functional ``F.relu`` calls cannot be swapped: write such models with ``nn.ReLU`` modules.

    Raises
    ------
    ConversionError
        ``levels`` below 1, or ``clip`` not a finite number > 0.
    """
    _check_options(levels, clip)
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU):
            setattr(model, name, QCFS(levels, clip))
        else:
            relu_to_qcfs(child, levels, clip)
    return model
