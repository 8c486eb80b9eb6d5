r"""ANN→SNN conversion by data-based normalisation (rate coding, reset by subtraction).

Every ReLU becomes a layer of IF (or LIF) neurons. A ReLU's activation scale :math:`\lambda`
(per layer or per channel) is a statistic of its activations on calibration data — the
maximum, or a percentile such as 99.9 (Rueckauer et al. 2017, "robust normalisation") — or,
for clipped and QCFS-trained activations, the clip itself. Each tensor then carries a scale
vector :math:`s` (ANN value = :math:`s` × SNN rate) and each synaptic layer is rescaled from
its input scale to its output scale, **bias included**:

.. math::
    W'_{o,i} = W_{o,i}\, \frac{s^\mathrm{in}_i}{s^\mathrm{out}_o}, \qquad
    b'_o = \frac{b_o}{s^\mathrm{out}_o}

With ``balance="weights"`` a synaptic layer's output scale is the :math:`\lambda` of the ReLU
it feeds, so neuron thresholds are 1; with ``balance="thresholds"`` weights keep the ANN's
units and each neuron's threshold becomes :math:`\theta = \lambda / s^\mathrm{in}` (threshold
balancing). Both give the same spike trains; they differ in the numbers that reach hardware.
Residual sums get per-input gains :math:`s_i / s^\mathrm{out}` and concatenations carry the
scales of their parts, so every input of an Add or Concat is brought to a common scale.
Layers without a ReLU after them (the classifier) keep scale 1: their read-out, the
accumulated membrane potential divided by t, estimates the ANN's output in its own units.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import torch

from spikeforge.api import ArrayLike, public
from spikeforge.errors import ConversionError, InvalidDataError
from spikeforge.ir import network as ir
from spikeforge.ir.scales import propagate_scales, weight_scales
from spikeforge.resources import check_count
from spikeforge.sim.simulator import MAX_TIMESTEPS, iterate_ann


def _parse_statistic(statistic: str | float) -> float:
    """``'max'`` → 100; ``'p99.9'``, ``'99.9'`` or 99.9 → 99.9."""
    if statistic == "max":
        return 100.0
    text = str(statistic).lstrip("p")
    try:
        q = float(text)
    except ValueError:
        raise ConversionError(f"statistic {statistic!r}: use 'max' or a percentile like 'p99.9'") from None
    if not 0 < q <= 100:
        raise ConversionError(f"statistic {statistic!r}: percentile must be in (0, 100]")
    return q


def check_calibration_data(x: np.ndarray | torch.Tensor, net: ir.Network) -> np.ndarray:
    """``x`` as an array after checking it is calibration data for ``net`` from which activation
    statistics can be measured: samples of the network's input (:meth:`~spikeforge.ir.network.Network.check_input`),
    not all zero, and not one sample repeated (every layer would see a single activation per neuron).

    Raises
    ------
    InvalidDataError
        Wrong shape, no samples, values that are not finite numbers, all values zero, or every
        sample identical.

    Examples
    --------
    >>> net = ir.Network((ir.Input("x", (), (2,)),), ("x",))
    >>> check_calibration_data(np.zeros((4, 2)), net)
    Traceback (most recent call last):
    ...
    spikeforge.errors.InvalidDataError: calibration data: all 4 samples are zero; no activation statistics can be measured
    """
    arr = net.check_input(x.numpy() if isinstance(x, torch.Tensor) else x, "calibration data")
    n = arr.shape[0]
    if not arr.any():
        raise InvalidDataError(f"calibration data: all {n} samples are zero; no activation statistics can be measured")
    if n > 1 and all(np.array_equal(sample, arr[0]) for sample in arr[1:]):
        raise InvalidDataError(f"calibration data: all {n} samples are identical; no activation statistics can be "
                               "measured (use varied samples, e.g. training data)")
    return arr


@public
def activation_scales(ann: ir.Network, calib: ArrayLike | None, *, statistic: str | float = "p99.99",
                      per_channel: bool = True, batch_size: int = 256, max_samples: int = 200_000,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Per-ReLU activation scale λ (vector over channels) from calibration data.

    Clipped or QCFS ReLUs use their clip. Others use the chosen statistic of their positive
    activations (zeros are excluded, as in Rueckauer et al. 2017), per channel or per layer; a
    channel that never activates falls back to the layer's value, a layer that never activates
    is an error (its scale would be a guess). Percentiles are taken over a uniform random sample
    of at most ``max_samples`` values per channel.

    Raises
    ------
    InvalidDataError
        Calibration data refused by :func:`check_calibration_data`: empty, non-finite, wrongly
        shaped, all zero, or one sample repeated.
    ConversionError
        An unknown statistic, calibration data missing where it is needed, or a layer none of
        whose neurons activates on the calibration data.
    """
    q = _parse_statistic(statistic)
    relus = [n for n in ann.nodes if isinstance(n, ir.ReLU)]
    scales: dict[str, np.ndarray] = {}
    for n in relus:
        if n.clip is not None:
            scales[n.name] = np.full(ann.shape(n.name)[0], n.clip, dtype=np.float64)
    todo = [n.name for n in relus if n.name not in scales]
    if not todo:
        return scales
    if calib is None:
        raise ConversionError(f"network {ann.name}: unclipped ReLUs {todo} need calibration data")
    calib = check_calibration_data(calib, ann)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[list[np.ndarray]]] = {name: [[] for _ in range(ann.shape(name)[0])] for name in todo}
    n_total = len(calib)
    for batch in iterate_ann(ann, calib, record=todo, batch_size=batch_size):
        for name in todo:
            act = batch[name].numpy()
            per_ch = np.moveaxis(act, 1, 0).reshape(act.shape[1], -1)
            keep = max(1, -(-max_samples * act.shape[0] // n_total))
            for c, values in enumerate(per_ch):
                values = values[values > 0]
                if values.size > keep:
                    values = rng.choice(values, keep, replace=False)
                samples[name][c].append(values)
    for name in todo:
        channels = [np.concatenate(parts) for parts in samples[name]]
        everything = np.concatenate(channels)
        if not everything.size:
            raise ConversionError(f"layer {name}: no neuron activates on any of the {n_total} calibration samples, "
                                  "so its scale cannot be measured (use other calibration data, or clip the "
                                  "activation)")
        layer_value = float(np.percentile(everything, q))
        if per_channel:
            vec = np.array([np.percentile(v, q) if v.size else layer_value for v in channels])
        else:
            vec = np.full(len(channels), layer_value)
        scales[name] = np.where(vec > 0, vec, 1.0)
    return scales


def _owner_relu(net: ir.Network, name: str) -> ir.ReLU | None:
    """The ReLU a layer's output reaches through scale-keeping layers and residual sums, if unique."""
    while True:
        consumers = net.consumers(name)
        if len(consumers) != 1:
            return None
        (nxt,) = consumers
        if isinstance(nxt, ir.ReLU):
            return nxt
        if not (nxt.keeps_scale or isinstance(nxt, ir.Add)):
            return None
        name = nxt.name


@public
def convert(ann: ir.Network, calib: ArrayLike | None = None, *,
            statistic: str | float = "p99.99", per_channel: bool = True, balance: str = "weights",
            neuron: str = "IF", beta: float = 1.0, v_init: float = 0.5,
            scales: Mapping[str, np.ndarray] | None = None, batch_size: int = 256,
            timesteps: int | None = None) -> ir.Network:
    """Convert an ANN network to an SNN of IF (or LIF) neurons with reset by subtraction.

    Parameters
    ----------
    ann : Network
        The imported ANN (ReLU activations).
    calib : array (N, *input_shape), optional
        Calibration inputs; needed unless every ReLU is clipped/QCFS or ``scales`` is given.
    statistic : {'max', 'p99.9', 'p99.99', ...}
        Statistic of positive activations used as the scale λ.
    per_channel : bool
        One λ per output channel (default) or one per layer.
    balance : {'weights', 'thresholds'}
        Fold the scales into weights and biases (thresholds 1), or into thresholds.
    neuron : {'IF', 'LIF'}
    beta : float
        LIF leak factor per timestep (ignored for IF).
    v_init : float
        Initial membrane potential as a fraction of the threshold (0.5 halves the rounding error).
    scales : mapping, optional
        Precomputed λ per ReLU (from :func:`activation_scales`).
    timesteps : int, optional
        The T the SNN will run for: calibrate it for that T on ``calib`` (layer-wise initial
        potential, scale and bias, :mod:`~spikeforge.convert.tune`), keeping the result only if it
        agrees with the ANN on held-out calibration images at least as often as the plain
        conversion. Without it the conversion is the same for every T.

    Raises
    ------
    ConversionError
        The network is already an SNN, options are invalid, calibration data is missing (also
        with ``timesteps``, which always needs it), or a layer never activates on it
        (:func:`activation_scales`).
    InvalidDataError
        Calibration data is empty, not finite, of the wrong shape, all zero, or one sample
        repeated (:func:`check_calibration_data`).

    Examples
    --------
    >>> net = ir.Network((ir.Input("x", (), (2,)),
    ...                   ir.Linear("fc", ("x",), np.array([[2.0, 0.0], [0.0, 1.0]], np.float32)),
    ...                   ir.ReLU("act", ("fc",), clip=2.0)), ("act",))
    >>> snn = convert(net)
    >>> snn.node("fc").weight.tolist(), type(snn.node("act")).__name__
    ([[1.0, 0.0], [0.0, 0.5]], 'IF')
    """
    if ann.kind != "ann":
        raise ConversionError(f"network {ann.name} already has spiking neurons")
    if balance not in ("weights", "thresholds"):
        raise ConversionError(f"balance={balance!r}: use 'weights' or 'thresholds'")
    if neuron not in ("IF", "LIF"):
        raise ConversionError(f"neuron={neuron!r}: use 'IF' or 'LIF'")
    if not 0.0 <= v_init < 1.0:
        raise ConversionError(f"v_init={v_init}: must be in [0, 1)")
    if timesteps is not None:
        from spikeforge.convert.tune import tune_for_timesteps

        check_count(timesteps, "timesteps", high=MAX_TIMESTEPS, error=ConversionError)
        if calib is None:
            raise ConversionError(f"network {ann.name}: conversion for timesteps={timesteps} needs calibration data")
        calib = check_calibration_data(calib, ann)
        if scales is None:
            scales = activation_scales(ann, calib, statistic=statistic, per_channel=per_channel,
                                       batch_size=batch_size)
        return tune_for_timesteps(ann, calib, timesteps, scales=scales, options={
            "balance": balance, "neuron": neuron, "beta": beta, "v_init": v_init, "batch_size": batch_size})
    if scales is None:
        scales = activation_scales(ann, calib, statistic=statistic, per_channel=per_channel,
                                   batch_size=batch_size)

    def target(node: ir.Node) -> np.ndarray:
        owner = _owner_relu(ann, node.name)
        channels = ann.shape(node.name)[0]
        if owner is None or balance == "thresholds":
            return np.ones(channels)
        return scales[owner.name]

    def synaptic(node: ir.Node, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        out = target(node)
        s_in, s_out, s_bias = weight_scales(node, ann.shape(node.inputs[0]), ins[0], out)
        weight = (node.weight.astype(np.float64) * s_in / s_out).astype(np.float32)
        bias = None if node.bias is None else (node.bias / s_bias).astype(np.float32)
        return dataclasses.replace(node, weight=weight, bias=bias), out

    def neurons(node: ir.ReLU, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        lam = scales[node.name]
        threshold = lam / ins[0]
        if np.allclose(threshold, threshold[0]):  # one threshold for the whole layer
            threshold = threshold[0]
        threshold = np.asarray(threshold, np.float32)
        if neuron == "LIF":
            return ir.LIF(node.name, node.inputs, threshold=threshold, v_init=v_init, beta=beta), lam
        return ir.IF(node.name, node.inputs, threshold=threshold, v_init=v_init), lam

    def residual(node: ir.Add, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        out = target(node) if _owner_relu(ann, node.name) is not None else np.max(ins, axis=0)
        # the ANN's own gains g_i stay: sum of g_i s_i x'_i / out in the SNN's units
        given = node.gains or (None,) * len(ins)
        scaled = [s if g is None else s * np.asarray(g, np.float64) for s, g in zip(ins, given, strict=True)]
        gains = tuple(None if np.allclose(s, out) else (s / out).astype(np.float32) for s in scaled)
        return dataclasses.replace(node, gains=None if all(g is None for g in gains) else gains), out

    rules = {name: synaptic for name, cls in ir.NODE_TYPES.items() if cls.has_weights}
    rules |= {"Input": lambda node, ins: (node, np.ones(ann.shape(node.name)[0])), "ReLU": neurons,
              "Add": residual}
    nodes, _ = propagate_scales(ann, rules)
    return ir.Network(nodes, ann.outputs, ann.name)
