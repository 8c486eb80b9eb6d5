r"""Per-channel scales carried through a network layer by layer: the one walk shared by conversion,
bias calibration and quantisation.

Each of them relates every tensor of a network to another number system by a scale vector
:math:`s`, one value per channel: ANN activation = :math:`s` × SNN rate
(:func:`~spikeforge.convert.normalise.convert`, :func:`~spikeforge.convert.calibrate.infer_scales`),
float value = :math:`s` × integer value (:func:`~spikeforge.quantize.core.quantize`). They differ
in the layers that set a scale (inputs, synaptic layers, neurons, residual sums), given to
:func:`propagate_scales` as rules, and share the layers that only move values (:data:`CARRY`):
pooling and upsampling keep each channel's scale, a flatten repeats it per element, a
concatenation concatenates the scales of its parts.

Examples
--------
>>> import numpy as np
>>> from spikeforge.ir import network as ir
>>> net = ir.Network((ir.Input("x", (), (2, 2, 2)), ir.MaxPool2d("pool", ("x",)),
...                   ir.Flatten("flat", ("pool",))), ("flat",))
>>> _, scales = propagate_scales(net, {"Input": lambda node, ins: (node, np.array([1.0, 2.0]))})
>>> scales["flat"].tolist()
[1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from spikeforge.api import public
from spikeforge.errors import UnsupportedLayerError
from spikeforge.ir.network import NODE_TYPES, Network, Node, Shape

__all__ = ["CARRY", "Rule", "per_element", "propagate_scales", "weight_scales"]

#: A caller's rule for one layer type: ``rule(node, input_scales)`` returns the layer to keep in
#: the node's place (the node itself or a rewritten one) and the scale of its output.
Rule = Callable[[Node, list[np.ndarray]], tuple[Node, np.ndarray]]


@public
def per_element(scale: np.ndarray, shape: Shape) -> np.ndarray:
    """Per-channel values of a tensor of ``shape`` → one value per element (flattened, channel-major).

    Examples
    --------
    >>> per_element(np.array([1.0, 2.0]), (2, 1, 2)).tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    return np.repeat(scale, int(np.prod(shape[1:])) if len(shape) > 1 else 1)


def _same(net: Network, node: Node, ins: list[np.ndarray]) -> np.ndarray:
    return ins[0]


#: How each layer type that only moves values carries its inputs' scales, by type name (as
#: :data:`~spikeforge.ir.network.NODE_TYPES`): ``carry(net, node, input_scales)``.
CARRY: Mapping[str, Callable[[Network, Node, list[np.ndarray]], np.ndarray]] = {
    **{name: _same for name, cls in NODE_TYPES.items() if cls.keeps_scale},
    "Flatten": lambda net, node, ins: per_element(ins[0], net.shape(node.inputs[0])),
    "Concat": lambda net, node, ins: np.concatenate(ins),
}


@public
def propagate_scales(net: Network, rules: Mapping[str, Rule]) -> tuple[tuple[Node, ...], dict[str, np.ndarray]]:
    """Walk ``net`` in order, giving every layer's output a per-channel scale from its inputs' scales.

    Parameters
    ----------
    net : Network
    rules : mapping of layer type name to :data:`Rule`
        The caller's rules for the layer types that set a scale, by name as in
        :data:`~spikeforge.ir.network.NODE_TYPES` (a rule overrides :data:`CARRY`). Every other
        layer is kept as it is and carries its inputs' scales by :data:`CARRY`.

    Returns
    -------
    nodes : tuple of Node
        The layers the rules returned (the network's own where :data:`CARRY` applied), in order.
    scales : dict of str to array
        Per layer name, the scale of its output (one value per channel, or per element after a
        flatten).

    Raises
    ------
    UnsupportedLayerError
        A rule for a name that is no layer type, or a layer no rule covers and that does not only
        move values.
    """
    unknown = sorted(set(rules) - set(NODE_TYPES))
    if unknown:
        raise UnsupportedLayerError(f"propagate_scales: no layer types named {unknown}; "
                                    f"known: {', '.join(NODE_TYPES)}")
    nodes: list[Node] = []
    scales: dict[str, np.ndarray] = {}
    for node in net.nodes:
        ins = [scales[i] for i in node.inputs]
        kind = type(node).__name__
        if kind in rules:
            new, scales[node.name] = rules[kind](node, ins)
        else:
            carry = CARRY.get(kind)
            if carry is None:
                raise UnsupportedLayerError(f"layer {node.name} ({type(node).__name__}) of network {net.name}: "
                                            "no rule gives the scale of its output")
            new, scales[node.name] = node, carry(net, node, ins)
        nodes.append(new)
    return tuple(nodes), scales


@public
def weight_scales(node: Node, in_shape: Shape, s_in: np.ndarray,
                  s_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scales a layer with weights relates: of the input each weight reads and of the output it
    feeds (arrays broadcastable to ``node.weight``), and of the output of each bias entry.

    Parameters
    ----------
    node : Node
        A layer with ``has_weights`` (Linear, Conv2d, ConvTranspose2d, SparseLinear).
    in_shape : tuple of int
        Shape of its input.
    s_in, s_out : array
        Per-channel scales of its input and output.

    Examples
    --------
    >>> from spikeforge.ir import network as ir
    >>> fc = ir.Linear("fc", ("x",), np.ones((2, 3), np.float32))
    >>> a, b, c = weight_scales(fc, (3,), np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0]))
    >>> (a * b).tolist(), c.tolist()
    ([[10.0, 20.0, 30.0], [20.0, 40.0, 60.0]], [10.0, 20.0])
    """
    in_ch, out_ch, bias_ch = node.weight_channels(in_shape)
    return s_in[in_ch], s_out[out_ch], s_out[bias_ch]
