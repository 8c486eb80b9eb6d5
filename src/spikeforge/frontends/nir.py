r"""NIR (Neuromorphic Intermediate Representation) in and out, on the ``nir`` package itself.

NIR is continuous-time; spikeforge steps time. Both directions discretise with forward Euler at an
explicit ``dt`` (seconds, default 1e-4, the NIR paper's convention), as snnTorch's and Norse's NIR
importers do. With :math:`g = \Delta t/\tau`:

=========  ======================================================================================
NIR node   spikeforge
=========  ======================================================================================
LIF        ``LIF``: :math:`\beta = 1 - g`, bias :math:`g\,v_\mathrm{leak}`, input gain :math:`g R`
CubaLIF    ``CubaLIF``: :math:`\alpha = 1 - \Delta t/\tau_\mathrm{syn}`,
           :math:`\beta = 1 - \Delta t/\tau_\mathrm{mem}`, bias :math:`(\Delta t/\tau_\mathrm{mem})
           v_\mathrm{leak}`, input gain :math:`(\Delta t\,w_\mathrm{in}/\tau_\mathrm{syn})
           (\Delta t R/\tau_\mathrm{mem})`
IF         ``IF``: input gain :math:`R` per step (no ``dt``: the NIR paper's converted CNN and
           sinabs integrate one input per step)
LI, I      ``LI`` (a read-out: no spikes, its output is its membrane): :math:`\beta = 1 - g`, bias
           :math:`g\,v_\mathrm{leak}`, input gain :math:`g R`; ``I``: :math:`\beta = 1`, gain
           :math:`R` per step (as IF)
CubaLI     ``CubaLI``: as CubaLIF without spikes
Threshold  ``Threshold`` (no memory): :math:`s_t = [I_t \ge \theta]`
Delay      ``Delay``: ``steps = delay/dt`` (an integer ≥ 1)
Affine…    ``Linear`` / ``Conv2d`` (Conv1d as a Conv2d of height 1), SumPool2d as an ``AvgPool2d``
           whose :math:`k^2` is folded into the next weights (else a depthwise ``Conv2d`` of ones),
           Scale as a per-channel gain
=========  ======================================================================================

Input gains and Scale nodes are folded into the preceding weights where that is exact, else kept
as ``Add`` gains or a depthwise 1×1 ``Conv2d`` / diagonal ``Linear`` (``frontends/torch_fx.py``'s
affine layer). Several edges into one node become an ``Add``; a cycle without a NIR Delay is
recurrence with a one-step ``Delay`` on its back edge. Membrane potentials keep NIR's units, so the
threshold is ``v_threshold``. The reset policy is explicit: ``reset="nir"`` resets to NIR's
``v_reset``; ``reset="subtract"`` subtracts the threshold (graphs from frameworks that reset by
subtraction, such as sinabs, whose export cannot say so).

Files are checked before anything is read into memory: every HDF5 dataset's declared shape and
dtype (h5py metadata), the total against :func:`~spikeforge.resources.check_memory`.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from spikeforge.api import public
from spikeforge.errors import (
    InvalidNetworkError,
    ModelFileError,
    ShapeError,
    UnsupportedLayerError,
)
from spikeforge.ir import network as ir
from spikeforge.resources import check_input_file, check_memory

__all__ = ["DEFAULT_DT", "NIRExportWarning", "from_nir", "read_nir", "to_nir", "write_nir"]

#: The timestep of the NIR paper's experiments, in seconds.
DEFAULT_DT = 1e-4
#: Largest .nir file read (bytes); the datasets' declared sizes are checked against memory too.
MAX_FILE_BYTES = 2 << 30
#: Deepest nesting of NIR subgraphs read.
MAX_DEPTH = 32
#: Dataset dtype kinds a NIR file holds: numbers, byte strings (types, edges), variable strings.
_DTYPE_KINDS = "iufbSO"

Reset = Literal["nir", "subtract"]


class NIRExportWarning(UserWarning):
    """A NIR export cannot say exactly what spikeforge computes (reset by subtraction, a non-zero
    initial potential); the file is written with NIR's nearest meaning."""


# -- reading ---------------------------------------------------------------------------------------

def _check_hdf5(path: Path) -> None:
    """Refuse a file whose datasets' declared shapes or dtypes are not a NIR graph's, before reading
    any data."""
    import h5py

    total = 0
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ModelFileError(f"{path}: not a NIR (HDF5) file ({str(exc).splitlines()[0][:80]})") from None
    with f:
        if "node" not in f or not isinstance(f["node"], h5py.Group):
            raise ModelFileError(f"{path}: not a NIR file (no 'node' group)")
        stack: list[tuple[str, Any, int]] = [("node", f["node"], 0)]
        while stack:
            where, group, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ModelFileError(f"{path}: {where}: subgraphs nested more than {MAX_DEPTH} deep")
            for key in group:
                item = group.get(key, getlink=False)
                name = f"{where}/{key}"
                if isinstance(item, h5py.Group):
                    stack.append((name, item, depth + 1))
                    continue
                if not isinstance(item, h5py.Dataset):
                    raise ModelFileError(f"{path}: {name} is neither a group nor a dataset")
                dt = item.dtype
                if dt.kind not in _DTYPE_KINDS or dt.fields is not None or dt.subdtype is not None:
                    raise ModelFileError(f"{path}: {name} has dtype {dt}, not numbers or strings")
                shape = item.shape
                if shape is None:
                    continue  # an empty (null) dataset holds nothing
                count = math.prod(shape)
                if dt.kind == "O" and count > 1 << 20:
                    raise ModelFileError(f"{path}: {name} declares {count:,} strings")
                total += count * max(dt.itemsize, 8)  # read as float64 / object at worst
    check_memory(2 * total, f"{path}: NIR datasets of {total:,} bytes")


def _read_graph(path: Path) -> Any:
    import nir

    _check_hdf5(path)
    try:
        # nir's shape inference divides by strides it has not checked: its warnings are not the
        # user's (spikeforge checks every parameter itself and errs in one line)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                return nir.read(path)
            except Exception:  # noqa: BLE001 - nir's type inference; spikeforge checks shapes itself
                return nir.read(path, type_check=False)
    except Exception as exc:  # noqa: BLE001 - the nir package raises anything on a malformed graph
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a NIR graph the nir package reads ({type(exc).__name__}: {first})") \
            from None


def _array(value: Any, where: str) -> np.ndarray:
    """A NIR parameter as a finite float64 array."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidNetworkError(f"{where}: {type(value).__name__} is not an array of numbers") from None
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise InvalidNetworkError(f"{where}: {bad} of {arr.size} values are NaN or Inf")
    return arr


def _declared(node: Any, which: str) -> tuple[int, ...] | None:
    """The shape a NIR node declares for its input or output, if any."""
    types = getattr(node, f"{which}_type", None)
    if not isinstance(types, Mapping) or len(types) != 1:
        return None
    (shape,) = types.values()
    if shape is None:
        return None
    arr = np.asarray(shape).ravel()
    if arr.size == 0 or arr.dtype.kind not in "iuf" or not np.all(arr == np.round(arr)) or (arr <= 0).any():
        return None
    return tuple(int(s) for s in arr)


def _ir_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """NIR's (C, N) (Conv1d) as spikeforge's (C, 1, N)."""
    return (shape[0], 1, shape[1]) if len(shape) == 2 else shape


def _flatten(graph: Any, prefix: str = "", depth: int = 0) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges of ``graph`` with nested subgraphs inlined under prefixed names
    (``sub.node``). A subgraph's own Input and Output nodes stay, as wires: edges into the
    subgraph go to its Input nodes, edges out of it leave from its Output nodes."""
    import nir

    if depth > MAX_DEPTH:
        raise ModelFileError(f"NIR graph: subgraphs nested more than {MAX_DEPTH} deep")
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    ends: dict[str, tuple[list[str], list[str]]] = {}  # subgraph -> (its Input nodes, its Output nodes)
    for key, node in graph.nodes.items():
        name = f"{prefix}{key}"
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, f"{name}.", depth + 1)
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            ends[name] = ([f"{name}.{k}" for k, n in node.nodes.items() if isinstance(n, nir.Input)],
                          [f"{name}.{k}" for k, n in node.nodes.items() if isinstance(n, nir.Output)])
        else:
            nodes[name] = node

    def resolve(ref: object, side: int) -> list[str]:
        full = f"{prefix}{ref}"
        if full in ends:
            return ends[full][side]
        if full in nodes:
            return [full]
        raise InvalidNetworkError(f"NIR graph: edge {'to' if side == 0 else 'from'} {full!r}: no such node")

    for src, dst in graph.edges:
        edges.extend((a, b) for a in resolve(src, 1) for b in resolve(dst, 0))
    return nodes, edges


_WEIGHTED = ("Affine", "Linear", "Conv1d", "Conv2d")
#: Nodes read as a layer of neurons; the last four do not spike (read-outs) or keep no membrane.
_NEURONS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "I", "Threshold")
_WIRES = ("Input", "Output")
_OTHERS = ("Scale", "SumPool2d", "AvgPool2d", "Flatten", "Delay")
#: Nodes whose time constants are in seconds (they need dt).
_TIMED = ("LIF", "CubaLIF", "LI", "CubaLI", "Delay")


def _compress(arr: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """A NIR parameter for a layer of IR ``shape``: a scalar if uniform, else one value per channel
    if constant over the rest, else an array of ``shape``."""
    if arr.size == 1:
        return arr.reshape(())
    if arr.size == math.prod(shape):
        full = arr.reshape(shape)
    elif arr.shape == (shape[0],) or arr.size == shape[0]:
        full = np.broadcast_to(arr.reshape((shape[0],) + (1,) * (len(shape) - 1)), shape)
    else:
        raise ShapeError(f"{where}: shape {arr.shape} fits neither the layer's shape {shape} nor its channels")
    if np.all(full == full.flat[0]):
        return np.asarray(full.flat[0])
    per_channel = full.reshape(shape[0], -1)
    if np.all(per_channel == per_channel[:, :1]):
        return per_channel[:, 0].copy()
    return np.array(full)


def _uniform(arr: np.ndarray, where: str) -> float:
    """A parameter spikeforge keeps as one number per layer (the reset fraction, a delay)."""
    if arr.size and np.ptp(arr) <= 1e-6 * max(1.0, float(np.abs(arr).max())):
        return float(arr.ravel()[0])
    raise UnsupportedLayerError(f"{where}: values from {float(arr.min()):g} to {float(arr.max()):g}; "
                                "spikeforge keeps one value per layer")


def _decay(tau: np.ndarray, dt: float, where: str) -> np.ndarray:
    r""":math:`1 - \Delta t/\tau`, which forward Euler needs in (0, 1]: one number when the time
    constants agree (to float32 rounding), else one per element (compressed with the layer's shape)."""
    if (tau <= 0).any():
        raise InvalidNetworkError(f"{where}: time constant {float(tau.min()):g} s must be > 0")
    factor = 1.0 - dt / np.asarray(tau, np.float64)
    if not ((factor > 0.0) & (factor <= 1.0)).all():
        raise InvalidNetworkError(f"{where}: dt = {dt:g} s is not below the time constant {float(tau.min()):g} s "
                                  "(forward Euler needs dt < tau); give a smaller dt")
    if np.ptp(factor) <= 1e-6 * float(np.abs(factor).max()):
        return np.asarray(factor.ravel()[0])
    return factor


def _pair(value: Any, where: str, default: int) -> tuple[int, int]:
    arr = np.asarray(default if value is None else value).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or arr.dtype.kind not in "iuf" or not np.all(arr == np.round(arr)):
        raise InvalidNetworkError(f"{where}: {value!r} is not an integer or a pair of integers")
    return int(arr[0]), int(arr[1])


def _scale_out(node: ir.Node, gain: np.ndarray) -> ir.Node:
    """``node`` (Linear or Conv2d) with its outputs multiplied by ``gain`` (scalar or per channel)."""
    g = np.asarray(gain, np.float64)
    w = node.weight.astype(np.float64) * (g.reshape((-1,) + (1,) * (node.weight.ndim - 1)) if g.ndim else g)
    b = None if node.bias is None else (node.bias.astype(np.float64) * g).astype(np.float32)
    return dataclasses.replace(node, weight=w.astype(np.float32), bias=b)


class _Reader:
    """One NIR graph to one :class:`~spikeforge.ir.network.Network` (see the module docstring)."""

    def __init__(self, graph: Any, dt: float | None, reset: str, name: str):
        import nir

        self.dt, self.reset, self.name = dt, reset, name
        self.nodes, edges = _flatten(graph)
        self.edges = list(dict.fromkeys((str(a), str(b)) for a, b in edges))  # an edge listed twice is one edge
        self.types = {n: type(v).__name__ for n, v in self.nodes.items()}
        self.top_inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
        self.top_outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
        self.preds: dict[str, list[str]] = {n: [] for n in self.nodes}
        for a, b in self.edges:
            self.preds[b].append(a)
        self.out_degree = Counter(a for a, _ in self.edges)
        self.layers: dict[str, ir.Node] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.alias: dict[str, str] = {}  # NIR node -> the IR layer giving its output
        self.pending: dict[str, np.ndarray] = {}  # gains for weighted layers not built yet
        self.post_gain: dict[str, float] = {}  # AvgPool2d layers standing for a SumPool2d: k²
        self.delays: dict[tuple[str, str], str] = {}  # cut edge -> its Delay layer

    # -- structure ---------------------------------------------------------------------------
    def check(self) -> None:
        for n, t in self.types.items():
            if t not in _WEIGHTED + _NEURONS + _WIRES + _OTHERS:
                raise UnsupportedLayerError(f"NIR node {n!r}: type {t} is not supported")
        if len(self.top_inputs) != 1:
            raise UnsupportedLayerError(f"NIR graph: {len(self.top_inputs)} Input nodes "
                                        f"({', '.join(self.top_inputs) or 'none'}); spikeforge reads exactly one")
        if not self.top_outputs:
            raise InvalidNetworkError("NIR graph: no Output node")
        timed = sorted(n for n, t in self.types.items() if t in _TIMED)
        if timed and self.dt is None:
            raise InvalidNetworkError(f"NIR graph: node {timed[0]!r} ({self.types[timed[0]]}) has time constants "
                                      "in seconds; give dt (the timestep in seconds)")
        for n, t in self.types.items():
            if t == "Input" and n not in self.top_inputs and not self.preds[n] and "." not in n:
                raise InvalidNetworkError(f"NIR node {n!r} (Input) is not the graph's input")
            if t != "Input" and not self.preds[n]:
                raise InvalidNetworkError(f"NIR node {n!r} ({t}): no incoming edge")

    def order(self) -> list[str]:
        """Topological order; recurrence cut at NIR Delay nodes, else on the edges leaving a neuron
        inside each cycle (a one-step Delay there), else on DFS back edges."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        g.add_edges_from((a, b) for a, b in self.edges if self.types[b] != "Delay")
        for comp in nx.strongly_connected_components(g):
            if len(comp) < 2 and not any(g.has_edge(n, n) for n in comp):
                continue
            for a, b in [(a, b) for a, b in g.edges(comp) if b in comp and self.types[a] in _NEURONS]:
                g.remove_edge(a, b)
                self.delays[(a, b)] = ""
        while True:
            try:
                cycle = nx.find_cycle(g)
            except nx.NetworkXNoCycle:
                break
            a, b = cycle[-1][:2]
            g.remove_edge(a, b)
            self.delays[(a, b)] = ""
        return list(nx.topological_sort(g))

    # -- layers --------------------------------------------------------------------------------
    def add(self, node: ir.Node) -> str:
        self.shapes[node.name] = node.output_shape([self.shapes[i] for i in node.inputs])
        self.layers[node.name] = node
        return node.name

    def source(self, pred: str, consumer: str) -> str:
        """The IR layer carrying ``pred``'s output into ``consumer`` (its Delay on a cut edge)."""
        if (pred, consumer) not in self.delays:
            return self.alias[pred]
        if not self.delays[(pred, consumer)]:
            shape = _declared(self.nodes[pred], "output") or _declared(self.nodes[consumer], "input")
            if shape is None:
                raise ShapeError(f"NIR graph: recurrent edge {pred} → {consumer}: neither node declares its shape")
            name = self.unique(f"{pred}.delay")
            self.layers[name] = ir.Delay(name, (pred,), 1, _ir_shape(shape))  # input renamed at the end
            self.shapes[name] = _ir_shape(shape)
            self.delays[(pred, consumer)] = name
        return self.delays[(pred, consumer)]

    def unique(self, name: str) -> str:
        while name in self.layers or name in self.nodes:
            name += "_"
        return name

    def summed(self, name: str, gains: list[np.ndarray | None] | None = None) -> str:
        """The IR layer holding the sum of ``name``'s incoming edges (an Add of several)."""
        srcs = [self.source(p, name) for p in self.preds[name]]
        if len(srcs) == 1 and not (gains and gains[0] is not None):
            return srcs[0]
        if len(srcs) == 1:
            return self.gain_layer(f"{name}.gain", srcs[0], gains[0])
        use = None if gains is None or all(g is None for g in gains) else tuple(gains)
        return self.add(ir.Add(self.unique(f"{name}.sum"), tuple(srcs), use))

    def gain_layer(self, name: str, src: str, gain: np.ndarray) -> str:
        """A per-channel gain kept as a layer (torch_fx's depthwise 1×1 Conv2d / diagonal Linear)."""
        from spikeforge.frontends.torch_fx import _Affine, _affine_layer

        shape = self.shapes[src]
        if gain.ndim > 1:
            raise UnsupportedLayerError(f"NIR node {name}: a gain that varies within a channel cannot be a layer "
                                        f"of spikeforge (input shape {shape})")
        scale = np.broadcast_to(np.asarray(gain, np.float64), (shape[0],)).copy()
        return self.add(_affine_layer(_Affine(self.unique(name), (src,), scale, np.zeros_like(scale)), shape))

    def producer(self, name: str) -> str:
        """``name``, or through the subgraph wires (inner Input/Output nodes) feeding it alone, the
        node producing its value."""
        while self.types[name] in _WIRES and name not in self.top_inputs and len(self.preds[name]) == 1 \
                and self.out_degree[self.preds[name][0]] == 1:
            name = self.preds[name][0]
        return name

    def fold_gain(self, name: str, gain: np.ndarray) -> None:
        """Multiply ``name``'s input current by ``gain``: into the weights of each incoming
        Affine/Linear/Conv feeding only it, else as an Add gain or a gain layer."""
        gains: list[np.ndarray | None] = []
        for p in map(self.producer, self.preds[name]):
            t = self.types[p]
            if t in _WEIGHTED and self.out_degree[p] == 1 and gain.ndim <= 1:
                if p in self.layers:
                    self.layers[p] = _scale_out(self.layers[p], gain)
                else:
                    self.pending[p] = gain
                gains.append(None)
            else:
                gains.append(gain)
        if all(g is None for g in gains) or np.all(gain == 1.0):
            self.alias[f"{name}\0in"] = self.summed(name)
            return
        if len(gains) > 1 and gain.ndim > 1:
            raise UnsupportedLayerError(f"NIR node {name}: an input gain that varies within a channel on a sum of "
                                        f"{len(gains)} inputs")
        self.alias[f"{name}\0in"] = self.summed(name, gains)

    def neuron(self, name: str, node: Any) -> None:
        where = f"NIR node {name!r} ({self.types[name]})"
        src_shape = _declared(node, "input")
        params = {f: _array(getattr(node, f), f"{where}.{f}")
                  for f in ("r", "tau", "tau_mem", "tau_syn", "v_leak", "v_threshold", "v_reset", "w_in", "threshold")
                  if getattr(node, f, None) is not None}
        dt = self.dt
        t = self.types[name]
        if t in ("IF", "I"):
            gain, bias, extra = params["r"], None, {}
        elif t == "Threshold":  # memoryless: its reset changes nothing
            gain, bias, extra = np.ones(1), None, {}
            params |= {"v_threshold": params.pop("threshold"), "v_reset": np.zeros(1)}
        elif t in ("LIF", "LI"):
            g = dt / params["tau"]
            extra = {"beta": _decay(params["tau"], dt, f"{where}.tau")}
            gain, bias = g * params["r"], g * params["v_leak"]
        else:
            gs, gm = dt / params["tau_syn"], dt / params["tau_mem"]
            extra = {"alpha": _decay(params["tau_syn"], dt, f"{where}.tau_syn"),
                     "beta": _decay(params["tau_mem"], dt, f"{where}.tau_mem")}
            gain = gs * params.get("w_in", np.ones(1)) * gm * params["r"]
            bias = gm * params["v_leak"]
        # the layer's shape: from the sum of its inputs (built below), so the gains go first
        probe = self.preds[name]
        first = self.source(probe[0], name)
        shape = self.shapes[first]
        if src_shape is not None and _ir_shape(src_shape) != shape:
            raise ShapeError(f"{where}: declares input {src_shape}, the graph gives {shape}")
        self.fold_gain(name, _compress(gain, shape, f"{where} input gain"))
        extra = {k: _compress(v, shape, f"{where}.{k}") for k, v in extra.items()}  # per channel or neuron
        inp = self.alias.pop(f"{name}\0in")
        if t in ("LI", "CubaLI", "I"):  # read-outs: no threshold, no reset, start at 0
            fields = extra | {"bias": _compress(bias if bias is not None else np.zeros(1), shape,
                                                f"{where} bias").astype(np.float32)}
            self.alias[name] = self.add((ir.CubaLI if t == "CubaLI" else ir.LI)(name, (inp,), **fields))
            return
        field = "threshold" if t == "Threshold" else "v_threshold"
        theta = _compress(params["v_threshold"], shape, f"{where}.{field}")
        if (theta <= 0).any():
            raise InvalidNetworkError(f"{where}.{field}: {float(theta.min()):g} must be > 0")
        v_reset = None
        if self.reset == "nir":
            reset = params.get("v_reset", np.zeros(1))
            v_reset = _uniform(np.broadcast_to(_compress(reset, shape, f"{where}.v_reset"), shape)
                               / np.broadcast_to(theta, shape), f"{where}.v_reset / v_threshold")
        fields: dict[str, Any] = dict(threshold=theta.astype(np.float32), v_init=0.0, v_reset=v_reset, **extra)
        if bias is not None:
            fields["bias"] = _compress(bias, shape, f"{where} bias").astype(np.float32)
        cls = {"IF": ir.IF, "LIF": ir.LIF, "Threshold": ir.Threshold, "CubaLIF": ir.CubaLIF}[t]
        self.alias[name] = self.add(cls(name, (inp,), **fields))

    def weighted(self, name: str, node: Any) -> None:
        t, where = self.types[name], f"NIR node {name!r} ({self.types[name]})"
        inp = self.summed(name)
        if self.post_gain.get(self.through_flatten(inp)) and self.out_degree[self.preds[name][0]] == 1 \
                and len(self.preds[name]) == 1:
            k2 = self.post_gain.pop(self.through_flatten(inp))
        else:
            k2 = 1.0
        weight = _array(node.weight, f"{where}.weight") * k2
        bias = _array(node.bias, f"{where}.bias") if getattr(node, "bias", None) is not None else None
        if t in ("Affine", "Linear"):
            if weight.ndim != 2:
                raise ShapeError(f"{where}.weight: shape {weight.shape} is not (out, in)")
            if bias is not None:
                bias = np.broadcast_to(bias, (weight.shape[0],)) if bias.size in (1, weight.shape[0]) else bias
            layer: ir.Node = ir.Linear(name, (inp,), weight.astype(np.float32),
                                       None if bias is None else np.asarray(bias, np.float32))
        else:
            if t == "Conv1d":
                if weight.ndim != 3:
                    raise ShapeError(f"{where}.weight: shape {weight.shape} is not (out, in/groups, k)")
                weight = weight[:, :, None, :]
            elif weight.ndim != 4:
                raise ShapeError(f"{where}.weight: shape {weight.shape} is not (out, in/groups, kh, kw)")
            conv = {}
            for f, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
                value = getattr(node, f, None)
                if isinstance(value, (str, bytes)):
                    value = value.decode() if isinstance(value, bytes) else value
                    if value != "valid":
                        raise UnsupportedLayerError(f"{where}.{f}: {value!r} padding; give explicit padding")
                    value = 0
                if t == "Conv1d":
                    (v,) = np.asarray(default if value is None else value).ravel()[:1]
                    conv[f] = ((1 if f != "padding" else 0), int(v))
                else:
                    conv[f] = _pair(value, f"{where}.{f}", default)
            raw_groups = getattr(node, "groups", None)
            groups = 1 if raw_groups is None else int(np.asarray(raw_groups).ravel()[0])
            if groups < 1:
                raise ShapeError(f"{where}.groups = {groups}: must be ≥ 1")
            if bias is not None and bias.size == 1:
                bias = np.full(weight.shape[0], float(bias.ravel()[0]))
            declared = getattr(node, "input_shape", None)
            in_shape = self.shapes[inp]
            if declared is not None and np.size(declared):
                want = tuple(int(v) for v in np.asarray(declared).ravel())
                have = in_shape[1:] if t == "Conv2d" else in_shape[2:]
                if want != tuple(have):
                    raise ShapeError(f"{where}: declares input size {want}, the graph gives {tuple(have)}")
            layer = ir.Conv2d(name, (inp,), weight.astype(np.float32),
                              None if bias is None else np.asarray(bias, np.float32), groups=groups, **conv)
        if name in self.pending:
            layer = _scale_out(layer, self.pending.pop(name))
        self.alias[name] = self.add(layer)

    def through_flatten(self, name: str) -> str:
        node = self.layers.get(name)
        return node.inputs[0] if isinstance(node, ir.Flatten) else name

    def other(self, name: str, node: Any) -> None:
        t, where = self.types[name], f"NIR node {name!r} ({self.types[name]})"
        if t in _WIRES:
            if name in self.top_inputs:
                shape = _declared(node, "output") or _declared(node, "input")
                if shape is None:
                    raise ShapeError(f"{where}: no input shape declared")
                self.alias[name] = self.add(ir.Input(name, (), _ir_shape(shape), temporal=True))
            else:
                self.alias[name] = self.summed(name)
            return
        inp = self.summed(name)
        shape = self.shapes[inp]
        if t == "Scale":
            scale = _compress(_array(node.scale, f"{where}.scale"), shape, f"{where}.scale")
            (p,) = map(self.producer, self.preds[name]) if len(self.preds[name]) == 1 else (None,)
            if p is not None and self.types[p] in _WEIGHTED and self.out_degree[p] == 1 and scale.ndim <= 1 \
                    and p in self.layers:
                self.layers[p] = _scale_out(self.layers[p], scale)
                self.alias[name] = inp
            else:
                self.alias[name] = self.gain_layer(name, inp, scale)
        elif t in ("SumPool2d", "AvgPool2d"):
            kernel = _pair(node.kernel_size, f"{where}.kernel_size", 1)
            pool = ir.AvgPool2d(name, (inp,), kernel, _pair(node.stride, f"{where}.stride", 1),
                                _pair(node.padding, f"{where}.padding", 0))
            self.alias[name] = self.add(pool)
            if t == "SumPool2d":
                self.post_gain[name] = float(kernel[0] * kernel[1])
        elif t == "Flatten":
            declared = _declared(node, "output")
            start = int(np.asarray(node.start_dim).ravel()[0])
            end = int(np.asarray(node.end_dim).ravel()[0])
            last = {-1, len(shape) - 1} | ({1} if len(shape) == 3 and shape[1] == 1 else set())  # (C, 1, N): Conv1d's
            whole = start == 0 and end in last
            if not (whole or (declared is not None and len(declared) == 1 and declared[0] == math.prod(shape))):
                raise UnsupportedLayerError(f"{where}: flattens dimensions {start}..{end} of {shape}; spikeforge "
                                            "flattens a whole feature map into a vector")
            self.alias[name] = self.add(ir.Flatten(name, (inp,))) if len(shape) > 1 else inp
        else:  # Delay
            self.alias[name] = self.add(ir.Delay(name, (inp,), self.steps(name, node), shape))

    def network(self) -> ir.Network:
        self.check()
        for name in self.order():
            node, t = self.nodes[name], self.types[name]
            if name in self.alias:
                continue
            if t in _NEURONS:
                self.neuron(name, node)
            elif t in _WEIGHTED:
                self.weighted(name, node)
            elif t == "Delay" and any(p not in self.alias for p in self.preds[name]):
                self.delay_back(name, node)
            else:
                self.other(name, node)
        for name in self.post_gain:  # a SumPool2d not folded: a depthwise Conv2d of ones
            pool = self.layers[name]
            c = self.shapes[pool.inputs[0]][0]
            self.layers[name] = ir.Conv2d(name, pool.inputs, np.ones((c, 1, *pool.kernel), np.float32), None,
                                          pool.stride, pool.padding, groups=c)
        layers = [dataclasses.replace(v, inputs=(self.alias[v.inputs[0]],))
                  if isinstance(v, ir.Delay) and v.inputs[0] in self.nodes and v.inputs[0] not in self.layers
                  else v for v in self.layers.values()]
        outputs = tuple(dict.fromkeys(self.alias[o] for o in self.top_outputs))
        net = ir.Network(tuple(layers), outputs, name=self.name)
        for n, node in self.nodes.items():
            declared = _declared(node, "output")
            if self.types[n] == "Conv2d" and np.shape(node.weight)[2] != np.shape(node.weight)[3]:
                continue  # nir 1.0.8 infers a Conv2d's output with kh for both axes: wrong unless square
            if declared is not None and n in net._shapes and self.alias.get(n) == n \
                    and math.prod(declared) != math.prod(net.shape(n)):
                raise ShapeError(f"NIR node {n!r} ({self.types[n]}): declares output {declared}, "
                                 f"the graph gives {net.shape(n)}")
        return net

    def steps(self, name: str, node: Any) -> int:
        """A NIR Delay's ``delay`` (seconds) as a whole number ≥ 1 of steps of ``dt``."""
        where = f"NIR node {name!r} (Delay)"
        s = _uniform(_array(node.delay, f"{where}.delay") / self.dt, f"{where}.delay / dt")
        if abs(s - round(s)) > 1e-6 * max(1.0, s) or round(s) < 1:
            raise InvalidNetworkError(f"{where}: delay {s * self.dt:g} s is not a whole number ≥ 1 of "
                                      f"dt = {self.dt:g} s steps")
        return round(s)

    def delay_back(self, name: str, node: Any) -> None:
        """A NIR Delay whose input comes later (it closes a loop): its shape from its declaration."""
        shape = _declared(node, "output") or _declared(node, "input")
        if shape is None:
            shape = tuple(np.shape(node.delay)) if np.size(node.delay) > 1 else None
        if shape is None:
            raise ShapeError(f"NIR node {name!r} (Delay): closes a loop but declares no shape")
        if len(self.preds[name]) != 1:
            raise UnsupportedLayerError(f"NIR node {name!r} (Delay): {len(self.preds[name])} inputs closing a loop")
        self.layers[name] = ir.Delay(name, (self.preds[name][0],), self.steps(name, node), _ir_shape(shape))
        self.shapes[name] = _ir_shape(shape)
        self.alias[name] = name


def _check_options(dt: float | None, reset: str) -> None:
    from spikeforge.errors import ArgumentError

    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise ArgumentError(f"dt = {dt!r}: must be a finite number of seconds > 0")
    if reset not in ("nir", "subtract"):
        raise ArgumentError(f"reset = {reset!r}: must be 'nir' or 'subtract'")


@public
def from_nir(graph: Any, *, dt: float | None = DEFAULT_DT, reset: Reset = "nir", name: str = "nir") -> ir.Network:
    """A :class:`~spikeforge.ir.network.Network` from an in-memory ``nir.NIRGraph`` (see the
    module docstring for the discretisation at ``dt`` seconds and the ``reset`` policy).

    Raises
    ------
    UnsupportedLayerError
        A node type spikeforge cannot run (named, with its type), or parameters it keeps per layer
        that vary.
    ShapeError
        Missing or inconsistent shapes.
    InvalidNetworkError
        Non-finite parameters, a missing ``dt`` where time constants need it, dt ≥ a time constant.
    """
    import nir

    _check_options(dt, reset)
    if not isinstance(graph, nir.NIRGraph):
        raise ModelFileError(f"from_nir: a {type(graph).__name__}, not a nir.NIRGraph")
    return _Reader(graph, dt, reset, name).network()


@public
def read_nir(path: str | os.PathLike, *, dt: float | None = DEFAULT_DT, reset: Reset = "nir") -> ir.Network:
    """The network in the NIR file ``path`` (see :func:`from_nir`). The file's datasets are checked
    by their declared shapes and dtypes before any is read.

    Raises
    ------
    InputPathError
        No such file, or not a regular readable file.
    ModelFileError
        Not a NIR (HDF5) file, or a dataset of a shape or dtype a NIR graph does not have.
    ResourceError
        Datasets declared larger than the memory available.
    """
    _check_options(dt, reset)
    p = check_input_file(path, MAX_FILE_BYTES, "NIR file")
    return from_nir(_read_graph(p), dt=dt, reset=reset, name=p.stem)


# -- writing ---------------------------------------------------------------------------------------

def _full(value: Any, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return np.array(np.broadcast_to(np.asarray(value, dtype).reshape(
        np.shape(value) + (1,) * (len(shape) - np.ndim(value)) if np.ndim(value) == 1 and len(shape) > 1
        else np.shape(value)), shape), dtype)


def _tau(node: ir.Node, factor: float | np.ndarray, what: str, dt: float, shape: tuple[int, ...]) -> np.ndarray:
    r"""The time constants (of the layer's full ``shape``) whose forward Euler step at ``dt`` is the
    decay ``factor``: :math:`\Delta t/(1 - f)`."""
    f = _full(factor, shape, np.float64)
    if (f >= 1.0).any():
        raise UnsupportedLayerError(f"layer {node.name} ({type(node).__name__}): {what} = 1 (no decay) has no "
                                    "finite NIR time constant")
    return dt / (1.0 - f)


def _readout_node(node: ir.LI, shape: tuple[int, ...], dt: float) -> Any:
    r"""The NIR node for a non-spiking read-out: ``I`` (no leak, no bias), ``LI`` or ``CubaLI``, the
    inverse of the reader's forward Euler with an input gain of exactly 1."""
    import nir

    bias = _full(node.bias, shape).astype(np.float64)
    if not isinstance(node, ir.CubaLI) and np.all(node.beta == 1.0) and not bias.any():
        return nir.I(r=np.ones(shape, np.float32))
    tau_m = _tau(node, node.beta, "beta", dt, shape)
    common = {"tau_mem": tau_m.astype(np.float32), "r": (tau_m / dt).astype(np.float32),
              "v_leak": (bias * tau_m / dt).astype(np.float32)}
    if isinstance(node, ir.CubaLI):
        tau_s = _tau(node, node.alpha, "alpha", dt, shape)
        return nir.CubaLI(tau_syn=tau_s.astype(np.float32), w_in=(tau_s / dt).astype(np.float32), **common)
    return nir.LI(tau=common.pop("tau_mem"), **common)


def _neuron_node(node: ir.Node, shape: tuple[int, ...], dt: float) -> Any:
    r"""The NIR node for a spikeforge neuron layer, the inverse of the reader's forward Euler with an
    input gain of exactly 1 (:math:`R = \tau/\Delta t`, as snnTorch exports)."""
    import nir

    theta = _full(node.threshold, shape)
    if isinstance(node, ir.Threshold):
        return nir.Threshold(threshold=theta)  # memoryless: reset and initial potential change nothing
    if node.v_reset is None:
        warnings.warn(f"layer {node.name}: spikeforge resets by subtraction; NIR resets to v_reset = 0 "
                      "(import with reset='subtract' to get it back)", NIRExportWarning, stacklevel=4)
    if node.v_init:
        warnings.warn(f"layer {node.name}: initial potential {node.v_init:g}·θ is not part of NIR; "
                      "the export starts at 0", NIRExportWarning, stacklevel=4)
    v_reset = theta * (0.0 if node.v_reset is None else node.v_reset)
    if isinstance(node, ir.IF):
        return nir.IF(r=np.ones(shape, np.float32), v_threshold=theta, v_reset=v_reset)

    bias = _full(node.bias, shape).astype(np.float64)
    leaky = isinstance(node, ir.CubaLIF) or np.any(node.beta < 1.0) or bias.any()
    tau_m = _tau(node, node.beta, "beta", dt, shape) if leaky else None
    if isinstance(node, ir.LIF):
        if tau_m is None:  # beta = 1, no bias: an IF
            return nir.IF(r=np.ones(shape, np.float32), v_threshold=theta, v_reset=v_reset)
        return nir.LIF(tau=tau_m.astype(np.float32), r=(tau_m / dt).astype(np.float32),
                       v_leak=(bias * tau_m / dt).astype(np.float32), v_threshold=theta, v_reset=v_reset)
    tau_s = _tau(node, node.alpha, "alpha", dt, shape)
    return nir.CubaLIF(tau_syn=tau_s.astype(np.float32), tau_mem=tau_m.astype(np.float32),
                       r=(tau_m / dt).astype(np.float32), v_leak=(bias * tau_m / dt).astype(np.float32),
                       v_threshold=theta, v_reset=v_reset, w_in=(tau_s / dt).astype(np.float32))


@public
def to_nir(net: ir.Network, *, dt: float = DEFAULT_DT) -> Any:
    """``net`` as a ``nir.NIRGraph`` at the timestep ``dt`` seconds (the inverse of
    :func:`from_nir`). Emits :class:`NIRExportWarning` for what NIR cannot say (reset by
    subtraction, a non-zero initial potential).

    Raises
    ------
    UnsupportedLayerError
        A layer NIR cannot hold (max pooling, upsampling, transposed convolution, concatenation,
        ReLU, sparse synapses), or a neuron without decay but with a bias.
    """
    import nir

    _check_options(dt, "nir")
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    ends: dict[str, list[str]] = {}  # an Add: the NIR nodes whose edges it sums
    for node in net.nodes:
        shape = net.shape(node.name)
        where = f"layer {node.name} ({type(node).__name__})"
        ins = [net.shape(i) for i in node.inputs]
        if isinstance(node, ir.Input):
            nodes[node.name] = nir.Input(input_type={"input": np.array(shape)})
        elif isinstance(node, ir.Linear):
            # Affine even without a bias: sinabs's reader knows no Linear (Norse writes the same)
            bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], np.float32)
            nodes[node.name] = nir.Affine(weight=node.weight, bias=bias)
        elif isinstance(node, ir.Conv2d):
            bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], np.float32)
            nodes[node.name] = nir.Conv2d(input_shape=ins[0][1:], weight=node.weight, stride=node.stride,
                                          padding=node.padding, dilation=node.dilation, groups=node.groups, bias=bias)
        elif isinstance(node, ir.AvgPool2d):
            nodes[node.name] = nir.AvgPool2d(kernel_size=np.array(node.kernel), stride=np.array(node.stride),
                                             padding=np.array(node.padding))
        elif isinstance(node, ir.Flatten):
            nodes[node.name] = nir.Flatten(input_type={"input": np.array(ins[0])}, start_dim=0, end_dim=-1)
        elif isinstance(node, (ir.IF, ir.LIF, ir.CubaLIF, ir.Threshold)):
            nodes[node.name] = _neuron_node(node, shape, dt)
        elif isinstance(node, ir.LI):
            nodes[node.name] = _readout_node(node, shape, dt)
        elif isinstance(node, ir.Delay):
            nodes[node.name] = nir.Delay(delay=np.full(shape, node.steps * dt, np.float32))
        elif isinstance(node, ir.Add):  # no node: its inputs' edges go to its readers, summed there
            ends[node.name] = []
            for i, src in enumerate(node.inputs):
                gain = None if node.gains is None else node.gains[i]
                if gain is None:
                    ends[node.name] += ends.get(src, [src])
                    continue
                scale = f"{node.name}.gain{i}"
                nodes[scale] = nir.Scale(scale=_full(gain, shape))
                edges.extend((a, scale) for a in ends.get(src, [src]))
                ends[node.name].append(scale)
            continue
        else:
            raise UnsupportedLayerError(f"{where}: NIR has no node for it")
        edges.extend((a, node.name) for src in node.inputs for a in ends.get(src, [src]))
    for i, out in enumerate(net.outputs):
        name = "output" if len(net.outputs) == 1 else f"output{i}"
        nodes[name] = nir.Output(output_type={"output": np.array(net.shape(out))})
        edges.extend((a, name) for a in ends.get(out, [out]))
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    except Exception as exc:  # noqa: BLE001 - the nir package's own checks
        raise UnsupportedLayerError(f"network {net.name}: the nir package refuses the graph "
                                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:100]})") from None


@public
def write_nir(net: ir.Network, path: str | os.PathLike, *, dt: float = DEFAULT_DT) -> Path:
    """Write ``net`` as the NIR file ``path`` (atomically, through :mod:`spikeforge.outputs`); see
    :func:`to_nir`. Returns the path written.

    Raises
    ------
    UnsupportedLayerError
        See :func:`to_nir`.
    OutputPathError
        ``path`` would destroy something spikeforge did not write.
    """
    import nir

    from spikeforge.outputs import atomic_file

    graph = to_nir(net, dt=dt)
    buffer = io.BytesIO()  # h5py reads back what it writes: build the file in memory first
    nir.write(buffer, graph)
    return atomic_file(path, lambda f: f.write(buffer.getvalue()))
