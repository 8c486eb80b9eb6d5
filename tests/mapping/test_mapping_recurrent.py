"""Partitioners, placers and the SDFG on recurrent networks whose loops do not fit one crossbar.

A recurrent loop split over several crossbars is a cycle of clusters; it is fine in the dataflow
graph as long as every cycle carries initial tokens, which the loop's Delay gives (one per
timestep of delay). The properties, over random small recurrent networks on tiny crossbars,
for every partitioner and placer: the mapping ends, every neuron sits in exactly
one cluster, every synapse (recurrent ones too) is counted once, every cluster fits its
crossbar, the SDFG is live with the Delays' tokens, and its Max-Plus period is a guarantee the
self-timed execution meets (and never misses with faster firings)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mapping_helpers import graph_partition, small_hw

from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.build import build_sdfg, guarantee, placement_guarantee
from spikeforge.dataflow.consistency import blocked_cycle
from spikeforge.dataflow.selftimed import simulate as self_timed
from spikeforge.errors import InfeasibleMappingError
from spikeforge.ir import network as ir
from spikeforge.mapping.connectivity import afferents, mapped_layers
from spikeforge.mapping.partition import PARTITIONERS, partition
from spikeforge.mapping.place import PLACERS, place
from spikeforge.sim.simulator import simulate

ITERATIONS = 48  # self-timed iterations: enough to reach the periodic regime of these small graphs


@st.composite
def recurrent_nets(draw):
    """A chain of 1–3 LIF layers of 6–12 neurons fed by a spiking input, with 1–3 loops: a Delay of
    1–3 steps from a layer back into the same or an earlier one, through sparse random weights."""
    n_in = draw(st.integers(2, 6))
    sizes = draw(st.lists(st.integers(6, 12), min_size=1, max_size=3))
    loops = draw(st.lists(st.tuples(st.integers(0, len(sizes) - 1), st.integers(0, len(sizes) - 1),
                                    st.integers(1, 3)), min_size=1, max_size=3))
    loops = [(max(a, b), min(a, b), steps) for a, b, steps in loops]  # from a layer back to itself or earlier
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)

    def weights(n_out, n_in_):
        w = rng.normal(0.4, 0.5, (n_out, n_in_)) * (rng.random((n_out, n_in_)) < 0.6)
        return w.astype(np.float32)

    nodes = [ir.Input("x", (), (n_in,), temporal=True)]
    nodes += [ir.Delay(f"d{k}", (f"n{src}",), steps=steps, shape=(sizes[src],)) for k, (src, _, steps) in enumerate(loops)]
    prev, prev_size = "x", n_in
    for i, size in enumerate(sizes):
        terms = [f"fc{i}"]
        nodes.append(ir.Linear(f"fc{i}", (prev,), weights(size, prev_size)))
        for k, (src, dst, _) in enumerate(loops):
            if dst == i:
                nodes.append(ir.Linear(f"rec{k}", (f"d{k}",), weights(size, sizes[src])))
                terms.append(f"rec{k}")
        if len(terms) > 1:
            nodes.append(ir.Add(f"sum{i}", tuple(terms)))
        nodes.append(ir.LIF(f"n{i}", (terms[0] if len(terms) == 1 else f"sum{i}",),
                            threshold=np.float32(1.0), beta=0.9))
        prev, prev_size = f"n{i}", size
    net = ir.Network(tuple(nodes), (prev,), f"rnn{seed}")
    x = (rng.random((2, 6, n_in)) < 0.5).astype(np.float32)
    return net, x, [(f"n{src}", f"n{dst}", steps) for src, dst, steps in loops], sizes


def _synapses(net: ir.Network) -> int:
    return sum(a.synapses() for layer in mapped_layers(net) for a in afferents(net, layer))


def check_mapping(net, profile, hw, strategy, placer, loops, timesteps=6, fan_in="split"):
    """Map ``net`` with ``strategy`` and ``placer`` and check every property in the module docstring;
    ``loops``: (from layer, to layer, steps) of each Delay."""
    p = partition(net, profile, hw, strategy=strategy, fan_in=fan_in)
    lim = p.limits
    # every neuron in exactly one cluster: part-0 pieces (the neurons' roots) tile each layer once
    for li, shape in enumerate(p.layer_shapes):
        cover = np.zeros(shape, np.int64)
        for c0, c1, h0, h1, w0, w1 in p.piece_box[(p.piece_layer == li) & (p.piece_part == 0)]:
            cover[c0:c1, h0:h1, w0:w1] += 1
        assert (cover == 1).all(), p.layers[li]
    # every synapse once, the recurrent ones included (an unrolled chain adds one per link and
    # neuron: a piece of part > 0 passes its sums on); each loop's delay recorded
    box = p.piece_box[p.piece_part > 0]
    chain = int(np.prod(box[:, 1::2] - box[:, 0::2], axis=1).sum()) if fan_in == "unroll" else 0
    assert int(p.cluster_synapses.sum()) == _synapses(net) + chain
    least: dict[tuple[int, int], int] = {}  # two loops between the same layers: the least delay
    for src, dst, steps in loops:
        pair = (p.layers.index(src), p.layers.index(dst))
        least[pair] = min(steps, least.get(pair, steps))
    assert {(a, b): s for a, b, s in p.layer_delays if s} == least
    # capacity
    assert (p.cluster_columns <= lim["columns"]).all() and (p.cluster_rows <= lim["rows"]).all()
    assert (p.cluster_memory_bits <= lim["memory_bits"]).all()
    # placement and the SDFG: live, the delays as initial tokens, a finite guaranteed period
    board = hw.with_chips(-(-p.n_clusters // hw.cores_per_chip))
    pl = place(p, board, strategy=placer, seed=0)
    assert len(np.unique(pl.cluster_core)) == p.n_clusters
    graph = build_sdfg(pl, profile, board, timesteps=timesteps)
    assert blocked_cycle(graph) is None
    i, j, _ = p.edges()
    delays = dict(zip(zip(i.tolist(), j.tolist()), p.edge_delays(i, j).tolist()))
    tokens: dict[tuple[int, int], int] = {}  # a spike channel crossing cores runs through its link actor
    for ch in graph.channels:
        name = ch.name.removeprefix("link[").removesuffix("].out")
        if re.fullmatch(r"s\d+_\d+", name):
            pair = tuple(map(int, name[1:].split("_")))
            tokens[pair] = tokens.get(pair, 0) + ch.initial_tokens
    assert tokens == delays
    assert set(delays.values()) <= {0} | {steps for *_, steps in loops}
    g = guarantee(graph, timesteps, p)
    assert 0 < g.period_ns < float("inf")
    assert placement_guarantee(pl, profile, board, timesteps=timesteps).period_ns == pytest.approx(g.period_ns)
    check_guarantee(graph, g.period_ns)
    return p


def check_guarantee(graph, period):
    """The analysed period is a guarantee of self-timed execution: the execution settles into it
    (eventually periodic with it), and firings drawn no slower than their execution times end no
    later. (The first iteration plus a period per iteration is no bound: a first iteration that
    meets no congestion can be followed by slower ones.)"""
    iterations = ITERATIONS
    while True:  # a long transient (a slow link met after many iterations) needs more iterations
        worst = np.asarray(self_timed(graph, iterations, warmup=0).iteration_end, dtype=float)
        tol = 1e-9 * period * iterations
        if any(abs(worst[-1] - worst[-1 - c] - c * period) <= tol for c in range(1, 25)) or iterations > 1000:
            break
        iterations *= 4
    assert any(abs(worst[-1] - worst[-1 - c] - c * period) <= tol for c in range(1, 25))
    assert throughput(graph).period == pytest.approx(period)
    rng = random.Random(len(graph.actors))
    quick = self_timed(graph, iterations, warmup=0,
                       execution_time=lambda a, k: a.execution_time * rng.random()).iteration_end
    assert (np.asarray(quick, dtype=float) <= worst + tol).all()


@pytest.mark.parametrize("strategy", sorted(PARTITIONERS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_nets(), st.integers(2, 5), st.sampled_from([4, 8, 32]), st.sampled_from(sorted(PLACERS)),
       st.booleans(), st.sampled_from(["split", "unroll"]))
def test_recurrent_loops_larger_than_a_crossbar_map_to_a_live_guarantee(strategy, case, cols, rows, placer, barrier,
                                                                         fan_in):
    """Crossbars of 2–5 columns, fewer than the loops' neurons (6–12 per layer), and of 4–32 rows,
    often fewer than a neuron's inputs (split or unrolled), on a chip with or without a timestep
    barrier."""
    net, x, loops, sizes = case
    hw = small_hw(rows, cols)
    if barrier:
        hw = hw.replace(timing={"timestep_barrier": True})
    profile = simulate(net, x, timesteps=x.shape[1]).profile
    p = check_mapping(net, profile, hw, strategy, placer, loops, fan_in=fan_in)
    assert p.n_clusters >= -(-max(sizes) // cols)


@pytest.mark.parametrize("strategy", sorted(PARTITIONERS))
def test_a_loop_split_over_crossbars_is_a_cycle_of_clusters_with_the_delay_as_tokens(strategy):
    """200 recurrent neurons on 128-column crossbars: the loop's clusters form a cycle whose
    channels start with the Delay's 2 tokens (was: refused by ``tiles``, recursion without end in
    ``greedy`` and ``hypergraph``)."""
    rng = np.random.default_rng(0)
    h = 200
    net = ir.Network((ir.Input("x", (), (8,)), ir.Linear("fc", ("x",), rng.normal(0, 1, (h, 8)).astype(np.float32)),
                      ir.Delay("back", ("rec",), steps=2, shape=(h,)), ir.Add("sum", ("fc", "back")),
                      ir.CubaLIF("n", ("sum",), threshold=np.float32(1), alpha=0.5, beta=0.9),
                      ir.Linear("rec", ("n",), (rng.normal(0, 0.1, (h, h)) * (rng.random((h, h)) < 0.2))
                                .astype(np.float32))), ("n",))
    profile = simulate(net, rng.random((2, 8)), timesteps=4).profile
    hw = small_hw(128, 128, mesh=8)
    p = check_mapping(net, profile, hw, strategy, "min-cut", [("n", "n", 2)], timesteps=4)
    i, j, _ = p.edges()
    spikes = np.asarray(p.partial_traffic[i, j]).ravel() == 0  # partial sums of a split neuron: same timestep
    assert p.n_clusters >= 2 and spikes.any() and set(p.edge_delays(i[spikes], j[spikes]).tolist()) == {2}


def test_a_neuron_larger_than_the_synapse_memory_is_refused():
    """A neuron whose synapses alone exceed a crossbar's memory ends the neuron-level partitioners
    in one line (the hypergraph repair would otherwise re-bisect it for ever)."""
    net = ir.Network((ir.Input("x", (), (8,)), ir.Linear("fc", ("x",), np.ones((3, 8), np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(1))), ("n",))
    profile = simulate(net, np.ones((1, 8), np.float32), timesteps=2).profile
    hw = small_hw(8, 4).replace(core={"synapse_memory_bits": 32})
    for strategy in ("greedy", "hypergraph"):
        with pytest.raises(InfeasibleMappingError, match=r"layer n: a neuron's 8 synapses need 64 bits, "
                                                         r"a crossbar holds 32"):
            partition(net, profile, hw, strategy=strategy)


def test_a_cycle_that_splitting_cannot_break_is_refused():
    """The rounds of cluster splitting are bounded: a cycle of undelayed connections among
    clusters of one layer part each (which no network yields: only a Delay reads a later layer)
    ends them in one line instead of looping."""
    from spikeforge.mapping.partition import _acyclic

    ring = graph_partition(sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(2, 2)))
    with pytest.raises(InfeasibleMappingError, match=r"partition of graph: 2 clusters of 2 pieces keep a cycle of "
                                                     r"connections without a delay that splitting cannot break"):
        _acyclic("graph", np.arange(2), np.zeros(2, np.int64), np.zeros(2, np.int64), lambda assign: ring)
