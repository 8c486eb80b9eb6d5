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
    InfeasibleMappingError,
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
    source: str | None          # presynaptic mapped layer; None: fed by the network input
    depth: int
    threshold: np.ndarray       # per neuron
    v0: np.ndarray              # initial potential per neuron (integer)
    bias: np.ndarray            # per neuron (0 for input-fed layers: their current is per sample)
    pre: np.ndarray = field(repr=False)     # synapses: presynaptic index
    post: np.ndarray = field(repr=False)    # postsynaptic index
    weight: np.ndarray = field(repr=False)


def _integer(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, np.float64)
    if not np.array_equal(values, np.round(values)):
        bad = values[values != np.round(values)].ravel()[0]
        raise InvalidNetworkError(f"SANA-FE export: {what} holds the non-integer {bad!r}; export an integer "
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


def _conv_synapses(node: ir.Conv2d, in_shape, out_shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every synapse of a convolution: (presynaptic, postsynaptic, weight), padding taps excluded."""
    w = np.asarray(node.weight, np.float64)
    co, cig, kh, kw = w.shape
    _, h, wi = in_shape
    _, ho, wo = out_shape
    group = np.arange(co) // (co // node.groups)
    ci = group[:, None] * cig + np.arange(cig)[None, :]                  # (co, cig)
    pres, posts, weights = [], [], []
    for ky in range(kh):
        yi = np.arange(ho) * node.stride[0] + ky * node.dilation[0] - node.padding[0]
        vy = (yi >= 0) & (yi < h)
        for kx in range(kw):
            xi = np.arange(wo) * node.stride[1] + kx * node.dilation[1] - node.padding[1]
            vx = (xi >= 0) & (xi < wi)
            yo, xo = np.nonzero(vy[:, None] & vx[None, :])
            if not len(yo):
                continue
            out_pos = yo * wo + xo                                          # (p,)
            in_pos = yi[yo] * wi + xi[xo]
            post = (np.arange(co)[:, None, None] * (ho * wo) + out_pos[None, None, :])
            pre = ci[:, :, None] * (h * wi) + in_pos[None, None, :]
            post = np.broadcast_to(post, pre.shape)
            pres.append(pre.ravel())
            posts.append(post.ravel())
            weights.append(np.broadcast_to(w[:, :, ky, kx][:, :, None], pre.shape).ravel())
    if not pres:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(pres), np.concatenate(posts), np.concatenate(weights)


def _synapses(node: ir.Node, in_shape, out_shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(node, ir.Conv2d):
        return _conv_synapses(node, in_shape, out_shape)
    w = np.asarray(node.weight, np.float64)                                 # Linear: (out, in)
    post, pre = np.indices(w.shape)
    return pre.ravel(), post.ravel(), w.ravel()


@public
def sanafe_plan(net: ir.Network) -> tuple[Any, ...]:
    """The layers SANA-FE runs for ``net``: each mapped layer (:func:`~spikeforge.mapping.connectivity.mapped_layers`)
    with its neurons' parameters, its synapses from the one mapped layer before it, and its depth.

    Returns
    -------
    tuple
        One frozen record per layer, in network order (fields ``name``, ``size``, ``readout``,
        ``source``, ``depth``, ``threshold``, ``v0``, ``bias``, ``pre``, ``post``, ``weight``).

    Raises
    ------
    UnsupportedLayerError
        A neuron model SANA-FE's soma does not share (a leak, a hard reset, synaptic current), or
        something other than one ``Conv2d``/``Linear`` (and ``Flatten``) between two mapped layers,
        or two inputs into one layer.
    InvalidNetworkError
        Weights, biases or thresholds that are not integers (quantise the network first).
    """
    from spikeforge.mapping.connectivity import mapped_layers

    net.require_snn("SANA-FE export")
    mapped = mapped_layers(net)
    layers: dict[str, _Layer] = {}
    for name in mapped:
        node = net.node(name)
        shape = tuple(net.shape(name))
        readout = not node.is_neuron
        if not readout:
            model = type(node).__name__
            if float(getattr(node, "beta", 1.0)) != 1.0 or getattr(node, "alpha", None) is not None \
                    or getattr(node, "v_reset", None) is not None or getattr(node, "recurrent", None) is not None:
                raise UnsupportedLayerError(f"SANA-FE export: layer {name} ({model}): only IF neurons (no leak, "
                                            f"reset by subtraction, no synaptic current) are exported exactly")
        cur = name if readout else node.inputs[0]
        synaptic: list[ir.Node] = []
        while True:
            n = net.node(cur)
            if isinstance(n, ir.Input) or (n.is_neuron and cur != name):
                break
            if isinstance(n, (ir.Conv2d, ir.Linear)):
                synaptic.append(n)
            elif not isinstance(n, ir.Flatten):
                raise UnsupportedLayerError(f"SANA-FE export: layer {n.name} ({type(n).__name__}) feeds {name}; "
                                            f"only one Conv2d or Linear (and Flatten) may lie between two mapped "
                                            f"layers")
            if len(n.inputs) != 1:
                raise UnsupportedLayerError(f"SANA-FE export: layer {n.name} has {len(n.inputs)} inputs")
            cur = n.inputs[0]
        source = None if isinstance(net.node(cur), ir.Input) else cur
        if len(synaptic) > 1 or (source is not None and not synaptic):
            raise UnsupportedLayerError(f"SANA-FE export: {len(synaptic)} synaptic layers between {cur} and {name}; "
                                        f"SANA-FE connects two mapped layers through one")
        syn = synaptic[0] if synaptic else None
        if syn is not None:
            _integer(syn.weight, f"layer {syn.name} weights")
        bias = _per_neuron(None if syn is None else syn.bias, shape, f"layer {name} bias")
        _integer(bias, f"layer {syn.name if syn else name} bias")
        if readout:
            threshold, v0 = np.full(math.prod(shape), _NEVER), np.zeros(math.prod(shape))
        else:
            threshold = _integer(_per_neuron(node.threshold, shape, ""), f"layer {name} thresholds")
            v0 = np.floor(float(node.v_init) * threshold)
        if source is None:
            pre = post = np.zeros(0, np.int64)
            weight = np.zeros(0)
            depth = 0
            bias = np.zeros_like(bias)  # the input's current (with the bias) is set per sample
        else:
            pre, post, weight = _synapses(syn, tuple(net.shape(syn.inputs[0])) if not isinstance(
                net.node(syn.inputs[0]), ir.Flatten) else (math.prod(net.shape(syn.inputs[0])),),
                tuple(net.shape(syn.name)))
            depth = layers[source].depth + 1
        layers[name] = _Layer(name, math.prod(shape), readout, source, depth, threshold, v0, bias,
                              pre.astype(np.int64), post.astype(np.int64), weight)
    return tuple(layers.values())


# ---------------------------------------------------------------------------------------------
# spikeforge's side of the same run


@public
def spikeforge_activity(net: ir.Network, x: ArrayLike, *, timesteps: int,
                        batch_size: int = 64) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Spikeforge's integer simulation of ``x``: spikes per neuron layer, sample and timestep, and the
    current each layer fed by the network input receives (the same every timestep).

    Returns
    -------
    spikes : dict
        Neuron layer -> int64 array (samples, T).
    currents : dict
        Input-fed neuron layer -> float64 array (samples, neurons).

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
    currents: dict[str, list[np.ndarray]] = {}

    def observe(node, ins, value) -> None:
        if not node.is_neuron:
            return
        s = value.data.reshape(value.data.shape[0], value.data.shape[1], -1)
        spikes.setdefault(node.name, []).append(s.sum(-1).to(torch.int64).T.numpy())
        if ins[0].mode == "static":
            currents.setdefault(node.name, []).append(ins[0].data.reshape(ins[0].data.shape[0], -1).numpy().copy())

    run_batches(c, data, int(timesteps), torch.as_tensor([int(timesteps)]), lambda _, v: v.data[:0],
                batch_size=batch_size, observe=observe, collapse=False)
    return ({k: np.concatenate(v) for k, v in spikes.items()},
            {k: np.concatenate(v).astype(np.float64) for k, v in currents.items()})


# ---------------------------------------------------------------------------------------------
# the architecture


def _core_maps(placement: Placement, plan: tuple[_Layer, ...]) -> dict[str, np.ndarray]:
    """Global core of every neuron of every planned layer, from the partition's pieces."""
    from spikeforge.mapping.connectivity import shape3

    part = placement.partition
    if part.partial_traffic.nnz:
        raise InfeasibleMappingError(f"SANA-FE export: partition of {part.network} splits neurons over crossbars "
                                     f"({int(part.partial_traffic.nnz)} partial-sum streams); SANA-FE has no partial sums")
    index = {name: i for i, name in enumerate(part.layers)}
    cores: dict[str, np.ndarray] = {}
    for layer in plan:
        if layer.name not in index:
            raise InvalidDataError(f"SANA-FE export: layer {layer.name} is not in the partition of {part.network}")
        cores[layer.name] = np.full(layer.size, -1, np.int64)
    cluster_core = np.asarray(placement.cluster_core, np.int64)
    for p in range(len(part.piece_cluster)):
        name = part.layers[int(part.piece_layer[p])]
        if name not in cores:
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
                  "            buffer_position: soma", "            buffer_inside_unit: false",
                  f"            max_neurons_supported: {hw.core.neurons_per_core}",
                  "          axon_in:", "            - name: sf_axon_in",
                  "              attributes: {energy_message_in: 0.0, latency_message_in: 0.0}",
                  "          soma:", "            - name: sf_soma",
                  ("              attributes: {model: leaky_integrate_fire, "
                   f"energy_access_neuron: {en.per_neuron_update_pj * _PJ!r}, latency_access_neuron: {access * _NS!r}, "
                   "energy_update_neuron: 0.0, latency_update_neuron: 0.0, "
                   f"energy_spike_out: {en.per_spike_pj * _PJ!r}, latency_spike_out: 0.0}}"),
                  "          dendrite:", "            - name: sf_dendrite",
                  "              attributes: {model: accumulator, energy_update: 0.0, latency_update: 0.0}",
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

    def as_dict(self) -> dict[str, Any]:
        return {"network": self.network, "hardware": self.hardware, "timesteps": self.timesteps,
                "steps": self.steps, "depth": dict(self.depth),
                "spikes_per_layer_timestep": {k: v.sum(0).tolist() for k, v in self.spikes.items()},
                "energy_j": dict(self.energy_j), "fill_soma_j": self.fill_soma_j, "dynamic_j": self.dynamic_j,
                "time_per_timestep_s": self.time_per_timestep_s,
                "max_time_per_timestep_s": float(self.step_time_s.max()), "events": dict(self.events),
                "spikes_identical": self.spikes_identical}


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
        if layer.source is not None and len(layer.pre):
            groups[layer.source].connect_neurons_sparse(groups[layer.name], {"w": layer.weight.tolist()},
                                                        list(zip(layer.pre.tolist(), layer.post.tolist())))
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
    InfeasibleMappingError, CapacityError
        A placement SANA-FE cannot hold (partial sums, several chips).
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
    spikes_ref, currents = spikeforge_activity(net, x, timesteps=T)
    cores = _core_maps(placement, plan)
    xbar_core = np.asarray(placement.cluster_core, np.int64)
    used = np.unique(xbar_core * hw.core.crossbars_per_core + np.asarray(placement.cluster_slot))
    crossbars = {int(c): int(n) for c, n in zip(*np.unique(used // hw.core.crossbars_per_core, return_counts=True))}
    arch_text, tile_of = architecture_yaml(hw, cores, crossbars=crossbars)
    chip, mapped = _build(sanafe, arch_text, plan, cores, tile_of)
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
                bias = currents[layer.name][s] if layer.source is None and not layer.readout \
                    else layer.bias
                if layer.source is None and layer.readout:
                    raise UnsupportedLayerError(f"SANA-FE export: read-out {layer.name} is fed by the input")
                _integer(bias, f"the input current of layer {layer.name}")
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
    fill = neurons * (steps - T) * hw.energy.per_neuron_update_pj * _PJ
    return SanafeRun(net.name, hw.name, T, steps, depth, spikes,
                     {k: v / samples for k, v in energy.items()}, fill, times,
                     {k: v / samples for k, v in events.items()}, spikes_ref)
