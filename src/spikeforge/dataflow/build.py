r"""Construction of the synchronous dataflow graph of a mapped SNN, and its guaranteed figures.

A placed, clustered SNN becomes an SDFG (Song et al., LCTES 2020; DFSynthesizer):

* **one actor per cluster** ``c<i>``. Its execution time is the time its crossbar needs for
  one timestep, from the hardware's timing and the profile's per-timestep averages,

  .. math:: e_i = t_{xbar} + \bar s_i\, t_{synop} + n_i\, t_{upd}

  with :math:`\bar s_i` the synaptic events cluster :math:`i` receives per timestep (the
  partition's ``cluster_synops``, rescaled so their sum matches the profile's synaptic
  operations plus analog input MACs per timestep), :math:`n_i` its crossbar columns (neurons
  and partial-sum columns) and :math:`t_{xbar}, t_{synop}, t_{upd}` the hardware's
  ``crossbar_eval_ns``, ``synop_ns`` and ``neuron_update_ns``. The figures are therefore
  guarantees *for the profiled average activity*; an input that makes a cluster receive more
  events than average takes longer where ``synop_ns > 0``. Every cluster actor has an
  explicit one-token self-loop ``self[c<i>]``: a crossbar serialises its own evaluations
  (SDF3's default semantics would otherwise let an actor overlap with itself);
* **one channel** ``s<i>_<j>`` per connection between clusters (spikes and partial sums),
  carrying one token per timestep whose size is the expected spikes per timestep on that
  connection (``partition.traffic`` + ``partition.partial_traffic``, rounded up, at least 1).
  A connection through Delays (``partition.layer_delays``; a recurrent connection back to an
  earlier layer) starts with one initial token per timestep of delay: the consumer's timestep
  t reads the producer's t − steps, so a loop of clusters runs ``steps`` timesteps apart;
* **a buffer back-edge** ``b<i>_<j>`` (consumer to producer) per channel: the input buffer
  of the consumer's core holds ``input_buffer_spikes`` spikes, shared by its incoming
  channels, i.e. :math:`\lfloor B / \sum_{c \to j} s_c \rfloor \ge 1` timesteps of input;
  the back-edge carries that many initial tokens (credits);
* **binding**: clusters are bound to crossbars (by the placement, or by a time-multiplexing
  :class:`~spikeforge.dataflow.binding.Schedule`) with
  :func:`~spikeforge.dataflow.binding.apply_binding`: several clusters on one crossbar form a
  static-order cycle; every channel whose endpoints sit on different cores (forward spikes
  and returning credits alike) passes through a **communication actor** ``link[<channel>]``
  with a one-token self-loop (a link serialises its transfers) and latency
  :math:`h_{noc}\,\ell_{hop} + h_{chip}\,\ell_{chip} + s/B` (hops of the dimension-order
  route, :meth:`~spikeforge.dataflow.binding.Platform.from_hardware`).

**Barrier-synchronised chips** (``timing.timestep_barrier``: Loihi's barrier, TrueNorth's tick)
never let timesteps overlap across cores: every core waits for all others at the end of a
timestep, and a spike sent in timestep :math:`t` is integrated in :math:`t+1`. Pipelining
timesteps across cores, as the graph above does, would promise a period the chip cannot reach.
On such chips the bound graph splits each cluster into its **neuron phase** ``c<i>`` (time
:math:`t_{xbar} + n_i t_{upd}`: update every neuron, emit spikes) and its **synaptic phase**
``y<i>`` (time :math:`\bar s_i t_{synop}`: look up the synapses of the spikes arriving in this
timestep), run in that static order on the cluster's crossbar. Spike channels ``s<i>_<j>`` go
from ``c<i>`` to ``y<j>`` within the timestep (through the link actor when they cross cores),
credits ``b<i>_<j>`` back from ``y<j>`` to ``c<i>``. A **barrier actor** ``barrier`` (time
``timing.barrier_ns``) fires once every actor of the timestep has (one channel from each, no
tokens) and releases every actor for the next (one channel to each, one token); on chips with a
fixed tick (``timing.timestep_ns``) a ``tick`` actor of that duration gates the barrier. The
period is then the longest chain of one timestep, e.g.
:math:`\max_{i\to j} (\max(e^c_i + \tau_{ij}, e^c_j) + e^y_j) + t_{barrier}`, and at least the tick.

One graph iteration is one timestep; :math:`T` iterations are one inference. With
:math:`\lambda` the analysed period (ns per iteration, the maximum cycle ratio), the
guaranteed throughput is :math:`10^9/(\lambda T)` inferences/s and :math:`10^9/\lambda`
timesteps/s; the latency of one inference is the completion time of the :math:`T`-th
iteration of self-timed execution from an empty pipeline (simulated; estimated as
first-iteration latency :math:`+ (T-1)\lambda` on graphs too large to simulate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spikeforge.api import public
from spikeforge.dataflow.analysis import first_iteration_end, throughput
from spikeforge.dataflow.binding import Platform, Schedule, apply_binding, link_name
from spikeforge.dataflow.selftimed import simulate
from spikeforge.errors import InvalidDataError, InvalidGraphError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
from spikeforge.ir.hardware import Hardware
from spikeforge.ir.partition import Partition
from spikeforge.ir.placement import Placement
from spikeforge.resources import check_count

if TYPE_CHECKING:
    from spikeforge.sim.simulator import Profile

__all__ = [
    "SIMULATE_LIMIT",
    "Guarantee",
    "actor_cluster",
    "application_graph",
    "build_sdfg",
    "guarantee",
    "placement_binding",
    "placement_guarantee",
]

#: Largest (actors x timesteps) for which the inference latency is simulated, not estimated.
SIMULATE_LIMIT = 200_000
#: Memory per actor or channel of a graph (the objects and their names, ~400 bytes measured) plus
#: its analysis (~150).
BYTES_PER_GRAPH_ELEMENT = 560


def _check_graph_size(partition: Partition, bound: bool, what: str) -> None:
    """Refuse, before any actor is made, a graph that does not fit in memory: per cluster an actor
    and its self-loop, per connection a channel and its buffer back-edge, and when ``bound`` per
    crossing channel a communication actor, its self-loop and one more channel."""
    from spikeforge.resources import check_memory

    n = partition.n_clusters
    edges = int(partition.traffic.nnz) + int(partition.partial_traffic.nnz)
    elements = 2 * n + 2 * edges + ((2 * n + 8 * edges) if bound else 0)
    check_memory(elements * BYTES_PER_GRAPH_ELEMENT,
                 f"{what} of {partition.network}: {n:,} clusters and {edges:,} connections")


def cluster_actor(i: int) -> str:
    """Actor name of cluster ``i``: ``"c<i>"``."""
    return f"c{i}"


def actor_cluster(name: str) -> int | None:
    """Cluster of a cluster actor name (``"c12"`` -> 12), None for other actors."""
    if name.startswith("c") and name[1:].isdigit():
        return int(name[1:])
    return None


def _cluster_synops(partition: Partition, profile) -> np.ndarray:
    syn = np.asarray(partition.cluster_synops, dtype=float)
    if profile is None or syn.sum() <= 0:
        return syn
    per_step = (profile.synops_per_sample + profile.input_macs_per_sample) / profile.timesteps
    return syn * (per_step / syn.sum())


@public
def application_graph(partition: Partition, profile: Profile | None, hw: Hardware, *, name: str | None = None
                      ) -> DataflowGraph:
    """The unbound application: cluster actors, spike channels, buffer back-edges, self-loops.

    Parameters
    ----------
    partition : Partition
    profile : Profile or None
        The profile the partition was built from (rescales synaptic events; optional).
    hw : Hardware
        Timing (execution times) and input buffer size.
    name : str, optional
        Graph name (default: the network's).

    Returns
    -------
    DataflowGraph
        Homogeneous (all rates 1); no processors.

    Raises
    ------
    InvalidDataError
        The partition has no clusters.
    ResourceError
        The graph would not fit in memory.
    """
    _check_graph_size(partition, False, "application graph")
    k = partition.n_clusters
    if k == 0:
        raise InvalidDataError(f"partition of {partition.network}: no clusters to build a graph of")
    times, src, dst, tokens, size, (i, j) = _application_columns(partition, profile, hw)
    names = [cluster_actor(c) for c in range(k)]
    pairs = [f"{a}_{b}" for a, b in zip(i.tolist(), j.tolist())]
    channel_names = [f"self[{a}]" for a in names] + [f"{kind}{p}" for p in pairs for kind in "sb"]
    rates = np.ones(len(src), dtype=np.int64)
    return DataflowGraph.from_arrays(names, times.tolist(), channel_names, src, dst, rates, rates,
                                     tokens, size, name=name or partition.network)


def _connections(partition: Partition, hw: Hardware):
    """The connections between clusters by source and destination: (i, j), the spikes per token
    (at least 1), the initial tokens of the spike channel (its delay in timesteps: a recurrent
    connection through a Delay of ``steps`` starts with ``steps`` tokens) and of the buffer
    back-edge (the credits of the consumer's input buffer, which holds the delayed tokens too),
    each in that order."""
    src, dst, tok = partition.edges()
    # merge duplicates (edges() sums spikes and partial sums into one matrix already)
    size = np.maximum(1, np.ceil(tok - 1e-9)).astype(np.int64)
    inflow = np.bincount(dst, weights=size, minlength=partition.n_clusters)
    credits = np.maximum(1, hw.core.input_buffer_spikes // np.maximum(inflow, 1)).astype(np.int64)
    order = np.lexsort((dst, src))
    i, j = src[order], dst[order]
    delay = partition.edge_delays(i, j)
    # a delay line of d timesteps needs d + 1 tokens of buffer: d waiting, one arriving
    return i, j, size[order], delay, np.maximum(credits[j], delay + 1) - delay


def _application_columns(partition: Partition, profile, hw: Hardware):
    """The application graph as columns: cluster times, then per channel (self-loops, then per
    connection by source and destination its spike channel and buffer back-edge) source,
    destination, initial tokens and token size; and the connections (i, j) in that order."""
    k = partition.n_clusters
    tm = hw.timing
    syn = _cluster_synops(partition, profile)
    times = tm.crossbar_eval_ns + syn * tm.synop_ns + partition.cluster_columns * tm.neuron_update_ns
    i, j, size, delay, credits = _connections(partition, hw)
    ids = np.arange(k)

    def column(loops, forward, back):
        return np.concatenate([loops, np.column_stack([forward, back]).ravel()])

    one, ones = np.ones(k, dtype=np.int64), np.ones(len(i), dtype=np.int64)
    return (np.asarray(times, dtype=float), column(ids, i, j), column(ids, j, i),
            column(one, delay, credits), column(one, size, ones), (i, j))


@public
def placement_binding(placement: Placement) -> dict[str, int]:
    """Cluster actor -> global crossbar ``core * crossbars_per_core + slot`` of a placement."""
    per = placement.hardware.core.crossbars_per_core
    xbar = placement.cluster_core * per + placement.cluster_slot
    return {cluster_actor(i): int(x) for i, x in enumerate(xbar.tolist())}


@public
def build_sdfg(placement: Placement, profile: Profile | None, hw: Hardware | None = None, *, timesteps: int,
               schedule: Schedule | None = None, platform: Platform | None = None
               ) -> DataflowGraph:
    """The bound SDFG of a placed SNN (see the module docstring).

    Parameters
    ----------
    placement : Placement
    profile : Profile or None
    hw : Hardware, optional
        Timing and buffers (default: the placement's hardware, whose chip count is used for
        the routes in any case).
    timesteps : int
        :math:`T`, iterations per inference (recorded in the graph name suffix-free; checked
        here so a wrong value fails early).
    schedule : Schedule, optional
        A time-multiplexed binding (clusters -> crossbars and static orders, from
        :func:`~spikeforge.dataflow.binding.bind`); default: one crossbar per cluster, as
        placed.
    platform : Platform, optional
        Default :meth:`Platform.from_hardware` of the placement's hardware.

    Returns
    -------
    DataflowGraph

    Raises
    ------
    InvalidDataError
        ``timesteps`` below 1, or an empty partition.
    InvalidGraphError
        A schedule that does not bind every cluster.
    ResourceError
        The graph would not fit in memory (checked before it is built).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from spikeforge.hardware import load_hardware
    >>> from spikeforge.ir.partition import Partition
    >>> from spikeforge.mapping.place import place
    >>> part = Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None,
    ...     timesteps=1, layers=("a", "b"), layer_shapes=((2, 1, 1), (2, 1, 1)),
    ...     piece_cluster=[0, 1], piece_layer=[0, 1], piece_part=[0, 0],
    ...     piece_box=[[0, 2, 0, 1, 0, 1], [0, 2, 0, 1, 0, 1]], cluster_rows=[1, 2],
    ...     cluster_synapses=[2, 4], cluster_memory_bits=[16, 32], cluster_spikes=[1.0, 0.5],
    ...     cluster_synops=[0, 2.0], traffic=sp.csr_matrix(([1.0], ([0], [1])), shape=(2, 2)),
    ...     partial_traffic=sp.csr_matrix((2, 2)), limits={})
    >>> hw = load_hardware("xbar-mesh")
    >>> g = build_sdfg(place(part, hw, strategy="fill"), None, hw, timesteps=4)
    >>> [a.name for a in g.actors], [(c.name, c.initial_tokens) for c in g.channels][:3]
    (['c0', 'c1', 'link[s0_1]', 'link[b0_1]'], [('self[c0]', 1), ('self[c1]', 1), ('s0_1', 0)])
    """
    check_count(timesteps, "build_sdfg: timesteps", error=InvalidDataError)
    _check_graph_size(placement.partition, True, "dataflow graph")
    hw = hw or placement.hardware
    platform = platform or Platform.from_hardware(placement.hardware)
    if hw.timing.timestep_barrier:
        return _barrier_sdfg(placement, profile, hw, schedule, platform)
    app = application_graph(placement.partition, profile, hw)
    if schedule is None:
        return apply_binding(app, placement_binding(placement), None, platform)
    missing = [a.name for a in app.actors if a.name not in schedule.binding]
    if missing:
        raise InvalidGraphError(f"build_sdfg: schedule leaves {len(missing)} cluster(s) unbound: "
                                f"{', '.join(missing[:5])}")
    return apply_binding(app, schedule.binding, schedule.orders, platform)


def synaptic_actor(i: int) -> str:
    """Actor name of cluster ``i``'s synaptic phase on a barrier-synchronised chip: ``"y<i>"``."""
    return f"y{i}"


#: The barrier and tick actors of a barrier-synchronised chip (each on a processor of its own name).
BARRIER, TICK = "barrier", "tick"


def _barrier_columns(partition: Partition, profile, hw: Hardware):
    """The barrier graph as columns (see the module docstring): actor names and times (neuron
    phases ``c<i>``, synaptic phases ``y<i>``, the barrier, the tick if any); per channel its name,
    source, destination, initial tokens and token size; and which channels are spike channels
    (``s``) or credits (``b``) between clusters, the ones that may cross cores."""
    k = partition.n_clusters
    tm = hw.timing
    syn = _cluster_synops(partition, profile)
    neuron = np.asarray(tm.crossbar_eval_ns + partition.cluster_columns * tm.neuron_update_ns, dtype=float)
    synaptic = np.asarray(syn * tm.synop_ns, dtype=float)
    tick = tm.timestep_ns is not None
    names = [cluster_actor(c) for c in range(k)] + [synaptic_actor(c) for c in range(k)] + [BARRIER] \
        + ([TICK] if tick else [])
    times = np.concatenate([neuron, synaptic, [float(tm.barrier_ns)], [float(tm.timestep_ns)] if tick else []])
    b = 2 * k
    i, j, size, delay, credits = _connections(partition, hw)
    ids = np.arange(k)
    one, ones = np.ones(k, dtype=np.int64), np.ones(len(i), dtype=np.int64)
    cols: list[tuple] = [  # (names, src, dst, tokens, size)
        ([f"self[{n}]" for n in names[:b]], np.concatenate([ids, k + ids]), np.concatenate([ids, k + ids]),
         np.concatenate([one, one]), np.concatenate([one, one])),
        ([f"{kind}{a}_{c}" for a, c in zip(i.tolist(), j.tolist()) for kind in "sb"],
         np.column_stack([i, k + j]).ravel(), np.column_stack([k + j, i]).ravel(),
         np.column_stack([delay, credits]).ravel(), np.column_stack([size, ones]).ravel()),
        ([f"done[{n}]" for n in names[:b]], np.arange(b), np.full(b, b), np.zeros(b, np.int64), np.ones(b, np.int64)),
        ([f"go[{n}]" for n in names[:b]], np.full(b, b), np.arange(b), np.ones(b, np.int64), np.ones(b, np.int64)),
        ([f"self[{BARRIER}]"], np.array([b]), np.array([b]), np.array([1]), np.array([1])),
    ]
    if tick:
        # a free-running clock: the barrier waits for the tick, the tick for nobody
        cols.append(([f"self[{TICK}]", f"{TICK}>{BARRIER}"], np.array([b + 1, b + 1]), np.array([b + 1, b]),
                     np.array([1, 0]), np.array([1, 1])))
    channel_names = [n for c in cols for n in c[0]]
    src_, dst_, tokens_, size_ = (np.concatenate([np.asarray(c[m], np.int64) for c in cols]) for m in range(1, 5))
    moving = np.zeros(len(src_), dtype=bool)
    moving[b:b + 2 * len(i)] = True
    return names, times, channel_names, src_, dst_, tokens_, size_, moving


def _barrier_sdfg(placement: Placement, profile, hw: Hardware, schedule: Schedule | None,
                  platform: Platform) -> DataflowGraph:
    """The bound graph of a barrier-synchronised chip (see the module docstring)."""
    part = placement.partition
    k = part.n_clusters
    if k == 0:
        raise InvalidDataError(f"partition of {part.network}: no clusters to build a graph of")
    names, times, channel_names, src, dst, tokens, size, _ = _barrier_columns(part, profile, hw)
    if schedule is None:
        binding = placement_binding(placement)
        orders: dict[int, list[str]] = {}
        for a, x in binding.items():
            orders.setdefault(x, []).append(a)
    else:
        missing = [cluster_actor(c) for c in range(k) if cluster_actor(c) not in schedule.binding]
        if missing:
            raise InvalidGraphError(f"build_sdfg: schedule leaves {len(missing)} cluster(s) unbound: "
                                    f"{', '.join(missing[:5])}")
        binding = {cluster_actor(c): int(schedule.binding[cluster_actor(c)]) for c in range(k)}
        orders = {int(x): list(o) for x, o in schedule.orders.items()}
    # each cluster's synaptic phase follows its neuron phase on its crossbar
    orders = {x: [n for a in o for n in (a, "y" + a[1:])] for x, o in orders.items()}
    binding = {**binding, **{"y" + a[1:]: x for a, x in binding.items()}}
    b = 2 * k
    inner = (src < b) & (dst < b)
    rates = np.ones(int(inner.sum()), dtype=np.int64)
    app = DataflowGraph.from_arrays(names[:b], times[:b].tolist(), [n for n, keep in zip(channel_names, inner) if keep],
                                    src[inner], dst[inner], rates, rates, tokens[inner], size[inner],
                                    name=part.network)
    bound = apply_binding(app, binding, orders, platform)
    extra = [Actor(name, float(t), name) for name, t in zip(names[b:], times[b:].tolist())]
    index = {n: a for n, a in enumerate(names)}
    outer = [Channel(n, index[int(a)], index[int(c)], 1, 1, int(t), int(z))
             for n, a, c, t, z, keep in zip(channel_names, src.tolist(), dst.tolist(), tokens.tolist(),
                                            size.tolist(), inner.tolist()) if not keep]
    return DataflowGraph(bound.actors + tuple(extra), bound.channels + tuple(outer), bound.name,
                         {**bound.static_orders, **{a.name: (a.name,) for a in extra}})


@dataclass(frozen=True)
class Guarantee:
    """Guaranteed performance of a bound SDFG at :math:`T` timesteps per inference.

    Attributes
    ----------
    period_ns : float
        Time per iteration (timestep) in the periodic regime, :math:`\\lambda`.
    timesteps : int
    inferences_per_s, timesteps_per_s : float
    latency_ns : float
        One inference (T iterations) from an empty pipeline.
    latency_simulated : bool
        False when the latency is the estimate first-iteration latency + (T-1) period.
    critical_actors : tuple of str
        Actors of the critical cycle.
    bottleneck : str
        The critical cycle in words: clusters mapped back to layer names, links, crossbars.
    """

    period_ns: float
    timesteps: int
    inferences_per_s: float
    timesteps_per_s: float
    latency_ns: float
    latency_simulated: bool
    critical_actors: tuple[str, ...]
    bottleneck: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"period_ns": self.period_ns, "timesteps": self.timesteps,
                "inferences_per_s": self.inferences_per_s, "timesteps_per_s": self.timesteps_per_s,
                "latency_ns": self.latency_ns, "latency_simulated": self.latency_simulated,
                "critical_actors": list(self.critical_actors), "bottleneck": self.bottleneck}


def describe_cycle(actors, partition: Partition | None, graph: DataflowGraph | None = None,
                   limit: int = 6) -> str:
    """The critical cycle's actors in words (cluster -> layer, link -> channel endpoints)."""
    clusters, links, sync = [], [], []
    for a in actors:
        i = actor_cluster(a)
        if i is None and a.startswith("y") and a[1:].isdigit():
            i = int(a[1:])  # a synaptic phase (barrier-synchronised chips)
        if i is not None:
            if i not in clusters:
                clusters.append(i)
        elif a.startswith("link["):
            links.append(a)
        elif a in (BARRIER, TICK):
            sync.append(a)
    parts = []
    if clusters:
        if partition is not None:
            layers: dict[str, list[int]] = {}
            for i in clusters:
                names = sorted({partition.layers[li] for li in
                                partition.piece_layer[partition.piece_cluster == i]})
                layers.setdefault("+".join(names), []).append(i)
            desc = [f"layer {k} (cluster{'s' if len(v) > 1 else ''} "
                    f"{', '.join(map(str, v[:limit]))}{', ...' if len(v) > limit else ''})"
                    for k, v in layers.items()]
        else:
            desc = [f"cluster {i}" for i in clusters[:limit]]
        procs = set()
        if graph is not None:
            procs = {graph.actor(cluster_actor(i)).processor for i in clusters
                     if cluster_actor(i) in graph.actor_index}
        shared = f" sharing crossbar {', '.join(sorted(p for p in procs if p))}" \
            if graph is not None and len(procs) == 1 and len(clusters) > 1 else ""
        parts.append("; ".join(desc) + shared)
    if links:
        parts.append(f"{len(links)} link(s) {', '.join(links[:3])}{', ...' if len(links) > 3 else ''}")
    if sync:
        parts.append(" and ".join(f"the timestep {a}" for a in sync))
    return " + ".join(parts) or "nothing (unbounded)"


@public
def guarantee(graph: DataflowGraph, timesteps: int, partition: Partition | None = None, *,
              simulate_limit: int = SIMULATE_LIMIT) -> Guarantee:
    """Analyse a bound SDFG: guaranteed throughput, latency per inference, bottleneck.

    Raises
    ------
    DeadlockError
        The graph deadlocks.
    InvalidGraphError
        The graph is inconsistent.
    """
    r = throughput(graph)
    period = float(r.period)
    per_s = 1e9 / period if period > 0 else math.inf
    simulated = len(graph.actors) * timesteps <= simulate_limit
    if simulated:
        run = simulate(graph, timesteps, warmup=0)
        lat = float(run.iteration_end[-1])
    else:
        if len(graph.actors) <= simulate_limit:
            first = float(simulate(graph, 1, warmup=0).iteration_end[0])
        else:
            first = first_iteration_end(graph) if graph.is_homogeneous else float("nan")
        lat = first + (timesteps - 1) * period
    crit = tuple(r.critical_cycle.actors)
    return Guarantee(period, int(timesteps), per_s / timesteps, per_s, lat, simulated, crit,
                     describe_cycle(crit, partition, graph))


#: Bytes per channel of :func:`placement_guarantee`: its columns (~60) and Howard's iteration
#: on them (``maxplus``: 48 per node, 160 per edge).
BYTES_PER_CONTRACTED_CHANNEL = 220


@public
def placement_guarantee(placement: Placement, profile: Profile | None, hw: Hardware | None = None, *,
                        timesteps: int, platform: Platform | None = None) -> Guarantee:
    r""":func:`guarantee` of :func:`build_sdfg`'s graph (one crossbar per cluster, as placed),
    computed on arrays without building the graph: for mappings whose bound graph would not fit
    in memory (U-Net-512 on ``xbar-mesh``: 1.5 million clusters, 32 million actors).

    A communication actor sits on one channel, fires once per token after the channel's
    producer and serialises its own transfers. Folding it into the channel (weight
    :math:`e_{src} + \tau`, the channel's tokens) leaves the ratio of every cycle through it
    unchanged, and its one-token self-cycle has ratio :math:`\tau`; so the period is

    .. math:: \lambda = \max\big(\lambda_{clusters}, \max_c \tau_c\big)

    with :math:`\lambda_{clusters}` the maximum cycle ratio of the clusters' graph, the same
    value :func:`guarantee` finds on the built graph (tested). The latency is the estimate first
    iteration + :math:`(T-1)\lambda` (``latency_simulated`` False); the first iteration is a
    longest path over the token-free channels, each delayed by its transfer.

    Raises
    ------
    InvalidDataError
        ``timesteps`` below 1, or an empty partition. (A placement never puts two clusters on
        one crossbar, so no static order arises.)
    CapacityError
        A crossbar outside the platform.
    DeadlockError
        A cycle of connections without tokens (the message names its clusters).
    ResourceError
        The arrays would not fit in memory (checked before they are made).
    """
    from spikeforge.dataflow.analysis import first_firing_ends
    from spikeforge.dataflow.maxplus import MaxCycle, max_cycle_ratio
    from spikeforge.errors import CapacityError, DeadlockError
    from spikeforge.resources import check_memory

    check_count(timesteps, "placement_guarantee: timesteps", error=InvalidDataError)
    part = placement.partition
    k = part.n_clusters
    if k == 0:
        raise InvalidDataError(f"partition of {part.network}: no clusters to analyse")
    channels = k + 2 * (int(part.traffic.nnz) + int(part.partial_traffic.nnz))
    check_memory(channels * BYTES_PER_CONTRACTED_CHANNEL,
                 f"placement_guarantee of {part.network}: {k:,} clusters and {channels:,} channels")
    hw = hw or placement.hardware
    platform = platform or Platform.from_hardware(placement.hardware)
    xbar = placement.cluster_core.astype(np.int64) * placement.hardware.core.crossbars_per_core \
        + placement.cluster_slot
    if int(xbar.max()) >= platform.crossbars:
        raise CapacityError(f"placement_guarantee: crossbar {int(xbar.max())} outside the platform's "
                            f"{platform.crossbars}")
    if hw.timing.timestep_barrier:
        return _barrier_guarantee(part, profile, hw, int(timesteps), platform, xbar)
    times, src, dst, tokens, size, (i, j) = _application_columns(part, profile, hw)
    tau = platform.transfer_time_array(xbar[src], xbar[dst], size)
    del size  # U-Net-512: each column is 250 MB
    free = tokens == 0
    end, stuck = first_firing_ends(k, src[free], dst[free], times, tau[free])
    if stuck is not None:
        cycle = [cluster_actor(c) for c in stuck]
        raise DeadlockError(f"dataflow graph of {part.network} deadlocks: cycle "
                            f"{' -> '.join(cycle + cycle[:1])} is blocked")
    crossing = tau > 0
    first = max(float(end.max()), float((end[src] + tau)[crossing].max(initial=0.0)))
    weight = times[src] + tau
    # Start Howard's iteration from the best short cycle: a cluster's self-loop, or a connection's
    # spike channel and its credit back-edge (often critical; a far start costs iterations of
    # work over every edge)
    pair = weight[k::2] + weight[k + 1::2]
    ratio = pair / (tokens[k::2] + tokens[k + 1::2])
    if len(ratio) and ratio.max() > weight[:k].max():
        q = int(np.argmax(ratio))
        hint = [k + 2 * q, k + 2 * q + 1]
    else:
        hint = [int(np.argmax(weight[:k]))]
    # sorted by source, Howard's iteration takes the columns as they are (no copies)
    by_src = np.argsort(src, kind="stable")
    position = np.empty_like(by_src)
    position[by_src] = np.arange(len(by_src))
    src, dst, weight, tokens = src[by_src], dst[by_src], weight[by_src], tokens[by_src]
    best = max_cycle_ratio(k, src, dst, weight, tokens, hint=position[hint])
    best = MaxCycle(best.value, best.nodes, tuple(by_src[list(best.edges)].tolist()))
    slowest = int(np.argmax(tau)) if len(tau) else 0

    def channel(e: int) -> str:
        if e < k:
            return f"self[{cluster_actor(e)}]"
        q, kind = divmod(e - k, 2)
        return f"{'sb'[kind]}{int(i[q])}_{int(j[q])}"

    if len(tau) and tau[slowest] > best.value:  # a link's own transfers are the bottleneck
        period, critical = float(tau[slowest]), (link_name(channel(slowest)),)
    else:
        period = float(best.value)
        critical = tuple(name for node, e in zip(best.nodes, best.edges)
                         for name in (cluster_actor(node),) + ((link_name(channel(e)),) if crossing[e] else ()))
    per_s = 1e9 / period if period > 0 else math.inf
    return Guarantee(period, int(timesteps), per_s / timesteps, per_s, first + (timesteps - 1) * period,
                     False, critical, describe_cycle(critical, part))


def _barrier_guarantee(part: Partition, profile, hw: Hardware, timesteps: int, platform: Platform,
                       xbar: np.ndarray) -> Guarantee:
    """:func:`placement_guarantee` on a barrier-synchronised chip: the same folding of link actors
    into their channels, on the graph of :func:`_barrier_columns` plus each crossbar's static order
    (neuron phase, then synaptic phase)."""
    from spikeforge.dataflow.analysis import first_firing_ends
    from spikeforge.dataflow.maxplus import max_cycle_ratio
    from spikeforge.errors import DeadlockError

    k = part.n_clusters
    names, times, channel_names, src, dst, tokens, size, moving = _barrier_columns(part, profile, hw)
    n = len(names)
    node_xbar = np.concatenate([xbar, xbar, np.full(n - 2 * k, -1)])
    tau = np.zeros(len(src))
    tau[moving] = platform.transfer_time_array(node_xbar[src[moving]], node_xbar[dst[moving]], size[moving])
    ids = np.arange(k)
    channel_names = channel_names + [f"order[{cluster_actor(c)}]" for c in range(k)] \
        + [f"order[{synaptic_actor(c)}]" for c in range(k)]
    src = np.concatenate([src, ids, k + ids])
    dst = np.concatenate([dst, k + ids, ids])
    tokens = np.concatenate([tokens, np.zeros(k, np.int64), np.ones(k, np.int64)])
    tau = np.concatenate([tau, np.zeros(2 * k)])
    free = tokens == 0
    end, stuck = first_firing_ends(n, src[free], dst[free], times, tau[free])
    if stuck is not None:
        cycle = [names[c] for c in stuck]
        raise DeadlockError(f"dataflow graph of {part.network} deadlocks: cycle "
                            f"{' -> '.join(cycle + cycle[:1])} is blocked")
    crossing = tau > 0
    first = max(float(end.max()), float((end[src] + tau)[crossing].max(initial=0.0)))
    by_src = np.argsort(src, kind="stable")
    best = max_cycle_ratio(n, src[by_src], dst[by_src], (times[src] + tau)[by_src], tokens[by_src])
    edges = by_src[list(best.edges)]
    slowest = int(np.argmax(tau)) if len(tau) else 0
    if len(tau) and tau[slowest] > best.value:  # a link's own transfers are the bottleneck
        period, critical = float(tau[slowest]), (link_name(channel_names[slowest]),)
    else:
        period = float(best.value)
        critical = tuple(name for node, e in zip(best.nodes, edges.tolist())
                         for name in (names[node],) + ((link_name(channel_names[e]),) if crossing[e] else ()))
    per_s = 1e9 / period if period > 0 else math.inf
    return Guarantee(period, timesteps, per_s / timesteps, per_s, first + (timesteps - 1) * period,
                     False, critical, describe_cycle(critical, part))
