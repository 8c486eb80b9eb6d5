r"""Structured connectivity of the layers that are mapped onto hardware.

Only **neuron layers** (and non-spiking read-out outputs) occupy crossbar columns. Every
stateless layer between two neuron layers (convolution, pooling, residual sums,
concatenation, upsampling, flattening) is folded into one composite synaptic map from the
presynaptic neuron layer (or the network input) to the postsynaptic one: a crossbar holds the
composite synapses, e.g. an average pool followed by a 3×3 convolution becomes a 6×6 window.

A composite map is kept **separable**: the presynaptic set of neuron :math:`(c, y, x)` is the
product :math:`S_c(c) \times S_y(y) \times S_x(x)` of three per-axis sets, stored as three
small sparse boolean matrices (``channel``: :math:`C_{out} \times C_{in}`, ``rows``:
:math:`H_{out} \times H_{in}`, ``cols``: :math:`W_{out} \times W_{in}`). A ResNet-18 at 224×224
therefore never materialises a per-synapse list. Dense and sparse layers work on a flat view
of their source (``flat=True``: the channel matrix indexes the flattened source, the spatial
matrices are 1×1).

Examples
--------
>>> import numpy as np
>>> from spikeforge.ir import network as ir
>>> net = ir.Network((ir.Input("x", (), (1, 6, 6)),
...                   ir.Conv2d("c", ("x",), np.ones((2, 1, 3, 3), np.float32)),
...                   ir.IF("n", ("c",), threshold=np.float32(1))), outputs=("n",))
>>> [a.source for a in afferents(net, "n")], int(afferents(net, "n")[0].fan_in().max())
(['x'], 9)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from spikeforge.errors import UnsupportedLayerError
from spikeforge.ir import network as ir

__all__ = ["Afferent", "afferent_delays", "afferents", "axis_map", "mapped_layers", "shape3"]


def shape3(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """A layer shape as ``(C, H, W)``; vectors ``(F,)`` become ``(F, 1, 1)``."""
    if len(shape) == 3:
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    return (int(np.prod(shape)), 1, 1)


def _bool(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    m.data[:] = 1.0
    m.eliminate_zeros()
    return m


def _eye(n: int) -> sp.csr_matrix:
    return sp.identity(n, dtype=np.float32, format="csr")


def axis_map(n_out: int, n_in: int, k: int, stride: int, pad: int, dil: int, transposed: bool = False) -> sp.csr_matrix:
    """Per-axis boolean map of a convolution (or pooling) window: ``M[o, i] = 1`` if input ``i`` feeds ``o``.

    Padding taps (outside the input) are excluded. ``transposed`` gives the map of a transposed
    convolution (input ``i`` feeds output ``i·stride − pad + j·dil``).

    Raises
    ------
    spikeforge.errors.ArgumentError
        A size below its least value (``n_out``, ``n_in``, ``pad`` ≥ 0; ``k``, ``stride``,
        ``dil`` ≥ 1) or not an integer.
    spikeforge.errors.ResourceError
        The window's index arrays (``n × k``) do not fit in memory.
    """
    from spikeforge.resources import check_count, check_memory

    for name, value, low in (("n_out", n_out, 0), ("n_in", n_in, 0), ("k", k, 1),
                             ("stride", stride, 1), ("pad", pad, 0), ("dil", dil, 1)):
        check_count(value, f"axis_map: {name}", low=low)
    taps = (n_in if transposed else n_out) * k
    check_memory(taps * 40, f"axis_map: {taps:,} window taps ({n_out:,} outputs × {k:,})")
    if not transposed:
        o = np.repeat(np.arange(n_out), k)
        i = o * stride - pad + np.tile(np.arange(k), n_out) * dil
    else:
        i = np.repeat(np.arange(n_in), k)
        o = i * stride - pad + np.tile(np.arange(k), n_in) * dil
    ok = (i >= 0) & (i < n_in) & (o >= 0) & (o < n_out)
    return _bool(sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (o[ok], i[ok])), shape=(n_out, n_in)))


@dataclass(frozen=True, eq=False)
class Afferent:
    """Composite synapses from one presynaptic layer ``source`` into a mapped layer.

    Attributes
    ----------
    source : str
        A neuron layer or the network input.
    flat : bool
        ``channel`` indexes the flattened source (``C·H·W``); ``rows``/``cols`` are 1×1.
    channel, rows, cols : scipy.sparse.csr_matrix
        Per-axis boolean maps (entries 1.0), output index × source index.
    exact : bool
        False when several paths from the same source were merged per axis (a superset).
    """

    source: str
    flat: bool
    channel: sp.csr_matrix
    rows: sp.csr_matrix
    cols: sp.csr_matrix
    exact: bool = True

    def fan_in(self) -> np.ndarray:
        """Presynaptic neurons per postsynaptic neuron, shape (C, H, W) of the mapped layer."""
        fc = np.diff(self.channel.indptr)
        fh = np.diff(self.rows.indptr)
        fw = np.diff(self.cols.indptr)
        return fc[:, None, None] * fh[None, :, None] * fw[None, None, :]

    def synapses(self) -> int:
        """Total synapses (exact for a product map)."""
        return int(self.channel.nnz) * int(self.rows.nnz) * int(self.cols.nnz)


def mapped_layers(net: ir.Network) -> list[str]:
    """Layers that hold neurons on hardware: neuron layers, then non-spiking outputs (read-out).

    Examples
    --------
    >>> import numpy as np
    >>> from spikeforge.ir import network as ir
    >>> net = ir.Network((ir.Input("x", (), (4,)),
    ...                   ir.Linear("fc", ("x",), np.ones((3, 4), np.float32)),
    ...                   ir.IF("n", ("fc",), threshold=np.float32(1)),
    ...                   ir.Linear("out", ("n",), np.ones((2, 3), np.float32))), outputs=("out",))
    >>> mapped_layers(net)
    ['n', 'out']
    """
    names = [n.name for n in net.nodes if n.is_neuron]
    for out in net.outputs:
        if out not in names and not isinstance(net.node(out), ir.Input):
            names.append(out)
    return names


_Map = tuple[str, bool, sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, bool]


def _flatten_map(m: _Map) -> _Map:
    src, flat, c, h, w, exact = m
    if flat or (h.shape == (1, 1) and w.shape == (1, 1)):
        return (src, True, c, h, w, exact)
    k = _bool(sp.kron(c, sp.kron(h, w, format="csr"), format="csr"))
    one = _eye(1)
    return (src, True, k, one, one, exact)


def _compose(local: tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix], maps: list[_Map]) -> list[_Map]:
    lc, lh, lw = local
    return [(s, f, _bool(lc @ c), _bool(lh @ h), _bool(lw @ w), e) for s, f, c, h, w, e in maps]


def _merge(maps: list[_Map]) -> list[_Map]:
    """Merge maps from the same source (several paths): OR per axis (a superset unless flat)."""
    out: dict[str, _Map] = {}
    for m in maps:
        if m[0] not in out:
            out[m[0]] = m
            continue
        a, b = out[m[0]], m
        if a[1] != b[1]:
            a, b = _flatten_map(a), _flatten_map(b)
        exact = a[1] and b[1] and a[5] and b[5]
        out[m[0]] = (a[0], a[1], _bool(a[2] + b[2]), _bool(a[3] + b[3]), _bool(a[4] + b[4]), exact)
    return list(out.values())


def _channel_map(node: ir.Node, in_shape: ir.Shape, channels: int) -> sp.csr_matrix:
    """Which input channels feed each output channel of a convolution (its groups)."""
    in_ch, out_ch, _ = node.weight_channels(in_shape)
    pairs = np.broadcast_shapes(in_ch.shape, out_ch.shape)
    rows, cols = np.broadcast_to(out_ch, pairs).ravel(), np.broadcast_to(in_ch, pairs).ravel()
    return _bool(sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(channels, in_shape[0])))


def _conv(net: ir.Network, node: ir.Node, memo: dict) -> list[_Map]:
    (C, H, W), src = shape3(net.shape(node.name)), shape3(net.shape(node.inputs[0]))
    k = node.weight.shape[2:]
    tr = isinstance(node, ir.ConvTranspose2d)
    lh = axis_map(H, src[1], k[0], node.stride[0], node.padding[0], node.dilation[0], tr)
    lw = axis_map(W, src[2], k[1], node.stride[1], node.padding[1], node.dilation[1], tr)
    return _compose((_channel_map(node, src, C), lh, lw), _maps(net, node.inputs[0], memo))


def _pool(net: ir.Network, node: ir.Node, memo: dict) -> list[_Map]:
    (C, H, W), src = shape3(net.shape(node.name)), shape3(net.shape(node.inputs[0]))
    lh = axis_map(H, src[1], node.kernel[0], node.stride[0], node.padding[0], 1)
    lw = axis_map(W, src[2], node.kernel[1], node.stride[1], node.padding[1], 1)
    return _compose((_eye(C), lh, lw), _maps(net, node.inputs[0], memo))


def _upsample(net: ir.Network, node: ir.Node, memo: dict) -> list[_Map]:
    (C, H, W), src = shape3(net.shape(node.name)), shape3(net.shape(node.inputs[0]))
    s = node.scale
    lh = _bool(sp.csr_matrix((np.ones(H, np.float32), (np.arange(H), np.arange(H) // s)), shape=(H, src[1])))
    lw = _bool(sp.csr_matrix((np.ones(W, np.float32), (np.arange(W), np.arange(W) // s)), shape=(W, src[2])))
    return _compose((_eye(C), lh, lw), _maps(net, node.inputs[0], memo))


def _concat(net: ir.Network, node: ir.Node, memo: dict) -> list[_Map]:
    C, H, W = shape3(net.shape(node.name))
    parts, offset = [], 0
    for i in node.inputs:
        c = shape3(net.shape(i))[0]
        sel = _bool(sp.csr_matrix((np.ones(c, np.float32), (offset + np.arange(c), np.arange(c))), shape=(C, c)))
        parts += _compose((sel, _eye(H), _eye(W)), _maps(net, i, memo))
        offset += c
    return _merge(parts)


def _flatten(net: ir.Network, node: ir.Node, memo: dict) -> list[_Map]:
    one = _eye(1)
    return [(s, True, c, one, one, e) for s, _, c, _, _, e in map(_flatten_map, _maps(net, node.inputs[0], memo))]


def _dense(net: ir.Network, node: ir.Node, memo: dict) -> list[_Map]:
    if isinstance(node, ir.Linear):  # zero weights are no synapses
        lc = _bool(sp.csr_matrix(node.weight != 0))
    else:
        n_in = int(np.prod(net.shape(node.inputs[0])))
        lc = _bool(sp.csr_matrix((np.ones(node.pre.size, np.float32), (node.post, node.pre)), shape=(node.n_out, n_in)))
    one = _eye(1)
    # A flat map, also into a SparseLinear with a (C, H, W) view of its outputs.
    return [(s, True, _bool(lc @ c), one, one, e) for s, _, c, _, _, e in map(_flatten_map, _maps(net, node.inputs[0], memo))]


#: The composite map through each stateless layer type, by name: ``local(net, node, memo)``.
_LOCAL: dict[str, Callable[[ir.Network, ir.Node, dict], list[_Map]]] = {
    "Conv2d": _conv,
    "ConvTranspose2d": _conv,
    "AvgPool2d": _pool,
    "MaxPool2d": _pool,
    "Upsample": _upsample,
    "ReLU": lambda net, node, memo: _maps(net, node.inputs[0], memo),
    # A delay is a wire whose spikes arrive ``steps`` timesteps later (an axon delay on hardware);
    # a recurrent loop through it is a connection like any other, from a neuron layer back to itself.
    "Delay": lambda net, node, memo: _maps(net, node.inputs[0], memo),
    "Add": lambda net, node, memo: _merge([m for i in node.inputs for m in _maps(net, i, memo)]),
    "Concat": _concat,
    "Flatten": _flatten,
    "Linear": _dense,
    "SparseLinear": _dense,
}


def _maps(net: ir.Network, name: str, memo: dict[str, list[_Map]]) -> list[_Map]:
    """Maps from the output of layer ``name`` back to the neuron layers/inputs feeding it."""
    if name in memo:
        if memo[name] is None:  # back on a path still being followed: a loop with no neuron on it
            raise UnsupportedLayerError(f"layer {name} ({type(net.node(name)).__name__}): a recurrent loop "
                                        f"without spiking neurons has no hardware mapping")
        return memo[name]
    memo[name] = None
    node = net.node(name)
    if node.is_neuron or isinstance(node, ir.Input):
        shape = shape3(net.shape(name))
        result = [(name, False, _eye(shape[0]), _eye(shape[1]), _eye(shape[2]), True)]
    else:
        local = _LOCAL.get(type(node).__name__)
        if local is None:
            raise UnsupportedLayerError(f"layer {name} ({type(node).__name__}): no hardware mapping for this layer")
        result = local(net, node, memo)
    memo[name] = result
    return result


def afferents(net: ir.Network, layer: str, memo: dict | None = None) -> list[Afferent]:
    """Composite synaptic maps into the mapped ``layer``, one per presynaptic layer.

    Parameters
    ----------
    net : Network
        An SNN (or an ANN, treating ReLU as neurons is not supported: convert first).
    layer : str
        A neuron layer, or a non-spiking output layer (read-out).
    memo : dict, optional
        Cache shared between calls on the same network.

    Returns
    -------
    list of Afferent

    Raises
    ------
    UnsupportedLayerError
        A layer on the path has no hardware mapping.
    InvalidNetworkError
        ``layer`` is not a layer of ``net``.
    """
    memo = {} if memo is None else memo
    node = net.node(layer)
    maps = _maps(net, node.inputs[0], memo) if node.is_neuron else _maps(net, layer, memo)
    _, out_h, out_w = shape3(net.shape(layer))
    result = []
    for s, f, c, h, w, e in maps:
        if f and (out_h, out_w) != (1, 1):  # a flat map into a (C, H, W) layer: flatten the outputs too
            raise UnsupportedLayerError(f"layer {layer}: dense synapses into a {net.shape(layer)} layer")
        result.append(Afferent(s, f, c, h, w, e))
    return result


def afferent_delays(net: ir.Network, layer: str) -> dict[str, int]:
    """The delay, in timesteps, of the connection from each presynaptic layer (as in
    :func:`afferents`) into the mapped ``layer``: the sum of the Delays' ``steps`` along the
    path, the least over several paths; 0 for a direct connection.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeforge.ir import network as ir
    >>> net = ir.Network((ir.Input("x", (), (2,)), ir.Delay("d", ("n",), steps=3, shape=(2,)),
    ...                   ir.Add("a", ("x", "d")), ir.IF("n", ("a",), threshold=np.float32(1))), ("n",))
    >>> afferent_delays(net, "n")
    {'x': 0, 'n': 3}
    """
    node = net.node(layer)
    best: dict[str, int] = {}
    # Least delay to each layer on the way back (Dijkstra; delays are ≥ 0 and neurons end a path).
    start = node.inputs[0] if node.is_neuron else layer
    queue, seen = [(0, start)], set()
    while queue:
        delay, name = heapq.heappop(queue)
        if name in seen:
            continue
        seen.add(name)
        here = net.node(name)
        if here.is_neuron or isinstance(here, ir.Input):
            best.setdefault(name, delay)
            continue
        step = here.steps if isinstance(here, ir.Delay) else 0
        for i in here.inputs:
            heapq.heappush(queue, (delay + step, i))
    return best
