r"""Percentile firing-rate regularisation for ANNs that will be converted to SNNs.

Patel et al. (*A Spiking Neural Network for Image Segmentation*, U-Net on Loihi) keep each
neuron's high-percentile firing rate inside a band while training: a neuron that almost never
reaches a useful rate is silent after conversion (information lost at small T), and one far
above the band saturates or forces a large normalisation scale. For neuron :math:`j` with
activations (rates) :math:`a_{j,n}` over the samples :math:`n` of a batch (and timesteps),

.. math::
    p_j = \operatorname{percentile}_q\{a_{j,n}\}_n, \qquad
    \mathcal{L} = w \sum_j \Big(\max(0,\, \ell - p_j)^2 + \max(0,\, p_j - h)^2\Big)

with :math:`q` the percentile (99.9 in the public reference), :math:`[\ell, h]` the band
(``lo``, ``hi``) and :math:`w` the weight. The percentile interpolates linearly between order
statistics (as ``numpy.percentile``), so :math:`\mathcal{L}` has a gradient at the two samples
around the percentile of each neuron.

:class:`ActivationRecorder` collects what the loss needs during training: forward hooks on every
``nn.ReLU`` and :class:`~spikeforge.models.layers.QCFS` module. A QCFS output is recorded divided
by its clip :math:`\lambda`, i.e. as the firing probability per timestep the converted IF neuron
will have, so ``lo`` and ``hi`` are rates in [0, 1]; a ReLU output is recorded as it is.

Examples
--------
>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
>>> reg = PercentileRegularizer(q=99.9, lo=0.1, hi=1.0, weight=0.01)
>>> with ActivationRecorder(model) as rec:
...     out = model(torch.randn(8, 2))
...     loss = reg(rec.activations)
>>> loss.ndim, len(rec.activations), bool(loss >= 0)
(0, 1, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import torch
from torch import nn

from spikeforge.errors import RegularizerError
from spikeforge.models.layers import QCFS

__all__ = ["ActivationRecorder", "PercentileRegularizer", "RegularizerError", "percentile",
           "percentile_loss"]


def percentile(x: torch.Tensor, q: float, dim: int = 0) -> torch.Tensor:
    """Differentiable ``q``-th percentile along ``dim``, linear interpolation (``numpy`` default).

    Only the order statistics around the percentile are found (:func:`torch.topk` from the nearer
    end), which is much cheaper than a full sort for high percentiles such as 99.9, and avoids
    :func:`torch.quantile`'s limit of 2**24 elements per call.

    Raises
    ------
    RegularizerError
        ``q`` outside (0, 100], or no samples along ``dim``.

    Examples
    --------
    >>> percentile(torch.tensor([[0.0], [1.0], [2.0], [4.0]]), 50).tolist()
    [1.5]
    """
    _check_q(q)
    n = x.shape[dim]
    if n == 0:
        raise RegularizerError(f"percentile: no samples along dim {dim} of a tensor of shape {tuple(x.shape)}")
    pos = q / 100.0 * (n - 1)
    i0 = int(pos)
    i1 = min(i0 + 1, n - 1)
    frac = pos - i0
    if n - i0 <= i1 + 1:   # upper tail: the n - i0 largest, descending, end with s[i1], s[i0]
        top = torch.topk(x, n - i0, dim=dim, largest=True).values
        v0 = top.select(dim, n - i0 - 1)
        v1 = top.select(dim, n - i1 - 1)
    else:                  # lower tail: the i1 + 1 smallest, ascending, end with s[i0], s[i1]
        low = torch.topk(x, i1 + 1, dim=dim, largest=False).values
        v0, v1 = low.select(dim, i0), low.select(dim, i1)
    return v0 + frac * (v1 - v0) if frac else v0


def _check_q(q: float) -> None:
    if not 0.0 < q <= 100.0:
        raise RegularizerError(f"percentile q = {q}: must lie in (0, 100]")


def percentile_loss(activations: torch.Tensor, *, q: float = 99.9, lo: float = 0.0, hi: float = 1.0,
                    weight: float = 1.0, sample_dims: int = 1, per_channel: bool = False) -> torch.Tensor:
    r"""Percentile band loss of one layer (see the module equation).

    Parameters
    ----------
    activations : tensor (*samples, *neurons)
        Activations or rates; the first ``sample_dims`` dimensions index samples (batch, or
        time × batch), the rest neurons.
    q : float
        Percentile in (0, 100].
    lo, hi : float
        The band :math:`[\ell, h]`, ``lo ≤ hi``.
    weight : float
        :math:`w \ge 0`.
    sample_dims : int
        Leading dimensions pooled as samples (1: batch; 2: time and batch).
    per_channel : bool
        Pool the positions of a channel too (neurons ``(C, H, W)`` → C percentiles), for
        convolutional layers whose neurons of one channel share their weights.

    Returns
    -------
    tensor (scalar)

    Raises
    ------
    RegularizerError
        ``lo > hi``, ``q`` outside (0, 100], a negative weight, or no neuron dimension.

    Examples
    --------
    >>> a = torch.tensor([[0.0, 0.0], [1.0, 0.0], [4.0, 10.0]])    # 3 samples, 2 neurons
    >>> float(percentile_loss(a, q=100, lo=5, hi=8, weight=0.5))  # 0.5·((5−4)² + (10−8)²)
    2.5
    """
    _check_band(q, lo, hi, weight)
    if sample_dims < 1 or activations.ndim <= sample_dims:
        raise RegularizerError(f"activations of shape {tuple(activations.shape)}: need {sample_dims} sample "
                               "dimension(s) and at least one neuron dimension")
    neurons = activations.shape[sample_dims:]
    a = activations.reshape(-1, *neurons)
    if per_channel:
        a = a.movedim(1, 0).reshape(neurons[0], -1)    # (C, samples × positions)
    else:
        a = a.reshape(a.shape[0], -1).T               # (neurons, samples)
    p = percentile(a, q, dim=1)
    return weight * (torch.relu(lo - p).square() + torch.relu(p - hi).square()).sum()


def _check_band(q: float, lo: float, hi: float, weight: float) -> None:
    _check_q(q)
    if lo > hi:
        raise RegularizerError(f"rate band lo = {lo} > hi = {hi}: need lo ≤ hi")
    if weight < 0:
        raise RegularizerError(f"regulariser weight = {weight}: must be ≥ 0")


@dataclass(frozen=True)
class PercentileRegularizer:
    r"""The loss of the module equation summed over layers: ``reg(recorder.activations)``.

    Attributes
    ----------
    q, lo, hi, weight, per_channel
        As in :func:`percentile_loss`.

    Raises
    ------
    RegularizerError
        On construction, for ``lo > hi``, ``q`` outside (0, 100] or a negative weight.
    """

    q: float = 99.9
    lo: float = 0.0
    hi: float = 1.0
    weight: float = 1.0
    per_channel: bool = False

    def __post_init__(self) -> None:
        _check_band(self.q, self.lo, self.hi, self.weight)

    def __call__(self, activations: Sequence[torch.Tensor]) -> torch.Tensor:
        total = torch.zeros(())
        for a in activations:
            total = total + percentile_loss(a, q=self.q, lo=self.lo, hi=self.hi, weight=self.weight,
                                            per_channel=self.per_channel and a.ndim == 4)
        return total


class ActivationRecorder:
    """Forward hooks that keep the outputs of every ``nn.ReLU`` / QCFS module of a model.

    Use as a context manager (hooks removed on exit); :attr:`activations` holds this forward
    pass's outputs in call order, still attached to the autograd graph. Call :meth:`clear`
    before each forward pass when recording over several batches.
    """

    def __init__(self, model: nn.Module) -> None:
        self.activations: list[torch.Tensor] = []
        self._handles = [m.register_forward_hook(self._hook) for m in model.modules()
                         if isinstance(m, (nn.ReLU, QCFS))]
        if not self._handles:
            raise RegularizerError(f"{type(model).__name__}: no nn.ReLU or QCFS module to record")

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        # QCFS outputs as rates (output / λ): the firing probability per step after conversion.
        self.activations.append(output / module.clip if isinstance(module, QCFS) else output)

    def clear(self) -> None:
        self.activations.clear()

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
