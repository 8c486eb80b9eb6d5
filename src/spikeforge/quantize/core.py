r"""Post-training quantisation of a converted SNN into the integer network hardware evaluates.

Every tensor of the float SNN carries a **unit** :math:`u` (one value per channel): its float
value is :math:`u` × its integer value. Units start at the input and are propagated layer by
layer; each scale is folded into the next integer parameter, so the quantised network is
exactly what an integer datapath computes, and no float multiplier is left anywhere but in
the read-out's output scale.

Folding, layer by layer
-----------------------
* **Input**: analog values :math:`x \in [0, r]` become unsigned ``input_bits`` integers
  :math:`X = \mathrm{clip}(\mathrm{round}(x / s), 0, 2^{b}-1)` with :math:`s = r / (2^{b}-1)`
  (signed and symmetric, :math:`s = r / (2^{b-1}-1)`, when calibration data is negative).
  The input's unit is :math:`s`.
* **Synaptic layers** (Linear, Conv2d, ConvTranspose2d, SparseLinear): the input unit is
  folded into the weights, :math:`W^\mathrm{eff}_{o,i} = W_{o,i}\,u^\mathrm{in}_i`, which are
  quantised symmetrically with a step :math:`\Delta_o` per output channel (``per_channel``)
  or per tensor:

  .. math::
      \Delta_o = \max\!\left(\frac{\max_i |W^\mathrm{eff}_{o,i}|}{2^{B_w-1}-1},\;
                 \frac{\theta_o\,k_o}{2^{B_\theta}-1}\right),\qquad
      q_{o,i} = \mathrm{round}(W^\mathrm{eff}_{o,i} / \Delta_o),\qquad
      \beta_o = \mathrm{round}(b_o / \Delta_o)

  The second term only coarsens :math:`\Delta` when the neuron layer this layer feeds (with
  threshold :math:`\theta`, reached through pooling that multiplies units by :math:`1/k`)
  would otherwise need a threshold wider than ``threshold_bits``. The layer's output unit —
  the accumulator's unit — is :math:`\Delta_o`; biases are integers in that unit.
* **AvgPool2d** (k×k window) becomes a *sum-pool*: a depthwise Conv2d of the same name with
  integer weights 1 (zero padding as ``count_include_pad=True``). Its output unit is
  :math:`u^\mathrm{in} / k^2`; the :math:`1/k^2` reaches the next synaptic layer's
  :math:`W^\mathrm{eff}` (or the next neuron's threshold), never a divider.
* **Neurons** (IF, LIF, CubaLIF): spikes are unit-less, so the input unit :math:`u` (the
  membrane's, and the synaptic current's) folds into the threshold and the bias current:
  :math:`\Theta = \max(1, \mathrm{round}(\theta / u))`, :math:`B = \mathrm{round}(b / u)`, each
  scalar, per channel or per neuron as the values and units require (a per-neuron threshold
  divides by its channel's unit). Decay factors become integers of ``leak_bits`` = :math:`F`
  fraction bits, :math:`\beta_q = D_\beta / 2^F` with :math:`D_\beta = \mathrm{round}(\beta\,2^F)`
  (likewise :math:`\alpha`, see :func:`quantize_decay`), so the integer step
  :math:`V \leftarrow \lfloor \beta_q V \rfloor + I + B` is the hardware's multiply and arithmetic
  right shift :math:`(D_\beta V) \gg F` (Loihi: :math:`F = 12`; Loihi rounds towards zero, which
  differs from the floor for negative potentials only). The initial potential is
  :math:`\lfloor v_\mathrm{init}\,\Theta \rfloor` and the reset potential
  :math:`\lfloor v_\mathrm{reset}\,\Theta \rfloor` (the simulator's integer rules; ``v_init`` and
  ``v_reset`` stay fractions of the threshold). The output unit is 1. Thresholds must fit
  ``threshold_bits`` (unsigned); with ``membrane_bits`` set, thresholds, biases and reset
  potentials must fit the signed membrane register, and the synaptic current has a register of
  the same width.
* **Weight exponents** (the membrane's own unit). A layer feeding neurons that leak (``beta``
  or ``alpha`` < 1) or reset to a value keeps ``weight_bits`` mantissas but accumulates in a
  finer unit :math:`u = \Delta / 2^k`, its integer weights :math:`q\,2^k` (Loihi's weight
  exponent), with the largest :math:`k` such that the threshold still fits,
  :math:`\max_o \theta_o k_o / u_o \le 2^{B_\theta}-1` (:math:`k \le 31 - B_w`): a floored decay
  then loses at most one unit :math:`u`, not one weight step, per timestep. Layers feeding IF
  neurons that reset by subtraction keep :math:`k = 0`.
* **Sums into a membrane** (an Add without gains whose every input is a synaptic layer read
  only by it, feeding leaky or reset-to-value neurons or inside a recurrent loop, e.g. a
  feed-forward and a recurrent Affine): the inputs accumulate in **one** unit, the
  membrane's, :math:`u_o = \min_j \Delta^j_o / 2^k` (the finest input's step, refined as above),
  and each input :math:`j` holds mantissas times :math:`2^{k_j}`,
  :math:`k_j = \lceil \log_2 \max_o \Delta^j_o / u_o \rceil`: every input keeps its own
  ``weight_bits`` resolution (within a factor 2) and the sum keeps unit gains.
* **Delay**: carries its input's unit. A Delay closing a recurrent loop must read a neuron
  layer (spikes, unit 1): a recurrent Affine then reads unit-1 spikes, :math:`W^\mathrm{eff} = W`,
  and is quantised in the unit of the membrane it feeds by the rule above.
* **Add** (residual sums with gains :math:`g_i`): one shared output unit per tensor, set by the
  *finest* input so that no branch is rounded away (a residual block adds a convolution, whose
  accumulator unit is fine, to spikes, whose unit is a whole threshold),
  :math:`u^\mathrm{out} = \max(\min_{i,c} |g_{i,c} u_{i,c}| / (2^{B_w-1}-1),\ \max_{i,c} |g_{i,c} u_{i,c}| / (2^{B_\theta}-1),\ \theta k / (2^{B_\theta}-1))`,
  and integer gains :math:`G_{i,c} = \mathrm{round}(g_{i,c}\,u_{i,c} / u^\mathrm{out})`: the finest input
  keeps weight resolution, coarser inputs get proportionally larger gains, at most
  ``threshold_bits`` wide like the threshold they are compared with (a narrower budget coarsens
  the finest input first).
* **MaxPool2d, Upsample**: unit unchanged; **Flatten**: per-channel units repeated per
  element; **Concat**: units concatenated.
* **Read-out** (synaptic layers reaching no neuron): integer accumulation with one step per
  tensor, so the argmax of the integer read-out is the argmax of the dequantised one; the
  float output scale :math:`u` is kept in :attr:`QuantizedNetwork.output_scales`.

Examples
--------
>>> import numpy as np
>>> from spikeforge.ir import network as ir
>>> snn = ir.Network((ir.Input("x", (), (2,)),
...                   ir.Linear("fc", ("x",), np.array([[0.5, -0.25]], np.float32)),
...                   ir.IF("n", ("fc",), threshold=np.float32(1.0)),
...                   ir.Linear("out", ("n",), np.array([[2.0]], np.float32))), ("out",))
>>> q = quantize(snn, weight_bits=4, input_bits=8)
>>> q.network.node("fc").weight.tolist(), float(q.network.node("n").threshold)
([[7, -4]], 3570.0)
>>> lif = ir.Network((ir.Input("x", (), (1,)), ir.Linear("fc", ("x",), np.array([[0.5]], np.float32)),
...                   ir.LIF("n", ("fc",), threshold=np.float32(1), beta=0.9)), ("n",))
>>> q = quantize(lif, input_bits=1)  # step 0.5/127, exponent 8: unit 0.5/127/256
>>> int(q.network.node("fc").weight[0, 0]), float(q.network.node("n").threshold), q.network.node("n").beta
(32512, 65024.0, 0.89990234375)
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import QuantizationError
from spikeforge.ir import network as ir
from spikeforge.ir.scales import propagate_scales, weight_scales

__all__ = [
    "QuantizedNetwork",
    "check_bits",
    "load_quantized",
    "quantize",
    "quantize_decay",
    "quantize_weights",
    "save_quantized",
]

_INT = np.int32
_MAX_PARAM = 2**31 - 1


@public
def check_bits(name: str, value: object, low: int, high: int) -> int:
    """Validate a bit-width: an integer in ``low..high``.

    Raises
    ------
    QuantizationError
        ``value`` is not an integer or lies outside ``low..high``.

    Examples
    --------
    >>> check_bits("weight_bits", 8, 2, 8)
    8
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise QuantizationError(f"{name}={value!r}: must be an integer in {low}..{high}")
    if not low <= int(value) <= high:
        raise QuantizationError(f"{name}={int(value)}: must be in {low}..{high}")
    return int(value)


@dataclass(frozen=True, eq=False)
class QuantizedNetwork:
    """An integer SNN plus the scales that relate it to the float network.

    Attributes
    ----------
    network : Network
        Integer weights, biases and gains (int32), integer thresholds and biases of neurons, decay
        factors of ``leak_bits`` fraction bits; no AvgPool2d. Weights are ``weight_bits``
        mantissas, times a power of two in layers feeding leaky or reset-to-value neurons.
    input_scale : float
        Float input = ``input_scale`` × integer input (see :meth:`quantize_input`).
    input_signed : bool
        Inputs are symmetric signed integers (calibration data had negative values).
    output_scales : mapping of str to array
        Per output: float read-out = scale × integer read-out (one value per channel).
    layer_scales : mapping of str to array
        Per synaptic layer and Add: the accumulator's unit Δ per output channel.
    leak_bits : int
        Fraction bits of every decay factor (``beta``, ``alpha`` are multiples of ``2**-leak_bits``).
    """

    network: ir.Network
    weight_bits: int
    threshold_bits: int
    membrane_bits: int | None
    per_channel: bool
    input_bits: int
    input_scale: float
    input_signed: bool = False
    output_scales: Mapping[str, np.ndarray] = field(default_factory=dict)
    layer_scales: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)
    leak_bits: int = 12

    def __post_init__(self) -> None:
        # The rules quantize() follows, so that a hand-edited folder is held to them as well.
        check_bits("weight_bits", self.weight_bits, 2, 8)
        check_bits("threshold_bits", self.threshold_bits, 2, 24)
        check_bits("input_bits", self.input_bits, 1, 16)
        check_bits("leak_bits", self.leak_bits, 1, 24)
        for node in self.network.nodes:
            for f in ("beta", "alpha"):
                scaled = np.asarray(getattr(node, f, 1.0), np.float64) * 2**self.leak_bits
                if (scaled != np.round(scaled)).any():
                    bad = float(scaled[scaled != np.round(scaled)].flat[0]) / 2**self.leak_bits
                    raise QuantizationError(f"layer {node.name}.{f}={bad!r}: not a multiple of "
                                            f"2**-{self.leak_bits} (leak_bits={self.leak_bits})")
        if self.membrane_bits is not None:
            check_bits("membrane_bits", self.membrane_bits, 2, 53)
        if not (math.isfinite(self.input_scale) and self.input_scale > 0):
            raise QuantizationError(f"input_scale={self.input_scale!r}: must be finite and > 0")
        layers = {node.name for node in self.network.nodes}
        for what, scales in (("output_scales", self.output_scales), ("layer_scales", self.layer_scales)):
            if not isinstance(scales, Mapping):
                raise QuantizationError(f"{what}: must map layer names to scales, not {type(scales).__name__}")
            for name, scale in scales.items():
                arr = np.asarray(scale)
                if name not in layers or arr.dtype.kind not in "iuf" or arr.ndim > 1 \
                        or not (np.isfinite(arr).all() and (arr > 0).all()):
                    raise QuantizationError(f"{what}[{name!r}]: must be a layer's finite positive scale "
                                            "(a number or one per channel)")

    @property
    def input_range(self) -> tuple[int, int]:
        """Smallest and largest integer input."""
        if self.input_signed:
            top = 2 ** (self.input_bits - 1) - 1
            return -top, top
        return 0, 2**self.input_bits - 1

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Analog inputs → integer-valued float32 array (rounded, saturated to ``input_bits``).

        Examples
        --------
        >>> import numpy as np
        >>> from spikeforge.ir import network as ir
        >>> q = QuantizedNetwork(ir.Network((ir.Input("x", (), (2,)),), ("x",)), 8, 16, None, False, 8, 1 / 255)
        >>> q.quantize_input(np.array([[0.5, 2.0]])).tolist()
        [[128.0, 255.0]]
        """
        lo, hi = self.input_range
        return np.clip(np.round(np.asarray(x, np.float64) / self.input_scale), lo, hi).astype(np.float32)

    def dequantize(self, output: np.ndarray, name: str | None = None) -> np.ndarray:
        """Integer read-out of output ``name`` (default: the first) → float units, (N, C, ...)."""
        name = name or self.network.outputs[0]
        scale = np.asarray(self.output_scales[name], np.float64)
        out = np.asarray(output, np.float64)
        return out * (scale.reshape(-1, *([1] * (out.ndim - 2))) if scale.ndim else scale)

    def metadata(self) -> dict[str, Any]:
        """JSON-able description: bit-widths and every scale (saved beside the network)."""
        return {"quantized": True, "weight_bits": self.weight_bits, "threshold_bits": self.threshold_bits,
                "membrane_bits": self.membrane_bits, "per_channel": self.per_channel,
                "input_bits": self.input_bits, "input_scale": self.input_scale,
                "input_signed": self.input_signed, "leak_bits": self.leak_bits,
                "output_scales": {k: np.asarray(v, np.float64).tolist() for k, v in self.output_scales.items()},
                "layer_scales": {k: np.asarray(v, np.float64).tolist() for k, v in self.layer_scales.items()}}


@public(own_checks="bits")
def quantize_weights(weight: ArrayLike, bits: int, *, axis: int | None = None,
                     min_step: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Symmetric uniform quantisation: ``weight ≈ step × q`` with ``|q| ≤ 2^(bits-1) - 1``.

    Parameters
    ----------
    weight : array
    bits : int
        2..8 (2 bits gives ternary weights −1, 0, 1).
    axis : int, optional
        Channel axis for one step per channel; None for one step per tensor.
    min_step : float or array
        Lower bound on the step (per channel when ``axis`` is given).

    Returns
    -------
    q : int32 array, same shape as ``weight``
    step : float64 array, shape (weight.shape[axis],) or ()

    Raises
    ------
    QuantizationError
        ``bits`` outside 2..8.

    Examples
    --------
    >>> q, step = quantize_weights(np.array([0.5, -0.25, 0.1]), 3)
    >>> q.tolist(), float(step)
    ([3, -2, 1], 0.16666666666666666)
    """
    bits = check_bits("weight_bits", bits, 2, 8)
    levels = 2 ** (bits - 1) - 1
    w = np.asarray(weight, np.float64)
    if axis is None:
        peak = np.abs(w).max(initial=0.0)
    else:
        peak = np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).max(axis=1, initial=0.0)
    step = np.maximum(peak / levels, min_step)
    step = np.where(step > 0, step, 1.0)
    view = step if axis is None else step.reshape([-1 if d == axis else 1 for d in range(w.ndim)])
    q = np.clip(np.round(w / view), -levels, levels).astype(_INT)
    return q, np.asarray(step, np.float64)


@public(own_checks="bits")
def quantize_decay(factor: float | np.ndarray, bits: int, where: str = "decay") -> float | np.ndarray:
    r"""A decay factor :math:`\beta \in (0, 1]` as integer hardware holds it: :math:`D / 2^F` with
    :math:`D = \mathrm{round}(\beta\, 2^F)` of ``bits`` = :math:`F` fraction bits, the nearest
    (Lava truncates the decay constant :math:`\delta = 2^F - D` instead, which can be 5× farther:
    :math:`\beta = 0.96` is :math:`3932/4096` here, :math:`3933/4096` there).

    Exact in float64 and idempotent; 1 stays 1 (no leak). One factor per channel or neuron (an
    array) is quantised element by element.

    Raises
    ------
    QuantizationError
        ``bits`` outside 1..24, or the factor rounds to 0 (``where`` names it).

    Examples
    --------
    >>> quantize_decay(0.96, 12), quantize_decay(0.96, 12) * 4096
    (0.9599609375, 3932.0)
    """
    bits = check_bits("leak_bits", bits, 1, 24)
    d = np.round(np.asarray(factor, np.float64) * 2**bits)
    if (d < 1).any():
        smallest = float(np.asarray(factor, np.float64).min())
        raise QuantizationError(f"{where}={smallest!r}: rounds to 0 with leak_bits={bits} "
                                f"(smallest decay factor {2.0**-bits:g})")
    return d / 2**bits if isinstance(factor, np.ndarray) else float(d) / 2**bits


def _expand(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A scalar, per-channel (or per-element after a flatten) or per-neuron array, broadcast to ``shape``."""
    a = np.asarray(values, np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, *([1] * (len(shape) - 1)))
    return np.broadcast_to(a, shape)


def _compact(values: np.ndarray) -> np.ndarray:
    """Per-neuron values as a scalar or one per channel where they allow it (float32, as the IR keeps them)."""
    if np.all(values == values.flat[0]):
        return np.float32(values.flat[0])
    per_channel = values.reshape(values.shape[0], -1)
    if np.all(per_channel == per_channel[:, :1]):
        return per_channel[:, 0].astype(np.float32)
    return values.astype(np.float32)


def _bits_unsigned(value: float) -> int:
    return max(1, int(value).bit_length())


def _owner_neuron(net: ir.Network, name: str) -> tuple[ir.Node, float] | None:
    """The neuron layer a layer's output reaches through pooling/upsampling alone, and the
    factor (k² per average pool) its threshold is multiplied by in this layer's unit."""
    factor = 1.0
    while True:
        consumers = net.consumers(name)
        if len(consumers) != 1:
            return None
        (nxt,) = consumers
        if nxt.is_neuron:
            return nxt, factor
        if not nxt.keeps_scale:
            return None
        if isinstance(nxt, ir.AvgPool2d):  # a sum-pool once quantised
            factor *= nxt.kernel[0] * nxt.kernel[1]
        name = nxt.name


def _reaches_neuron(net: ir.Network, name: str) -> bool:
    """Whether any neuron layer lies downstream of ``name`` (else it is part of the read-out)."""
    todo, seen = [name], set()
    while todo:
        for c in net.consumers(todo.pop()):
            if c.is_neuron:
                return True
            if c.name not in seen:
                seen.add(c.name)
                todo.append(c.name)
    return False


def _threshold_demand(net: ir.Network, name: str, channels: int, threshold_max: int) -> np.ndarray:
    """Smallest accumulator unit per channel that keeps the owning neuron's threshold in range."""
    owner = _owner_neuron(net, name)
    if owner is None:
        return np.zeros(channels)
    neuron, factor = owner
    theta = _expand(neuron.threshold, net.shape(neuron.name)).reshape(channels, -1).max(axis=1)
    return theta * factor / threshold_max


def _dynamic(neuron: ir.Node) -> bool:
    """Neurons that leak or reset to a value (a directly-trained SNN's; not a converted IF network's)."""
    return bool(np.any(np.asarray(getattr(neuron, "beta", 1.0)) < 1.0)
                or np.any(np.asarray(getattr(neuron, "alpha", 1.0)) < 1.0) or neuron.v_reset is not None)


def _shared_sum(net: ir.Network, node: ir.Node) -> bool:
    """Whether ``node`` is an Add without gains summing synaptic layers that only it reads into
    dynamic neurons or inside a recurrent loop (the inputs of a membrane, e.g. a feed-forward and a
    recurrent Affine): they share one unit. Residual sums of converted networks keep their gains."""
    if not (isinstance(node, ir.Add) and node.gains is None
            and all(net.node(i).has_weights and len(net.consumers(i)) == 1 for i in node.inputs)):
        return False
    owner = _owner_neuron(net, node.name)
    return (owner is not None and _dynamic(owner[0])) or any(node.name in loop for loop in net.loops())


def _without_back_edges(net: ir.Network) -> tuple[ir.Network, dict[str, ir.Delay]]:
    """``net`` with each Delay that closes a loop replaced by an Input of its shape, so that the
    scale walk meets no layer before its input; and those Delays by name.

    Raises
    ------
    QuantizationError
        A loop is closed from a layer that is not a neuron layer (its unit is not known before
        the loop is quantised; spikes have unit 1).
    """
    order = {n.name: i for i, n in enumerate(net.nodes)}
    back = {n.name: n for n in net.nodes if isinstance(n, ir.Delay) and order[n.inputs[0]] >= order[n.name]}
    for d in back.values():
        src = net.node(d.inputs[0])
        if not src.is_neuron:
            raise QuantizationError(f"layer {d.name} (Delay): closes a loop from layer {src.name} "
                                    f"({type(src).__name__}), not a neuron layer; quantize needs spikes on a "
                                    f"recurrent edge")
    if not back:
        return net, back
    nodes = tuple(ir.Input(n.name, (), n.shape, temporal=True) if n.name in back else n for n in net.nodes)
    return ir.Network(nodes, net.outputs, net.name), back


def _int_array(values: np.ndarray, where: str) -> np.ndarray:
    values = np.round(np.asarray(values, np.float64))
    if values.size and np.abs(values).max() > _MAX_PARAM:
        raise QuantizationError(f"{where}: integer value {int(np.abs(values).max())} exceeds 31 bits")
    return values.astype(_INT)


def _effective_weight(node: ir.Node, net: ir.Network, u_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A synaptic layer's weights with the input unit folded in, and their peak |value| per output channel."""
    in_shape = net.shape(node.inputs[0])
    s_in, _, _ = weight_scales(node, in_shape, u_in, np.ones(net.shape(node.name)[0]))
    w_eff = node.weight.astype(np.float64) * s_in
    _, out_ch, _ = node.weight_channels(in_shape)
    peak = np.zeros(net.shape(node.name)[0])
    np.maximum.at(peak, np.broadcast_to(out_ch, w_eff.shape).ravel(), np.abs(w_eff).ravel())
    return w_eff, peak


def _step(node: ir.Node, net: ir.Network, u_in: np.ndarray, bits: int, per_channel: bool,
          demand: np.ndarray) -> np.ndarray:
    """A synaptic layer's weight step Δ per output channel (one value per tensor unless ``per_channel``)."""
    channels = net.shape(node.name)[0]
    _, peak = _effective_weight(node, net, u_in)
    if not per_channel:
        peak = np.full(channels, peak.max(initial=0.0))
        demand = np.full(channels, demand.max(initial=0.0))
    step = np.maximum(peak / (2 ** (bits - 1) - 1), demand)
    return np.where(step > 0, step, 1.0)


def _quantize_synaptic(node: ir.Node, net: ir.Network, u_in: np.ndarray, bits: int, step: np.ndarray,
                       unit: np.ndarray) -> tuple[ir.Node, np.ndarray]:
    r"""Fold ``u_in`` into the weights of a synaptic layer and quantise them at the step
    :math:`u\,2^k` with :math:`k = \lceil \log_2 \max_o \Delta_o / u_o \rceil` (0 when the
    accumulator unit ``unit`` is the step): ``bits`` mantissas times :math:`2^k`. Returns the node
    and its accumulator unit.

    Raises
    ------
    QuantizationError
        The weights would need more than 31 bits.
    """
    in_shape = net.shape(node.inputs[0])
    ratio = float((step / unit).max())
    k = max(0, math.ceil(math.log2(ratio) - 1e-9))
    if k > 31 - bits:
        raise QuantizationError(f"layer {node.name}: weights of step {float(step.max()):.3g} in the membrane unit "
                                f"{float(unit.min()):.3g} need 2^{k} × {bits}-bit values, beyond 31 bits")
    levels = 2 ** (bits - 1) - 1
    w_eff, _ = _effective_weight(node, net, u_in)
    _, s_out, s_bias = weight_scales(node, in_shape, u_in, unit * 2**k)
    q = np.clip(np.round(w_eff / s_out), -levels, levels).astype(_INT) << k
    bias = None if node.bias is None else _int_array(node.bias.astype(np.float64) / (s_bias / 2**k),
                                                     f"layer {node.name} bias")
    return dataclasses.replace(node, weight=q, bias=bias), unit


def _membrane_shift(net: ir.Network, name: str, step: np.ndarray, theta_max: int, most: int) -> int:
    r"""The weight exponent :math:`k` of a layer feeding leaky neurons or neurons that reset to a
    value (directly, through pooling, or through a sum into them): the largest :math:`k \le` ``most`` with
    :math:`\max_o \theta_o k_o / (\Delta_o / 2^k) \le` ``theta_max``; 0 for any other layer."""
    owner = _owner_neuron(net, name)
    consumers = net.consumers(name)
    if owner is None and len(consumers) == 1 and _shared_sum(net, consumers[0]):
        owner = _owner_neuron(net, consumers[0].name)
    if owner is None or not _dynamic(owner[0]):
        return 0
    neuron, factor = owner
    theta = _expand(neuron.threshold, net.shape(neuron.name)).reshape(len(step), -1).max(axis=1)
    coarse = float((theta * factor / step).max())
    return int(np.clip(math.floor(math.log2(theta_max / coarse)), 0, most)) if coarse > 0 else 0


@public(own_checks="weight_bits threshold_bits input_bits membrane_bits leak_bits")
def quantize(snn: ir.Network, *, weight_bits: int = 8, threshold_bits: int = 16, membrane_bits: int | None = None,
             per_channel: bool = False, input_bits: int = 8, input_range: float | None = None,
             calib: ArrayLike | None = None, leak_bits: int = 12) -> QuantizedNetwork:
    """Quantise a converted or directly-trained SNN into an integer network (see the module
    docstring for the folding).

    Parameters
    ----------
    snn : Network
        An SNN of IF, LIF or CubaLIF neurons (leaks, bias currents, ``v_reset``, per-neuron
        parameters), Delays and recurrent loops through them; float parameters.
    weight_bits : int
        Signed weight (and residual gain) bit-width, 2..8.
    threshold_bits : int
        Unsigned threshold bit-width, 2..24 (thresholds are stored exactly as float32).
    membrane_bits : int, optional
        Signed membrane (and synaptic-current) register width, ``threshold_bits + 1``..53;
        saturation is applied (and counted) by
        :func:`~spikeforge.quantize.integer_sim.simulate_integer`. None: unbounded.
    per_channel : bool
        One weight step per output channel instead of per tensor (read-out layers always use
        one step, so their argmax is unaffected).
    input_bits : int
        Unsigned input bit-width, 1..16 (signed when ``calib`` holds negative values); 1 keeps
        spike inputs 0/1 (with ``input_range`` 1).
    input_range : float, optional
        Largest input magnitude; default ``max |calib|``, or 1.0 without calibration data.
    calib : array, optional
        Calibration inputs, used for the input range.
    leak_bits : int
        Fraction bits of the decay factors ``beta`` and ``alpha``, 1..24 (Loihi: 12).

    Returns
    -------
    QuantizedNetwork

    Raises
    ------
    QuantizationError
        A bit-width is not an integer or out of range; ``snn`` is not a Network; a threshold does
        not fit ``threshold_bits``, or a threshold, bias or reset potential the membrane register;
        a bias needs more than the 24 bits float32 holds exactly; a decay factor rounds to 0 with
        ``leak_bits``; a recurrent loop is closed from a layer that is not a neuron layer; the
        input range is not positive.
    NotConvertedError
        The network has no spiking neurons, or still has ReLU layers.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeforge.ir import network as ir
    >>> snn = ir.Network((ir.Input("x", (), (1, 4, 4)), ir.AvgPool2d("pool", ("x",), kernel=2),
    ...                   ir.IF("n", ("pool",), threshold=np.float32(0.5))), ("n",))
    >>> q = quantize(snn, input_bits=4)
    >>> type(q.network.node("pool")).__name__, float(q.network.node("n").threshold)
    ('Conv2d', 30.0)
    >>> lif = ir.Network((ir.Input("x", (), (1,)), ir.Linear("fc", ("x",), np.array([[0.5]], np.float32)),
    ...                   ir.LIF("n", ("fc",), threshold=np.float32(1), beta=0.9, bias=np.float32(0.1))), ("n",))
    >>> n = quantize(lif, input_bits=1, threshold_bits=8).network.node("n")
    >>> float(n.threshold), float(n.bias), n.beta * 4096
    (254.0, 25.0, 3686.0)
    """
    weight_bits = check_bits("weight_bits", weight_bits, 2, 8)
    threshold_bits = check_bits("threshold_bits", threshold_bits, 2, 24)
    input_bits = check_bits("input_bits", input_bits, 1, 16)
    leak_bits = check_bits("leak_bits", leak_bits, 1, 24)
    if membrane_bits is not None:
        membrane_bits = check_bits("membrane_bits", membrane_bits, threshold_bits + 1, 53)
    if not isinstance(snn, ir.Network):
        raise QuantizationError(f"quantize needs a Network, got {type(snn).__name__}")
    snn.require_snn("quantize")
    for n in snn.nodes:
        if n.is_neuron and not n.spiking:  # no scale rule for a graded membrane output yet
            raise QuantizationError(f"layer {n.name} ({type(n).__name__}): a non-spiking read-out is not "
                                    f"supported by quantize yet; read out a Linear/Affine layer instead")
    walked, back_edges = _without_back_edges(snn)
    signed = False
    if input_range is None:
        if calib is not None:
            c = np.asarray(calib, np.float64)
            if c.size == 0 or not np.isfinite(c).all():
                raise QuantizationError(f"calibration data: {c.size} values, empty or not finite")
            input_range = float(np.abs(c).max())
            signed = bool(c.min() < 0)
        else:
            input_range = 1.0
    if not (math.isfinite(input_range) and input_range > 0):
        raise QuantizationError(f"input range {input_range}: must be finite and > 0")
    if signed and input_bits < 2:
        raise QuantizationError(f"input_bits={input_bits}: signed inputs need at least 2 bits")
    input_scale = input_range / (2 ** (input_bits - 1) - 1 if signed else 2**input_bits - 1)

    theta_max = 2**threshold_bits - 1
    gain_levels = 2 ** (weight_bits - 1) - 1
    register_max = None if membrane_bits is None else 2 ** (membrane_bits - 1) - 1
    shared: dict[str, np.ndarray] = {}  # inputs of a sum into neurons -> the membrane's unit

    def step(node: ir.Node, u_in: np.ndarray, demand: np.ndarray | None = None) -> np.ndarray:
        own = _threshold_demand(snn, node.name, snn.shape(node.name)[0], theta_max)
        per = per_channel and _reaches_neuron(snn, node.name)  # one step for the read-out
        return _step(node, snn, u_in, weight_bits, per, own if demand is None else np.maximum(own, demand))

    def synaptic(node: ir.Node, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        delta = step(node, ins[0])
        unit = shared.get(node.name)
        if unit is None:
            unit = delta / 2 ** _membrane_shift(snn, node.name, delta, theta_max, 31 - weight_bits)
        return _quantize_synaptic(node, snn, ins[0], weight_bits, delta, unit)

    def sum_pool(node: ir.AvgPool2d, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        c = snn.shape(node.name)[0]
        pool = ir.Conv2d(node.name, node.inputs, np.ones((c, 1, *node.kernel), _INT), None,
                         stride=node.stride, padding=node.padding, groups=c)
        return pool, ins[0] / (node.kernel[0] * node.kernel[1])

    def fits(node: ir.Node, what: str, values: np.ndarray) -> None:
        worst = float(np.abs(values).max(initial=0.0))
        if register_max is not None and worst > register_max:
            raise QuantizationError(f"layer {node.name}: {what} {worst:.0f} does not fit the "
                                    f"{membrane_bits}-bit membrane (max {register_max})")

    def neurons(node: ir.Node, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        shape = snn.shape(node.name)
        u = _expand(ins[0], shape)
        theta = _expand(node.threshold, shape)
        t_int = np.maximum(1.0, np.round(theta / u))
        worst = float(t_int.max())
        if worst > theta_max:
            at = int(np.argmax(t_int))
            raise QuantizationError(
                f"layer {node.name}: threshold {worst:.0f} (θ={float(theta.flat[at]):g} over unit "
                f"{float(u.flat[at]):.3g}) needs {_bits_unsigned(worst)} bits, threshold_bits={threshold_bits}")
        fits(node, "threshold", t_int)
        changes: dict[str, Any] = {"threshold": _compact(t_int)}
        fields = {f.name for f in dataclasses.fields(node)}
        if node.v_reset is not None:
            fits(node, "reset potential", np.floor(node.v_reset * t_int))
        if hasattr(node, "bias"):
            b_int = np.round(_expand(node.bias, shape) / u)
            if np.abs(b_int).max(initial=0.0) >= 2**24:
                raise QuantizationError(f"layer {node.name}: bias {float(np.abs(b_int).max()):.0f} (in unit "
                                        f"{float(u.min()):.3g}) needs more than the 24 bits float32 holds exactly")
            fits(node, "bias", b_int)
            changes["bias"] = _compact(b_int)
        for f in ("beta", "alpha"):
            if f in fields:  # not a class constant (Threshold's beta = 0)
                changes[f] = quantize_decay(getattr(node, f), leak_bits, f"layer {node.name}.{f}")
        return dataclasses.replace(node, **changes), np.ones(shape[0])

    def residual(node: ir.Add, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        if _shared_sum(snn, node) and all(np.array_equal(u, ins[0]) for u in ins):
            return node, ins[0]  # its inputs already share the membrane's step
        gains = node.gains or (None,) * len(node.inputs)
        eff = [u * (1.0 if g is None else np.broadcast_to(np.asarray(g, np.float64), u.shape))
               for u, g in zip(ins, gains)]
        channels = snn.shape(node.name)[0]
        demand = _threshold_demand(snn, node.name, channels, theta_max)
        finest = min(float(np.abs(e)[e != 0].min(initial=np.inf)) for e in eff)
        coarsest = max(float(np.abs(e).max()) for e in eff)
        u_out = max(finest / gain_levels if math.isfinite(finest) else 0.0, coarsest / theta_max,
                    float(demand.max(initial=0.0)))
        if u_out <= 0:
            raise QuantizationError(f"layer {node.name}: every input gain is 0")
        ints = [_int_array(e / u_out, f"layer {node.name} gains") for e in eff]
        new_gains = tuple(None if np.all(g == 1) else (g if np.any(g != g[0]) else g[:1].reshape(()))
                          for g in ints)
        new = dataclasses.replace(node, gains=None if all(g is None for g in new_gains) else new_gains)
        return new, np.full(channels, u_out)

    def inputs(node: ir.Input, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        if node.name in back_edges:  # a recurrent edge: spikes, unit 1
            return back_edges[node.name], np.ones(node.shape[0])
        return node, np.full(node.shape[0], input_scale)

    rules = {name: synaptic for name, cls in ir.NODE_TYPES.items() if cls.has_weights}
    rules |= {name: neurons for name, cls in ir.NODE_TYPES.items() if cls.is_neuron}
    rules |= {"Input": inputs, "AvgPool2d": sum_pool, "Add": residual,
              "Delay": lambda node, ins: (node, ins[0])}
    nodes, unit = propagate_scales(walked, rules)
    sums = [n for n in snn.nodes if _shared_sum(snn, n)]
    if sums:  # a second walk, now that the units reaching each sum's inputs are known
        for add in sums:
            demand = _threshold_demand(snn, add.name, snn.shape(add.name)[0], theta_max)
            finest = np.min([step(snn.node(i), unit[snn.node(i).inputs[0]], demand) for i in add.inputs], axis=0)
            shift = _membrane_shift(snn, add.inputs[0], finest, theta_max, 31 - weight_bits)
            shared |= dict.fromkeys(add.inputs, finest / 2**shift)
        nodes, unit = propagate_scales(walked, rules)
    # The accumulators' units: of every layer with weights (AvgPool2d's sum-pool has none) and sum.
    scales = {n.name: unit[n.name] for n in snn.nodes if n.has_weights or isinstance(n, ir.Add)}
    net = ir.Network(nodes, snn.outputs, snn.name)
    outputs = {}
    for name in snn.outputs:
        u = unit[name]
        outputs[name] = np.asarray(u[0] if np.allclose(u, u[0], rtol=0, atol=0) else u, np.float64)
    return QuantizedNetwork(net, weight_bits, threshold_bits, membrane_bits, bool(per_channel), input_bits,
                            float(input_scale), signed, outputs, scales, leak_bits)


@public
def save_quantized(q: QuantizedNetwork, path: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> Path:
    """Save the integer network and its scales (in the metadata) to a folder, atomically."""
    from spikeforge.ir.serialize import save_network

    return save_network(q.network, path, {**q.metadata(), **(extra or {})})


@public
def load_quantized(path: str | os.PathLike) -> QuantizedNetwork:
    """Load a folder written by :func:`save_quantized`.

    Raises
    ------
    ModelFileError
        Not a saved network.
    QuantizationError
        The folder holds a network without quantisation metadata.
    """
    from spikeforge.ir.serialize import load_metadata, load_network

    meta = load_metadata(path)
    if not meta.get("quantized"):
        raise QuantizationError(f"{path}: a network without quantisation metadata; run 'spikeforge quantize'")
    net = load_network(path)
    try:
        return QuantizedNetwork(
            net, int(meta["weight_bits"]), int(meta["threshold_bits"]),
            None if meta.get("membrane_bits") is None else int(meta["membrane_bits"]), bool(meta["per_channel"]),
            int(meta["input_bits"]), float(meta["input_scale"]), bool(meta.get("input_signed", False)),
            {k: np.asarray(v, np.float64) for k, v in meta["output_scales"].items()},
            {k: np.asarray(v, np.float64) for k, v in meta.get("layer_scales", {}).items()},
            int(meta.get("leak_bits", 12)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise QuantizationError(f"{path}: malformed quantisation metadata ({exc})") from None
    except QuantizationError as exc:
        raise QuantizationError(f"{path}: malformed quantisation metadata: {exc}") from None
