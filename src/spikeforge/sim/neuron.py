r"""The one spiking-neuron kernel: a pure step function over an immutable state and parameters.

The float simulator, the integer (saturating-register) simulation and the spike-domain phase of
QAT all step their neurons with :func:`neuron_step`; they differ only in the
:class:`Arithmetic` (float, or integers with floored fractions and saturating registers) and in
whether the spike has a surrogate gradient. One timestep, with input current :math:`I`:

.. math::
    i' = \mathrm{reg}(\alpha\, i + I) \ \text{(CUBA only, else } i' = I\text{)}, \qquad
    v' = \mathrm{reg}(\beta\, v + i' + b), \qquad
    s = [v' \ge \theta], \qquad
    v'' = v' - s\,\theta \ \text{(reset by subtraction)}
    \ \text{or}\ v'' = (1 - s)\, v' + s\, v_\mathrm{reset}\theta

with :math:`b` a constant bias current (LIF, CubaLIF; 0 for IF), :math:`\beta = 1` an IF neuron, :math:`\mathrm{reg}` the membrane
(or synaptic-current) register of the arithmetic (the identity in float; a clamp to a signed bit
width in saturating integer arithmetic, each register counted apart), and
every product with a fraction (:math:`\beta v`, :math:`\alpha i`, the initial potential
:math:`v_\mathrm{init}\theta`) rounded by the arithmetic (floored in integer arithmetic). Ready
for recurrent input: a recurrent layer adds its synaptic output of step :math:`t-1` to
:math:`I` before the step.

Examples
--------
>>> import torch
>>> params = NeuronParams(torch.tensor(1.0), v_init=0.0)
>>> state = initial_state(params, torch.zeros(1))
>>> for current in (0.4, 0.4, 0.4):
...     s, state = neuron_step(state, torch.tensor([current]), params)
...     print(float(s[0]), round(float(state.v[0]), 2))
0.0 0.4
0.0 0.8
1.0 0.2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikeforge.api import public
from spikeforge.errors import SimulationError
from spikeforge.ir import network as ir


@dataclass(frozen=True, eq=False)
class NeuronParams:
    r"""Parameters of a layer of neurons (see the module docstring for the equations).

    Attributes
    ----------
    threshold : tensor
        :math:`\theta > 0`, a scalar, one per channel or one per neuron, shaped to broadcast over the membrane
        (e.g. ``(C, 1, 1)`` for batch-first ``(B, C, H, W)``). May require a gradient (QAT).
    beta : float or tensor
        Membrane leak factor per step in (0, 1]; 1 is IF. A tensor (shaped as ``threshold``) when
        it differs between channels or neurons.
    v_init : float
        Initial membrane potential as a fraction of :math:`\theta`, in [0, 1).
    v_reset : float or None
        None: reset by subtraction (residual charge carries over). A number: after a spike the
        potential is set to ``v_reset`` × θ.
    alpha : float, tensor or None
        Synaptic current decay per step in (0, 1] (current-based synapses, CUBA; a tensor as
        ``beta``); None: the input current enters the membrane directly.
    bias : tensor or None
        Constant current added to the membrane every step, shaped as ``threshold``; None: none.
    """

    threshold: torch.Tensor
    beta: float | torch.Tensor = 1.0
    v_init: float = 0.5
    v_reset: float | None = None
    alpha: float | torch.Tensor | None = None
    bias: torch.Tensor | None = None


@dataclass(frozen=True, eq=False)
class NeuronState:
    """Membrane potential ``v`` and, with CUBA synapses, synaptic current ``i_syn`` of a layer."""

    v: torch.Tensor
    i_syn: torch.Tensor | None = None


@dataclass
class Tally:
    """Saturation events and the largest |potential| seen by one register (mutable counters)."""

    overflows: int = 0
    peak: float = 0.0


@dataclass(frozen=True)
class Arithmetic:
    """Float arithmetic: products round only to the dtype, registers never saturate."""

    dtype: torch.dtype = torch.float32

    def fraction(self, x: torch.Tensor) -> torch.Tensor:
        """A product with a non-integer factor (leak, initial potential), as the hardware keeps it."""
        return x

    def register(self, v: torch.Tensor) -> torch.Tensor:
        """A register after an addition (``v`` is fresh: it may be updated in place)."""
        return v

    def current(self, i: torch.Tensor) -> torch.Tensor:
        """The synaptic-current register of a CUBA neuron after an addition (``i`` is fresh)."""
        return i


#: Plain float32 arithmetic, the simulator's default.
FLOAT = Arithmetic()


@dataclass(frozen=True)
class IntegerArithmetic(Arithmetic):
    r"""Integer arithmetic held exactly in float64 (every integer below :math:`2^{53}`).

    Fractions are floored: with a decay factor of :math:`F` fraction bits, :math:`\beta = D/2^F`
    (as :func:`~spikeforge.quantize.core.quantize` makes it), :math:`\lfloor \beta v \rfloor` is
    exactly the hardware's multiply and arithmetic right shift :math:`(D\,v) \gg F` (the product is
    exact in float64 while :math:`|D v| < 2^{53}`). With ``bits`` = :math:`m`, a register is signed
    and **saturates** to :math:`[-2^{m-1}, 2^{m-1}-1]`; a ``tally`` counts the values that left
    that range and keeps the largest :math:`|v|` seen before clamping (the membrane's), and
    ``current_tally`` does the same for the synaptic current of CUBA neurons (same width).

    Examples
    --------
    >>> tally = Tally()
    >>> IntegerArithmetic(bits=4, tally=tally).register(torch.tensor([9.0, -3.0, -12.0])).tolist()
    [7.0, -3.0, -8.0]
    >>> tally
    Tally(overflows=2, peak=12.0)
    """

    dtype: torch.dtype = torch.float64
    bits: int | None = None
    tally: Tally | None = None
    current_tally: Tally | None = None

    def fraction(self, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(x)

    def register(self, v: torch.Tensor) -> torch.Tensor:
        return self._saturate(v, self.tally)

    def current(self, i: torch.Tensor) -> torch.Tensor:
        return self._saturate(i, self.current_tally)

    def _saturate(self, v: torch.Tensor, tally: Tally | None) -> torch.Tensor:
        if tally is not None:
            tally.peak = max(tally.peak, float(v.abs().max()) if v.numel() else 0.0)
        if self.bits is None:
            return v
        lo, hi = -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1
        if tally is not None:
            tally.overflows += int(((v < lo) | (v > hi)).sum())
        return v.clamp_(lo, hi)


class TriangleSurrogate(torch.autograd.Function):
    r"""Heaviside step :math:`H(u)` of ``u = v - θ`` whose backward pass is the triangular
    surrogate :math:`H'(u) \approx \max(0, 1 - |u|/\theta)/\theta` (no gradient to θ through it)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(u, theta)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        u, theta = ctx.saved_tensors
        return grad * torch.clamp(1 - u.abs() / theta, min=0) / theta, None


@public
def neuron_params(node: ir.Node, ndim: int, dtype: torch.dtype = torch.float32) -> NeuronParams:
    """The parameters of an IR neuron layer, its threshold shaped for batch-first tensors of
    ``ndim`` dimensions (batch included).

    Raises
    ------
    SimulationError
        ``node`` is not a neuron layer.

    Examples
    --------
    >>> n = ir.LIF("n", ("x",), threshold=np.array([1.0, 2.0], np.float32), beta=0.9)
    >>> p = neuron_params(n, 4)
    >>> tuple(p.threshold.shape), p.beta, p.v_init
    ((2, 1, 1), 0.9, 0.5)
    """
    if not node.is_neuron:
        raise SimulationError(f"layer {node.name}: {type(node).__name__} is not a neuron layer")
    bias = getattr(node, "bias", None)
    alpha = getattr(node, "alpha", None)
    return NeuronParams(_broadcast(node.threshold, ndim, dtype), beta=_decay(getattr(node, "beta", 1.0), ndim, dtype),
                        v_init=float(node.v_init), v_reset=node.v_reset,
                        alpha=None if alpha is None else _decay(alpha, ndim, dtype),
                        bias=None if bias is None or not bias.any() else _broadcast(bias, ndim, dtype))


def _decay(factor: float | np.ndarray, ndim: int, dtype: torch.dtype) -> float | torch.Tensor:
    """A decay factor as a number, or (one per channel or neuron) as a broadcasting tensor."""
    return _broadcast(factor, ndim, dtype) if isinstance(factor, np.ndarray) else float(factor)


def _broadcast(values: np.ndarray, ndim: int, dtype: torch.dtype) -> torch.Tensor:
    """A scalar, per-channel or per-neuron array as a tensor broadcasting over batch-first
    tensors of ``ndim`` dimensions."""
    t = torch.as_tensor(np.array(values), dtype=dtype)
    return t.reshape(-1, *([1] * (ndim - 2))) if t.ndim == 1 else t


def initial_state(params: NeuronParams, like: torch.Tensor, arithmetic: Arithmetic = FLOAT) -> NeuronState:
    """The state before the first step: ``v = v_init·θ`` (rounded by the arithmetic) with the
    shape, dtype and memory layout of ``like``; no synaptic current."""
    v = arithmetic.fraction(torch.full_like(like, params.v_init) * params.threshold)
    return NeuronState(v, None if params.alpha is None else torch.zeros_like(v))


def neuron_step(state: NeuronState, current: torch.Tensor, params: NeuronParams, *,
                arithmetic: Arithmetic = FLOAT, surrogate: type[torch.autograd.Function] | None = None,
                out: torch.Tensor | None = None) -> tuple[torch.Tensor, NeuronState]:
    """One timestep of a layer of neurons (equations in the module docstring).

    Pure: ``state`` is not modified and the new state shares no memory with it.

    Parameters
    ----------
    state : NeuronState
    current : tensor
        Input current :math:`I` of this step (broadcasts to the membrane).
    params : NeuronParams
    arithmetic : Arithmetic
        :data:`FLOAT`, or an :class:`IntegerArithmetic` (floored fractions, saturating registers).
    surrogate : autograd Function, optional
        E.g. :class:`TriangleSurrogate`: the spike is ``surrogate.apply(v - θ, θ)`` and the
        whole step is differentiable (training); ``None``: a plain comparison.
    out : tensor, optional
        Buffer for the spikes (without a surrogate), e.g. one step of a spike train.

    Returns
    -------
    spikes : tensor
        0./1. in the membrane's dtype.
    state : NeuronState
        After the reset.
    """
    theta, i_syn = params.threshold, None
    if params.alpha is not None:
        i_syn = arithmetic.current(arithmetic.fraction(state.i_syn * params.alpha) + current)
        current = i_syn
    no_leak = isinstance(params.beta, float) and params.beta == 1.0
    v = state.v if no_leak else arithmetic.fraction(state.v * params.beta)
    if params.bias is not None:
        current = current + params.bias
    v = arithmetic.register(v + current)  # a new tensor: the steps below may update it in place
    if surrogate is not None:
        spikes = surrogate.apply(v - theta, theta)
    elif out is not None:
        spikes = torch.ge(v, theta, out=out)
    else:
        spikes = (v >= theta).to(v.dtype)
    if params.v_reset is not None:
        v = v * (1 - spikes) + spikes * arithmetic.fraction(params.v_reset * theta)
    elif surrogate is not None:  # out of place: autograd needs the graph
        v = v - spikes * theta
    else:
        v.addcmul_(spikes, theta, value=-1.0)  # exact: spikes · θ is 0 or θ
    return spikes, NeuronState(v, i_syn)

