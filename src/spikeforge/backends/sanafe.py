r"""Run a placed spikeforge network on SANA-FE, a silicon-calibrated architecture simulator.

SANA-FE (Boyle et al., *SANA-FE: Simulating Advanced Neuromorphic Architectures for Fast
Exploration*, IEEE TCAD 2025; ``pip install 'spikeforge[sanafe]'``, GPL-3.0) simulates a chip
timestep by timestep: every core updates its neurons, spikes travel the network-on-chip as
messages, receiving cores look up their synapses, and all cores synchronise before the next
timestep. This module exports what spikeforge decided into SANA-FE's three descriptions and reads
back what SANA-FE simulated, so that spikeforge's guarantees and energy estimates can be checked
against an outside simulator on the same input.

**Export.** From a :class:`~spikeforge.ir.placement.Placement` of an *integer* network (a
quantised one, :func:`~spikeforge.quantize.core.quantize`) and a :class:`Hardware`:

* the **architecture**: one SANA-FE tile holding one core per spikeforge core of the chip, on the
  same mesh coordinates (SANA-FE numbers tiles column by column, spikeforge cores row by row), so
  that both count the same hops; per event the preset's costs: ``per_neuron_update_pj`` /
  ``neuron_update_ns`` per neuron and timestep (SANA-FE's *access* cost, charged for every mapped
  neuron), ``per_spike_pj`` per spike, ``per_synop_pj`` / ``synop_ns`` per synapse looked up,
  ``per_hop_pj`` / ``hop_latency_ns`` per router hop in every direction; a core's
  ``crossbar_eval_ns`` per crossbar used is spread over its neurons' update latency; messages in
  and out cost nothing (spikeforge has no such event); the end-of-timestep barrier costs
  ``timing.barrier_ns`` on chips with ``timing.timestep_barrier`` (SANA-FE's ``fixed`` sync model);
* the **network**: one neuron group per mapped layer (neuron layers, then non-spiking read-outs,
  which never fire), with spikeforge's neuron model in SANA-FE's ``leaky_integrate_fire`` soma:
  leak 1, reset by subtraction (``soft``), threshold θ, initial potential
  :math:`\lfloor v_{init}\theta\rfloor`, the synaptic layer's bias; one synapse per weight of the
  one ``Conv2d`` or ``Linear`` between two mapped layers (``Flatten`` in between is free). A layer
  fed by the network input gets the input's current (:math:`Wx + b`, the same every timestep,
  computed by spikeforge's own simulator) as its bias: the analog input never travels the chip;
* the **mapping**: every neuron on the core its cluster was placed on.

**Two semantic differences, removed exactly.** SANA-FE's soma fires on :math:`v > \theta`,
spikeforge's on :math:`v \ge \theta`: on integer potentials the two agree once SANA-FE's potential
carries an offset of ½ (reset by subtraction keeps it; SANA-FE truncates potentials to 1/64,
which keeps every integer + ½). And a spike emitted at timestep *t* is integrated by the next
layer at *t + 1* on the chip (as on Loihi), where spikeforge's simulator lets it arrive in the same
timestep: a layer at depth *d* (its distance from the input) therefore starts at SANA-FE timestep
*d + 1* (before that it holds no charge and cannot fire) and stops firing after *d + T*; the run
lasts *T + D* timesteps, D the depth of the deepest layer, and layer *ℓ*'s SANA-FE timesteps
*d + 1 … d + T* are spikeforge's timesteps *1 … T*. Only neuron accesses happen outside a
layer's window; :attr:`SanafeRun.fill_soma_j` is their energy, so that energy per inference
compares like with like.

Nothing here is imported by default: :func:`run_sanafe` imports ``sanafe`` when it runs.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import (
    CapacityError,
    InvalidDataError,
    InvalidNetworkError,
    MissingDependencyError,
    UnsupportedLayerError,
)
from spikeforge.ir import network as ir
from spikeforge.ir.hardware import Hardware
from spikeforge.ir.placement import Placement

__all__ = ["INSTALL", "SOURCES", "SanafeRun", "architecture_yaml", "require_sanafe", "run_sanafe",
           "sanafe_plan", "spikeforge_activity"]

#: How to get the optional dependency.
INSTALL = "pip install 'spikeforge[sanafe]'"
#: SANA-FE's energy sources, as its results name them.
SOURCES = ("synapse", "dendrite", "soma", "network")
#: A threshold no potential reaches: a layer outside its window (and a read-out) never fires.
_NEVER = 1e30
#: The offset that turns SANA-FE's ``v > θ`` into spikeforge's ``v ≥ θ`` on integer potentials.
_OFFSET = 0.5
_PJ, _NS = 1e-12, 1e-9


@public
def require_sanafe() -> Any:
    """The ``sanafe`` module, imported now.

    Raises
    ------
    MissingDependencyError
        ``sanafe`` is not installed (the message says how to install it).
    """
    try:
        import sanafe
    except ImportError:
        raise MissingDependencyError(f"SANA-FE backend: the 'sanafe' package is not installed; "
                                     f"{INSTALL}") from None
    return sanafe


# ---------------------------------------------------------------------------------------------
# what is exported: the layers, their synapses and depths


@dataclass(frozen=True, eq=False)
class _Layer:
    name: str
    size: int
    readout: bool
    sources: tuple[str, ...]    # presynaptic mapped layers
    depth: int                  # 0: fed by the network input only
    threshold: np.ndarray       # per neuron
    v0: np.ndarray              # initial potential per neuron (integer)
    bias: np.ndarray            # per neuron: the biases reaching it
    static: dict = field(repr=False)        # input -> matrix: the input's current, per sample
    synapses: tuple = field(repr=False)     # (source, pre, post, weight, delay)

    def current(self, x: dict[str, np.ndarray]) -> np.ndarray:
        """The constant current of one sample: the input's share and the biases."""
        out = self.bias.copy()
        for src, m in self.static.items():
            out += m @ np.asarray(x[src], np.float64).ravel()
        return out


def _integer(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, np.float64)
    if not np.array_equal(values, np.round(values)):
        bad = values[values != np.round(values)].ravel()[0]
        raise InvalidNetworkError(f"SANA-FE export: {what} holds the non-integer {float(bad)!r}; export an integer "
                                  f"(quantised) network")
    return values


def _per_neuron(values: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A scalar or per-channel array broadcast to one value per neuron (C-order)."""
    n = math.prod(shape)
    if values is None:
        return np.zeros(n)
    v = np.asarray(values, np.float64)
    if v.ndim == 0:
        return np.full(n, float(v))
    return np.repeat(v, n // v.size)


def _coo(post, pre, weight, n_out: int, n_in: int):
    import scipy.sparse as sp

    return sp.csr_matrix((np.asarray(weight, np.float64), (np.asarray(post), np.asarray(pre))), shape=(n_out, n_in))


def _conv_matrix(node: ir.Node, in_shape, out_shape, transposed: bool = False):
    """A (transposed) convolution as an (outputs × inputs) matrix, padding taps excluded."""
    w = np.asarray(node.weight, np.float64)
    g = node.groups
    if transposed:  # weight (in, out/groups, kh, kw): output y·s - p + k·d receives input y
        cin, cog, kh, kw = w.shape
        big, small = out_shape, in_shape
        w = w.reshape(g, cin // g, cog, kh, kw).transpose(0, 2, 1, 3, 4).reshape(g * cog, cin // g, kh, kw)
    else:
        big, small = in_shape, out_shape
    co, cig, kh, kw = w.shape
    _, h, wi = big          # the side indexed with y·s + k·d - p
    _, ho, wo = small
    group = np.arange(co) // (co // g)
    rows = np.broadcast_to(np.arange(co)[:, None], (co, cig))            # the weight's first axis
    cols = group[:, None] * cig + np.arange(cig)[None, :]               # its second, as channels
    big_ch, small_ch = (rows, cols) if transposed else (cols, rows)
    posts, pres, weights = [], [], []
    for ky in range(kh):
        yi = np.arange(ho) * node.stride[0] + ky * node.dilation[0] - node.padding[0]
        for kx in range(kw):
            xi = np.arange(wo) * node.stride[1] + kx * node.dilation[1] - node.padding[1]
            yo, xo = np.nonzero(((yi >= 0) & (yi < h))[:, None] & ((xi >= 0) & (xi < wi))[None, :])
            if not len(yo):
                continue
            small_idx = small_ch[:, :, None] * (ho * wo) + (yo * wo + xo)[None, None, :]
            big_idx = big_ch[:, :, None] * (h * wi) + (yi[yo] * wi + xi[xo])[None, None, :]
            posts.append((big_idx if transposed else small_idx).ravel())
            pres.append((small_idx if transposed else big_idx).ravel())
            weights.append(np.broadcast_to(w[:, :, ky, kx][:, :, None], big_idx.shape).ravel())
    n_out, n_in = math.prod(out_shape), math.prod(in_shape)
    if not posts:
        return _coo([], [], [], n_out, n_in)
    return _coo(np.concatenate(posts), np.concatenate(pres), np.concatenate(weights), n_out, n_in)


def _upsample_matrix(node: ir.Upsample, in_shape, out_shape):
    c, h, w = out_shape
    ch, y, x = np.indices(out_shape)
    pre = (ch * in_shape[1] + y // node.scale) * in_shape[2] + x // node.scale
    return _coo(np.arange(c * h * w), pre.ravel(), np.ones(c * h * w), c * h * w, math.prod(in_shape))


def _pattern(m):
    """The structure of a sparse matrix (explicit zeros included) with every entry 1."""
    p = m.tocsr(copy=True)
    p.data = np.ones_like(p.data)
    return p


def _apply(m, pair):
    """A linear layer ``m`` after (weights, structure): zero weights keep their synapses."""
    values, structure = pair
    return m @ values, _pattern(m) @ structure


def _add(a, b):
    return b if a is None else (a[0] + b[0], a[1] + b[1])


def _affine(net: ir.Network, name: str, memo: dict) -> tuple[dict[str, Any], np.ndarray]:
    r"""The output of layer ``name`` as :math:`\sum_s M_s x_s + c` over its sources ``s`` (neuron layers
    and the input): sparse matrices (outputs × source size) and a constant per output."""
    if name in memo:
        return memo[name]
    node = net.node(name)
    size = math.prod(net.shape(name))
    if isinstance(node, ir.Input) or node.is_neuron:
        import scipy.sparse as sp

        eye = sp.identity(size, format="csr")
        memo[name] = ({name: (eye, eye)}, np.zeros(size))
        return memo[name]
    ins = [_affine(net, i, memo) for i in node.inputs]
    in_shapes = [tuple(net.shape(i)) for i in node.inputs]
    out_shape = tuple(net.shape(name))
    if isinstance(node, ir.Flatten):
        result = ins[0]
    elif isinstance(node, ir.Concat):
        import scipy.sparse as sp

        if getattr(node, "axis", 0) not in (0, -3):
            raise UnsupportedLayerError(f"SANA-FE export: layer {name} (Concat) joins along axis {node.axis}, "
                                        f"only channels are supported")
        terms: dict[str, Any] = {}
        for k, (t, _) in enumerate(ins):
            for src, pair in t.items():
                stacked = tuple(sp.vstack([m if j == k else sp.csr_matrix((math.prod(in_shapes[j]), m.shape[1]))
                                           for j in range(len(ins))], format="csr") for m in pair)
                terms[src] = _add(terms.get(src), stacked)
        result = (terms, np.concatenate([c for _, c in ins]))
    elif isinstance(node, ir.Add):
        import scipy.sparse as sp

        terms, const = {}, np.zeros(size)
        for k, (t, c) in enumerate(ins):
            gain = None if node.gains is None else node.gains[k]
            g = np.ones(size) if gain is None else _per_neuron(gain, out_shape, "")
            _integer(g, f"layer {name} gains")
            d = sp.diags(g, format="csr")
            for src, pair in t.items():
                terms[src] = _add(terms.get(src), _apply(d, pair))
            const = const + g * c
        result = (terms, const)
    else:
        if isinstance(node, ir.Conv2d):
            m = _conv_matrix(node, in_shapes[0], out_shape)
        elif isinstance(node, ir.ConvTranspose2d):
            m = _conv_matrix(node, in_shapes[0], out_shape, transposed=True)
        elif isinstance(node, ir.Linear):
            w = np.asarray(node.weight, np.float64)
            post, pre = np.indices(w.shape)
            m = _coo(post.ravel(), pre.ravel(), w.ravel(), w.shape[0], w.shape[1])
        elif isinstance(node, ir.SparseLinear):
            m = _coo(node.post, node.pre, node.weight, node.n_out, math.prod(in_shapes[0]))
        elif isinstance(node, ir.Upsample):
            m = _upsample_matrix(node, in_shapes[0], out_shape)
        else:
            raise UnsupportedLayerError(f"SANA-FE export: layer {name} ({type(node).__name__}) is not linear "
                                        f"in spikes; SANA-FE's synapses are weighted sums")
        if node.has_weights:
            _integer(node.weight, f"layer {name} weights")
        bias = getattr(node, "bias", None)
        bias = np.zeros(size) if bias is None else _per_neuron(bias, out_shape, "")
        _integer(bias, f"layer {name} bias")
        t, c = ins[0]
        result = ({src: _apply(m, pair) for src, pair in t.items()}, m @ c + bias)
    memo[name] = result
    return result


#: SANA-FE's dendrite delays at most this many timesteps (``AccumulatorWithDelayModel``).
MAX_DELAY = 5


@public
def sanafe_plan(net: ir.Network) -> tuple[Any, ...]:
    """The layers SANA-FE runs for ``net``: each mapped layer (neuron layers, then non-spiking
    read-outs) with its neurons' parameters, its synapses and its depth.

    Every stateless layer between two mapped layers is linear in spikes (convolutions, dense and
    sparse layers, sum-pooling, upsampling, flattening, concatenation, residual sums): their
    composition is one weighted synapse per (presynaptic, postsynaptic) neuron pair, and a
    constant (the biases) that becomes the neuron's bias. A layer at depth *d* receives from a
    shallower source through synapses delayed by the difference, so that spikes meet as in
    spikeforge's simulator.

    Returns
    -------
    tuple
        One frozen record per layer, in network order (fields ``name``, ``size``, ``readout``,
        ``sources``, ``depth``, ``threshold``, ``v0``, ``bias``, ``static``, ``synapses``).

    Raises
    ------
    UnsupportedLayerError
        A neuron model SANA-FE's soma does not share (a leak, a hard reset, synaptic current,
        recurrence), a layer that is not linear in spikes (max-pooling), or paths from one source
        whose lengths differ by more than SANA-FE's dendrite delays allow.
    InvalidNetworkError
        Weights, biases, gains or thresholds that are not integers (quantise the network first).
    """
    from spikeforge.mapping.connectivity import mapped_layers

    net.require_snn("SANA-FE export")
    memo: dict = {}
    layers: dict[str, _Layer] = {}
    for name in mapped_layers(net):
        node = net.node(name)
        shape = tuple(net.shape(name))
        size = math.prod(shape)
        readout = not node.is_neuron
        if not readout:
            model = type(node).__name__
            if np.any(np.asarray(getattr(node, "beta", 1.0)) != 1.0) or getattr(node, "alpha", None) is not None \
                    or getattr(node, "v_reset", None) is not None or getattr(node, "recurrent", None) is not None \
                    or getattr(node, "delay", None) not in (None, 0, 1):
                raise UnsupportedLayerError(f"SANA-FE export: layer {name} ({model}): only IF neurons (no leak, "
                                            f"reset by subtraction, no synaptic current) are exported exactly")
        terms, const = _affine(net, name if readout else node.inputs[0], memo)
        _integer(const, f"the biases into layer {name}")
        static = {s: m for s, m in terms.items() if isinstance(net.node(s), ir.Input)}
        spiking = {s: m for s, m in terms.items() if s not in static}
        for s in spiking:
            if s not in layers:
                raise UnsupportedLayerError(f"SANA-FE export: layer {name} receives from {s}, which is not "
                                            f"before it")
        depth = 1 + max((layers[s].depth for s in spiking), default=-1)
        synapses = []
        for s, (values, structure) in spiking.items():
            m = structure.tocoo()
            weight = np.asarray(values.tocsr()[m.row, m.col]).ravel()
            delay = depth - 1 - layers[s].depth
            if delay > MAX_DELAY:
                raise UnsupportedLayerError(f"SANA-FE export: layer {name} (depth {depth}) receives from {s} "
                                            f"(depth {layers[s].depth}): a delay of {delay} timesteps, SANA-FE's "
                                            f"dendrites delay at most {MAX_DELAY}")
            _integer(weight, f"the synapses from {s} into {name}")
            synapses.append((s, m.col.astype(np.int64), m.row.astype(np.int64), weight, delay))
        if readout:
            threshold, v0 = np.full(size, _NEVER), np.zeros(size)
        else:
            threshold = _integer(_per_neuron(node.threshold, shape, ""), f"layer {name} thresholds")
            v0 = np.floor(float(node.v_init) * threshold)
        layers[name] = _Layer(name, size, readout, tuple(spiking), depth, threshold, v0, const,
                              {s: pair[0].tocsr() for s, pair in static.items()}, tuple(synapses))
    return tuple(layers.values())


# ---------------------------------------------------------------------------------------------
# spikeforge's side of the same run


@public
def spikeforge_activity(net: ir.Network, x: ArrayLike, *, timesteps: int,
                        batch_size: int = 64) -> dict[str, np.ndarray]:
    """Spikeforge's integer simulation of ``x``: spikes per neuron layer, sample and timestep.

    Returns
    -------
    dict
        Neuron layer -> int64 array (samples, T).

    Raises
    ------
    SimulationError
        ``net`` is not an integer network, or bad ``timesteps``.
    InvalidDataError
        ``x`` does not fit the network, or is not integer.
    """
    import torch

    from spikeforge.sim.simulator import check_run, compiled, run_batches

    check_run(net, timesteps, min(batch_size, len(x)), 8)
    c = compiled(net, True)
    data = torch.as_tensor(np.asarray(net.check_input(x), np.float64))
    if not torch.equal(data, torch.round(data)):
        raise InvalidDataError("SANA-FE run: inputs must be integers (quantise them with quantize_input)")
    spikes: dict[str, list[np.ndarray]] = {}

    def observe(node, ins, value) -> None:
        if node.is_neuron:
            s = value.data.reshape(value.data.shape[0], value.data.shape[1], -1)
            spikes.setdefault(node.name, []).append(s.sum(-1).to(torch.int64).T.numpy())

    run_batches(c, data, int(timesteps), torch.as_tensor([int(timesteps)]), lambda _, v: v.data[:0],
                batch_size=batch_size, observe=observe, collapse=False)
    return {k: np.concatenate(v) for k, v in spikes.items()}


# ---------------------------------------------------------------------------------------------
# the architecture


def _core_maps(placement: Placement, plan: tuple[_Layer, ...]) -> dict[str, np.ndarray]:
    """Global core of every neuron of every planned layer, from the partition's pieces. A neuron
    split over crossbars (partial-sum columns, which SANA-FE does not have) goes whole to the core
    of its part 0, the one that fires."""
    from spikeforge.mapping.connectivity import shape3

    part = placement.partition
    index = {name: i for i, name in enumerate(part.layers)}
    cores: dict[str, np.ndarray] = {}
    for layer in plan:
        if layer.name not in index:
            raise InvalidDataError(f"SANA-FE export: layer {layer.name} is not in the partition of {part.network}")
        placed = math.prod(part.layer_shapes[index[layer.name]])
        if placed != layer.size:
            raise InvalidDataError(f"SANA-FE export: layer {layer.name} has {layer.size} neurons, the partition of "
                                   f"{part.network} places {placed}")
        cores[layer.name] = np.full(layer.size, -1, np.int64)
    cluster_core = np.asarray(placement.cluster_core, np.int64)
    for p in range(len(part.piece_cluster)):
        name = part.layers[int(part.piece_layer[p])]
        if name not in cores or int(part.piece_part[p]) != 0:
            continue
        _, h, w = shape3(part.layer_shapes[int(part.piece_layer[p])])
        c0, c1, y0, y1, x0, x1 = (int(v) for v in part.piece_box[p])
        idx = ((np.arange(c0, c1)[:, None, None] * h + np.arange(y0, y1)[None, :, None]) * w
               + np.arange(x0, x1)[None, None, :]).ravel()
        cores[name][idx] = cluster_core[int(part.piece_cluster[p])]
    for name, core in cores.items():
        if (core < 0).any():
            raise InvalidDataError(f"SANA-FE export: {int((core < 0).sum())} neurons of layer {name} are in no "
                                   f"cluster of the partition")
    return cores


@public
def architecture_yaml(hw: Hardware, neuron_cores: dict[str, np.ndarray], *,
                      crossbars: dict[int, int] | None = None) -> tuple[str, dict[int, int]]:
    """SANA-FE's architecture description of the cores of ``hw`` that hold neurons (see the module
    docstring for what each event costs), and each global core's SANA-FE tile id.

    Parameters
    ----------
    hw : Hardware
    neuron_cores : dict
        Layer -> global core of each of its neurons.
    crossbars : dict, optional
        Global core -> crossbars used on it (each costs ``crossbar_eval_ns`` per timestep); default 1.

    Raises
    ------
    CapacityError
        Neurons on more than one chip (SANA-FE models one), or more neurons on a core than it has.
    """
    every = np.concatenate([np.asarray(c, np.int64) for c in neuron_cores.values()]) if neuron_cores \
        else np.zeros(0, np.int64)
    if not len(every):
        raise InvalidDataError("SANA-FE export: no neurons to place")
    chips = np.unique(every // hw.cores_per_chip)
    if len(chips) > 1:
        raise CapacityError(f"SANA-FE export: neurons on {len(chips)} chips of {hw.name}; SANA-FE models one chip")
    local = every % hw.cores_per_chip
    used, per_core = np.unique(every, return_counts=True)
    if per_core.max() > hw.core.neurons_per_core:
        raise CapacityError(f"SANA-FE export: core {int(used[per_core.argmax()])} holds {int(per_core.max())} neurons, "
                            f"{hw.name} has {hw.core.neurons_per_core} per core")
    xs, ys = local % hw.chip.mesh_x, local // hw.chip.mesh_x
    width, height = int(xs.max()) + 1, int(ys.max()) + 1
    tm, en = hw.timing, hw.energy
    sync = tm.barrier_ns if tm.timestep_barrier else 0.0
    tile_of = {int(g): int((g % hw.cores_per_chip) % hw.chip.mesh_x) * height
               + int((g % hw.cores_per_chip) // hw.chip.mesh_x) for g in used}
    neurons = dict(zip(used.tolist(), per_core.tolist()))
    by_tile = {t: g for g, t in tile_of.items()}
    h_e, h_l = en.per_hop_pj * _PJ, hw.noc.hop_latency_ns * _NS
    lines = ["architecture:", f"  name: spikeforge_{hw.name}", "  attributes:", "    topology: mesh",
             f"    width: {width}", f"    height: {height}", "    link_buffer_size: 16",
             "    sync_model: fixed", f"    latency_sync: {sync * _NS!r}", "  tile:"]
    for t in range(width * height):
        g = by_tile.get(t)
        xbar = (crossbars or {}).get(g, 1) if g is not None else 0
        access = tm.neuron_update_ns + (tm.crossbar_eval_ns * xbar / neurons[g] if g is not None else 0.0)
        lines += [f"    - name: tile{t}", "      attributes:",
                  *(f"        {k}_{d}_hop: {v!r}" for d in ("north", "east", "south", "west")
                    for k, v in (("energy", h_e), ("latency", h_l))),
                  "      core:", f"        - name: core{t}", "          attributes:",
                  "            buffer_position: dendrite", "            buffer_inside_unit: true",
                  f"            max_neurons_supported: {hw.core.neurons_per_core}",
                  "          axon_in:", "            - name: sf_axon_in",
                  "              attributes: {energy_message_in: 0.0, latency_message_in: 0.0}",
                  "          soma:", "            - name: sf_soma",
                  ("              attributes: {model: leaky_integrate_fire, "
                   f"energy_access_neuron: {en.per_neuron_update_pj * _PJ!r}, latency_access_neuron: {access * _NS!r}, "
                   "energy_update_neuron: 0.0, latency_update_neuron: 0.0, "
                   f"energy_spike_out: {en.per_spike_pj * _PJ!r}, latency_spike_out: 0.0}}"),
                  "          dendrite:", "            - name: sf_dendrite",
                  "              attributes: {model: accumulator_with_delay, energy_update: 0.0, latency_update: 0.0}",
                  "          synapse:", "            - name: sf_synapse",
                  ("              attributes: {model: current_based, "
                   f"energy_process_spike: {en.per_synop_pj * _PJ!r}, latency_process_spike: {tm.synop_ns * _NS!r}}}"),
                  "          axon_out:", "            - name: sf_axon_out",
                  "              attributes: {energy_message_out: 0.0, latency_message_out: 0.0}"]
    return "\n".join(lines) + "\n", tile_of


# ---------------------------------------------------------------------------------------------
# the run


@dataclass(frozen=True, eq=False)
class SanafeRun:
    """What SANA-FE simulated for each sample of one input set.

    Attributes
    ----------
    network, hardware : str
    timesteps : int
        T, spikeforge's timesteps per inference.
    steps : int
        SANA-FE timesteps run per sample: T + the deepest layer's depth.
    depth : dict
        Mapped layer -> its depth (the SANA-FE timestep it starts at, minus one).
    spikes : dict
        Neuron layer -> int64 array (samples, T): spikes in each of spikeforge's timesteps.
    energy_j : dict
        Energy per inference (mean over samples) by SANA-FE source (:data:`SOURCES`) and ``total``.
    fill_soma_j : float
        Of ``energy_j['soma']``: neuron accesses outside the layers' windows (pipeline fill and
        drain, :math:`\\sum_\\ell N_\\ell (steps - T) e_{access}`), per inference.
    step_time_s : numpy.ndarray
        Simulated time of every SANA-FE timestep, (samples, steps).
    events : dict
        Per inference: ``fired`` (spikes), ``synaptic_events``, ``hops``, ``messages``.
    reference : dict
        Spikeforge's integer simulation of the same inputs, as ``spikes``.
    partial_sum_columns : int
        Partial-sum columns of the partition (split neurons), which SANA-FE runs whole on the core
        of their part 0: their updates and traffic are spikeforge's alone.
    """

    network: str
    hardware: str
    timesteps: int
    steps: int
    depth: dict[str, int]
    spikes: dict[str, np.ndarray]
    energy_j: dict[str, float]
    fill_soma_j: float
    step_time_s: np.ndarray
    events: dict[str, float]
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    partial_sum_columns: int = 0

    @property
    def spikes_identical(self) -> bool:
        """Every layer's spikes per sample and timestep equal spikeforge's own simulation's."""
        return bool(self.reference) and self.reference.keys() == self.spikes.keys() and all(
            np.array_equal(self.spikes[k], self.reference[k]) for k in self.spikes)

    @property
    def dynamic_j(self) -> float:
        """Energy per inference inside the layers' windows (the total less the fill and drain)."""
        return self.energy_j["total"] - self.fill_soma_j

    @property
    def time_per_timestep_s(self) -> float:
        """Mean simulated time per SANA-FE timestep over the whole run."""
        return float(self.step_time_s.mean())

    @property
    def steady_time_per_timestep_s(self) -> float:
        """Mean simulated time of the timesteps in which every layer is inside its window (all
        layers busy, as when inferences stream back to back); NaN when T is not above the depth."""
        deepest = self.steps - self.timesteps
        if self.timesteps <= deepest:
            return math.nan
        return float(self.step_time_s[:, deepest:self.timesteps].mean())

    def as_dict(self) -> dict[str, Any]:
        return {"network": self.network, "hardware": self.hardware, "timesteps": self.timesteps,
                "steps": self.steps, "depth": dict(self.depth),
                "spikes_per_layer_timestep": {k: v.sum(0).tolist() for k, v in self.spikes.items()},
                "energy_j": dict(self.energy_j), "fill_soma_j": self.fill_soma_j, "dynamic_j": self.dynamic_j,
                "time_per_timestep_s": self.time_per_timestep_s,
                "steady_time_per_timestep_s": self.steady_time_per_timestep_s,
                "max_time_per_timestep_s": float(self.step_time_s.max()), "events": dict(self.events),
                "spikes_identical": self.spikes_identical, "partial_sum_columns": self.partial_sum_columns}


def _build(sanafe: Any, arch_text: str, plan: tuple[_Layer, ...], cores: dict[str, np.ndarray],
           tile_of: dict[int, int]) -> tuple[Any, dict[str, Any]]:
    from spikeforge.outputs import atomic_file

    with tempfile.TemporaryDirectory(prefix="spikeforge-sanafe-") as tmp:
        path = Path(tmp) / "arch.yaml"
        atomic_file(path, lambda f: f.write(arch_text.encode()))
        arch = sanafe.load_arch(str(path))
    snn = sanafe.Network()
    groups = {}
    for layer in plan:
        groups[layer.name] = snn.create_neuron_group(
            layer.name, layer.size, model_attributes={"threshold": _NEVER, "reset_mode": "soft",
                                                      "leak_decay": 1.0, "bias": 0.0},
            default_synapse_hw_name="sf_synapse", default_dendrite_hw_name="sf_dendrite",
            soma_hw_name="sf_soma", log_spikes=not layer.readout)
    for layer in plan:
        for source, pre, post, weight, delay in layer.synapses:
            if len(pre):
                groups[source].connect_neurons_sparse(
                    groups[layer.name], {"w": weight.tolist(), "d": [int(delay)] * len(pre)},
                    list(zip(pre.tolist(), post.tolist())))
    arch_cores = arch.cores()
    for layer in plan:
        group = groups[layer.name]
        for i, g in enumerate(cores[layer.name].tolist()):
            group[i].map_to_core(arch_cores[tile_of[g]])
    chip = sanafe.SpikingChip(arch)
    chip.load(snn)
    return chip, chip.mapped_neuron_groups


@public(own_checks="timesteps")
def run_sanafe(net: ir.Network, placement: Placement, x: ArrayLike, *, timesteps: int,
               hw: Hardware | None = None, threads: int = 1) -> SanafeRun:
    """Run the integer network ``net``, placed by ``placement``, on SANA-FE for every sample of ``x``.

    Parameters
    ----------
    net : Network
        An integer SNN (quantised), the one ``placement`` was made for.
    placement : Placement
    x : array (N, *input_shape)
        Integer inputs (``QuantizedNetwork.quantize_input``).
    timesteps : int
        T per inference.
    hw : Hardware, optional
        Event costs and timing (default: the placement's hardware).
    threads : int
        SANA-FE's processing threads (default 1: a shared machine).

    Returns
    -------
    SanafeRun

    Raises
    ------
    MissingDependencyError
        ``sanafe`` is not installed.
    UnsupportedLayerError, InvalidNetworkError
        What :func:`sanafe_plan` refuses.
    CapacityError
        A placement SANA-FE cannot hold (several chips, a core over its neurons).
    SimulationError, InvalidDataError
        Bad ``timesteps`` or inputs.
    """
    from spikeforge.errors import SimulationError
    from spikeforge.resources import check_count

    check_count(timesteps, "run_sanafe: timesteps", error=SimulationError)
    check_count(threads, "run_sanafe: threads", error=SimulationError)
    sanafe = require_sanafe()
    hw = hw or placement.hardware
    plan = sanafe_plan(net)
    T = int(timesteps)
    spikes_ref = spikeforge_activity(net, x, timesteps=T)
    x = np.asarray(net.check_input(x), np.float64)
    inputs = [n.name for n in net.nodes if isinstance(n, ir.Input)]
    cores = _core_maps(placement, plan)
    xbar_core = np.asarray(placement.cluster_core, np.int64)
    used = np.unique(xbar_core * hw.core.crossbars_per_core + np.asarray(placement.cluster_slot))
    crossbars = {int(c): int(n) for c, n in zip(*np.unique(used // hw.core.crossbars_per_core, return_counts=True))}
    arch_text, tile_of = architecture_yaml(hw, cores, crossbars=crossbars)
    try:
        chip, mapped = _build(sanafe, arch_text, plan, cores, tile_of)
    except (RuntimeError, ValueError, sanafe.HardwareMappingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SimulationError(f"SANA-FE refused the export of {net.name} on {hw.name}: {first}") from None
    depth = {layer.name: layer.depth for layer in plan}
    deepest = max(depth.values())
    steps = T + deepest
    samples = len(np.asarray(x))
    spikes = {layer.name: np.zeros((samples, T), np.int64) for layer in plan if not layer.readout}
    energy = dict.fromkeys((*SOURCES, "total"), 0.0)
    events = {"fired": 0.0, "synaptic_events": 0.0, "hops": 0.0, "messages": 0.0}
    times = np.zeros((samples, steps))
    starts: dict[int, list[_Layer]] = {}
    stops: dict[int, list[_Layer]] = {}
    for layer in plan:
        starts.setdefault(layer.depth + 1, []).append(layer)
        if not layer.readout and layer.depth + T + 1 <= steps:
            stops.setdefault(layer.depth + T + 1, []).append(layer)
    boundaries = sorted(set(starts) | set(stops) | {steps + 1})
    offset = {layer.name: layer.depth for layer in plan}
    for s in range(samples):
        chip.reset()
        for k, step in enumerate(boundaries[:-1]):
            for layer in stops.get(step, ()):
                for neuron in mapped[layer.name]:
                    neuron.set_attributes(model_attributes={"threshold": _NEVER, "bias": 0.0})
            for layer in starts.get(step, ()):
                bias = _integer(layer.current({inputs[0]: x[s]}), f"the input current of layer {layer.name}")
                for neuron, th, v, b in zip(mapped[layer.name], layer.threshold.tolist(),
                                            (layer.v0 + (0.0 if layer.readout else _OFFSET)).tolist(), bias.tolist()):
                    neuron.set_attributes(model_attributes={"threshold": th, "bias": b, "potential": v})
            n = boundaries[k + 1] - step
            r = chip.sim(n, spike_trace=True, perf_trace=True, processing_threads=threads)
            for source in SOURCES:
                energy[source] += r["energy"][source]
            energy["total"] += r["energy"]["total"]
            events["fired"] += r["neurons_fired"]
            events["synaptic_events"] += r["spikes"]
            events["messages"] += r["packets_sent"]
            events["hops"] += float(np.sum(r["perf_trace"]["hops"]))
            times[s, step - 1: step - 1 + n] = r["perf_trace"]["sim_time"]
            for i, fired in enumerate(r["spike_trace"]):
                t = step + i  # SANA-FE timestep, 1-based
                for address in fired:
                    name = address.group_name
                    k_t = t - offset[name] - 1
                    if 0 <= k_t < T:
                        spikes[name][s, k_t] += 1
    for name in spikes_ref:
        if name not in spikes:
            raise InvalidDataError(f"SANA-FE run: neuron layer {name} was not exported")
    neurons = sum(layer.size for layer in plan)
    part = placement.partition
    partial = int(part.piece_neurons[part.piece_part != 0].sum())
    fill = neurons * (steps - T) * hw.energy.per_neuron_update_pj * _PJ
    return SanafeRun(net.name, hw.name, T, steps, depth, spikes,
                     {k: v / samples for k, v in energy.items()}, fill, times,
                     {k: v / samples for k, v in events.items()}, spikes_ref, partial)
