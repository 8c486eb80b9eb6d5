r"""Post-conversion calibration of an SNN against its ANN on calibration data (binary spikes).

Layer-wise bias calibration after Li et al., "A Free Lunch From ANN: Towards Efficient,
Accurate Spiking Neural Networks Calibration" (ICML 2021). At a small number of timesteps
:math:`T` a converted SNN's firing rates drift from the ANN's activations (quantisation,
uneven spike arrival). Going through the neuron layers in order, each layer's mean firing
rate per channel is measured at :math:`T` on calibration data — with every earlier layer
already calibrated — and the bias of the synaptic layer feeding it is shifted so that the
mean rate matches the ANN's mean activation in the same units:

.. math::
    b'_c \leftarrow b'_c + \theta_c \left( \frac{\mathbb{E}[a_c]}{\lambda_c}
        - \mathbb{E}\!\left[\frac{1}{T}\sum_{t=1}^{T} s_{c,t}\right] \right)

where :math:`a_c` is the ANN activation of channel :math:`c`, :math:`\lambda_c` the scale
with which the conversion maps it to a rate (ANN value = :math:`\lambda_c` × rate), and
:math:`\theta_c` the neuron threshold (a rate shift of :math:`\Delta r` needs an extra input
of :math:`\theta_c \Delta r` per timestep). The scales are recovered from the two networks
themselves (ratios of ANN and SNN weights, and thresholds), so any normalisation or
balancing choice of :func:`~spikeforge.convert.normalise.convert` is supported.

The calibrated SNN is tuned for the timestep count it was calibrated at; evaluate it on data
disjoint from the calibration data.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from spikeforge.api import ArrayLike, public
from spikeforge.convert.normalise import check_calibration_data
from spikeforge.errors import ConversionError
from spikeforge.ir import network as ir
from spikeforge.ir.scales import propagate_scales
from spikeforge.resources import check_count
from spikeforge.sim.simulator import iterate_ann, simulate


def _abs_rows(weight: np.ndarray, node: ir.Node, s_in: np.ndarray) -> np.ndarray:
    """Per output channel: sum over synapses of |w| × input scale."""
    w = np.abs(weight.astype(np.float64))
    if isinstance(node, ir.Linear):
        return w @ s_in
    if isinstance(node, ir.Conv2d):
        out_ch, per_group = w.shape[:2]
        s = s_in.reshape(node.groups, 1, per_group)
        s = np.broadcast_to(s, (node.groups, out_ch // node.groups, per_group)).reshape(out_ch, per_group)
        return (w.sum((2, 3)) * s).sum(1)
    # ConvTranspose2d: weight (in, out/groups, kh, kw)
    g = node.groups
    w = w.sum((2, 3)).reshape(g, w.shape[0] // g, w.shape[1])  # (g, in/g, out/g)
    s = s_in.reshape(g, -1, 1)
    return (w * s).sum(1).reshape(-1)


def infer_scales(ann: ir.Network, snn: ir.Network) -> dict[str, np.ndarray]:
    r"""Per-channel scale :math:`s` of every tensor (ANN value = :math:`s` × SNN value) of a
    converted pair; for a neuron layer, :math:`s` maps its firing rate to the ANN activation.

    Raises
    ------
    ConversionError
        The networks do not correspond layer by layer, or a layer type is not supported
        (sparse synapse layers).
    UnsupportedLayerError
        ``snn`` has a layer that sets a scale and is none of input, synaptic layer, neuron
        layer or residual sum (a ReLU left unconverted).
    """
    names = {node.name for node in ann.nodes}
    missing = next((node.name for node in snn.nodes if node.name not in names), None)
    if missing is not None:
        raise ConversionError(f"layer {missing} of SNN {snn.name} has no counterpart in ANN {ann.name}")

    def synaptic(node: ir.Node, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        twin = ann.node(node.name)
        if type(twin) is not type(node) or twin.weight.shape != node.weight.shape:
            raise ConversionError(f"layer {node.name}: ANN {type(twin).__name__} {getattr(twin, 'weight', np.empty(0)).shape} "
                                  f"does not match SNN {type(node).__name__} {node.weight.shape}")
        num = _abs_rows(twin.weight, node, ins[0])
        den = _abs_rows(node.weight, node, np.ones_like(ins[0]))
        return node, np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)

    def sparse(node: ir.Node, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        raise ConversionError(f"layer {node.name}: bias calibration does not support SparseLinear layers")

    def neurons(node: ir.Node, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        twin = ann.node(node.name)
        if not isinstance(twin, ir.ReLU):
            raise ConversionError(f"layer {node.name}: SNN neuron layer, but ANN layer is {type(twin).__name__}")
        theta = np.broadcast_to(np.asarray(node.threshold, np.float64), (snn.shape(node.name)[0],))
        return node, theta * ins[0]

    def residual(node: ir.Add, ins: list[np.ndarray]) -> tuple[ir.Node, np.ndarray]:
        first = next((i for i, g in enumerate(node.gains or ()) if g is not None), None)
        return node, ins[0] if first is None else ins[first] / np.asarray(node.gains[first], np.float64)

    rules = {name: synaptic for name, cls in ir.NODE_TYPES.items() if cls.has_weights}
    rules |= {name: neurons for name, cls in ir.NODE_TYPES.items() if cls.is_neuron}
    rules |= {"Input": lambda node, ins: (node, np.ones(snn.shape(node.name)[0])), "SparseLinear": sparse,
              "Add": residual}
    return propagate_scales(snn, rules)[1]


def bias_source(net: ir.Network, name: str) -> tuple[ir.Node, np.ndarray] | None:
    """The synaptic layer whose bias reaches the output of layer ``name`` alone, through pooling
    and residual sums, and the per-channel factor by which a bias change reaches it (1 / the sum's
    gain for that input); None if there is none."""
    node = net.node(name)
    if not isinstance(node, ir.Add) and len(node.inputs) != 1:
        return None
    gains = node.gains if isinstance(node, ir.Add) and node.gains else (None,) * len(node.inputs)
    for inp, gain in zip(node.inputs, gains):
        prev = net.node(inp)
        g = np.broadcast_to(np.asarray(1.0 if gain is None else gain, np.float64), (net.shape(inp)[0],))
        if len(net.consumers(inp)) != 1 or not (g != 0).all():
            continue
        if prev.has_weights:  # never SparseLinear: infer_scales refused it
            return prev, 1.0 / g
        # A per-channel constant added before a scale-keeping layer reaches its output unchanged.
        if prev.keeps_scale or isinstance(prev, ir.Add):
            found = bias_source(net, inp)
            if found is not None:
                return found[0], found[1] / g
    return None


def _channel_mean(values: np.ndarray) -> np.ndarray:
    """(C, ...) → (C,)."""
    return values.reshape(values.shape[0], -1).mean(1)


@public(own_checks="timesteps passes")
def calibrate_biases(snn: ir.Network, ann: ir.Network, calib_x: ArrayLike, timesteps: int, *,
                     passes: int = 1, batch_size: int = 256) -> ir.Network:
    r"""Shift biases layer by layer so the SNN's mean firing rates at ``timesteps`` match the ANN.

    Parameters
    ----------
    snn : Network
        A converted SNN (IF/LIF neurons).
    ann : Network
        The ANN it was converted from (same layer names).
    calib_x : array (N, *input_shape)
        Calibration inputs (training data, never the test set).
    timesteps : int
        The T the SNN will run for; rates are measured over T timesteps.
    passes : int
        Sweeps over all layers (1, as in Li et al.; more refine the match of early layers).
    batch_size : int
        Simulation batch size.

    Returns
    -------
    Network
        A new SNN; only the biases of the synaptic layers feeding neuron layers differ. A neuron
        layer fed by a residual sum is calibrated through a synaptic input of the sum used by
        nothing else (the residual branch's last convolution), its shift divided by that input's
        gain; one fed through a concatenation is left as it is.

    Raises
    ------
    NotConvertedError
        ``snn`` has no spiking neurons, or still has ReLU layers.
    ConversionError
        ``ann`` is not an ANN, the networks do not correspond layer by layer, or
        ``timesteps``/``passes`` are not positive integers.
    InvalidDataError
        ``calib_x`` is empty, not finite, of the wrong shape, all zero, or one sample repeated
        (:func:`~spikeforge.convert.normalise.check_calibration_data`).

    Examples
    --------
    >>> net = ir.Network((ir.Input("x", (), (2,)),
    ...                   ir.Linear("fc", ("x",), np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)),
    ...                   ir.ReLU("act", ("fc",), clip=1.0)), ("act",))
    >>> from spikeforge.convert.normalise import convert
    >>> x = np.array([[0.2, 0.2], [0.2, 0.6]], np.float32)  # ANN mean rates 0.2 and 0.4
    >>> snn = calibrate_biases(convert(net), net, x, timesteps=4)  # SNN: 0.25 and (0.25 + 0.5) / 2
    >>> [round(float(b), 3) for b in snn.node("fc").bias]
    [-0.05, 0.025]
    """
    snn.require_snn("bias calibration")
    if ann.kind != "ann":
        raise ConversionError(f"network {ann.name} has spiking neurons; pass the ANN it was converted from")
    for what, value in (("timesteps", timesteps), ("passes", passes)):
        check_count(value, what, error=ConversionError)
    calib = torch.as_tensor(check_calibration_data(calib_x, ann))
    scales = infer_scales(ann, snn)
    neurons = [n.name for n in snn.nodes if n.is_neuron]
    # ANN mean activation per channel, expressed as a firing rate (activation / scale).
    sums = {name: np.zeros(snn.shape(name)[0]) for name in neurons}
    count = 0
    for batch in iterate_ann(ann, calib, record=neurons, batch_size=batch_size):
        for name in neurons:
            act = batch[name].double().numpy()
            sums[name] += np.moveaxis(act, 1, 0).reshape(act.shape[1], -1).sum(1)
        count += next(iter(batch.values())).shape[0]
    target = {name: sums[name] / (count * int(np.prod(snn.shape(name)[1:]))) / scales[name] for name in neurons}

    net = snn
    for _ in range(passes):
        for name in neurons:
            found = bias_source(net, name)
            if found is None:
                continue
            source, factor = found
            profile = simulate(net, calib, timesteps=int(timesteps), batch_size=batch_size).profile
            rate = _channel_mean(profile.rates(name))
            node = net.node(name)
            theta = np.broadcast_to(np.asarray(node.threshold, np.float64), rate.shape)
            shift = theta * (target[name] - rate) * factor
            bias = np.zeros(net.shape(source.name)[0]) if source.bias is None else source.bias.astype(np.float64)
            new = dataclasses.replace(source, bias=(bias + shift).astype(np.float32))
            net = ir.Network(tuple(new if n.name == source.name else n for n in net.nodes), net.outputs, net.name)
    return net
