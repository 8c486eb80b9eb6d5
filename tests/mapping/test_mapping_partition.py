"""Partitioners (``spikeforge.mapping.partition``): clusters, their limits and traffic (fast: small hand-built networks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mapping_helpers import conv_net, dense_net, profile_of, small_hw

from spikeforge.errors import (
    InfeasibleMappingError,
    InvalidDataError,
    InvalidHardwareSpecError,
    NotConvertedError,
    UnknownStrategyError,
)
from spikeforge.hardware import load_hardware
from spikeforge.ir import network as ir
from spikeforge.mapping.partition import (
    PARTITIONERS,
    chain_sum,
    partition,
    unroll_chain,
)
from spikeforge.mapping.place import place
from spikeforge.sim.simulator import simulate


def _neuron_inputs(net):
    """Reference: presynaptic (source, flat index) sets of every mapped neuron, by brute force."""
    import scipy.sparse as sp

    from spikeforge.mapping.connectivity import afferents, mapped_layers
    out = {}
    for name in mapped_layers(net):
        for a in afferents(net, name):
            m = a.channel if a.flat else sp.kron(a.channel, sp.kron(a.rows, a.cols, format="csr"), format="csr")
            m = sp.csr_matrix(m)
            for i in range(m.shape[0]):
                out.setdefault((name, i), set()).update((a.source, int(j)) for j in m.indices[m.indptr[i]:m.indptr[i + 1]])
    return out


# -- golden: the seed-style example --------------------------------------------------------------
def test_golden_seed_example_greedy_clusters():
    """4 inputs → 4 hidden → 2 outputs on 4-row, 4-column crossbars (F = 4 > fan-in 4: no unrolling),
    then the same on 2-row crossbars (F = 2): every 4-input neuron becomes a chain 2 + 1 + 1."""
    net = dense_net()
    prof = profile_of(net)
    p = partition(net, prof, small_hw(4, 4), strategy="greedy", fan_in="unroll")
    # hidden layer: 4 neurons share the 4 input rows -> one crossbar; output layer: another
    assert p.n_clusters == 2
    assert p.cluster_columns.tolist() == [4, 2] and p.cluster_rows.tolist() == [4, 4]
    assert unroll_chain(4, 2) == [2, 1, 1]
    p2 = partition(net, prof, small_hw(2, 4), strategy="greedy", fan_in="unroll")
    assert p2.cluster_columns.sum() == 6 * 3  # 6 neurons × 3 chain nodes
    assert (p2.cluster_rows <= 2).all()
    assert p2.partial_traffic.nnz > 0


# -- properties -----------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 400), st.integers(2, 40))
def test_unroll_chain_formula_and_sum(fan_in, limit):
    counts = unroll_chain(fan_in, limit)
    assert sum(counts) == fan_in
    assert counts[0] == min(fan_in, limit) and all(1 <= c <= limit - 1 for c in counts[1:])
    if fan_in > limit:
        assert len(counts) == 1 + -(-(fan_in - limit) // (limit - 1))
    rng = np.random.default_rng(fan_in)
    v, w = rng.random(fan_in), rng.random(fan_in)
    assert chain_sum(v, w, limit) == pytest.approx(float(v @ w))


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(sorted(PARTITIONERS)), st.sampled_from(["split", "unroll"]),
       st.integers(3, 12), st.integers(2, 9), st.integers(0, 3))
def test_partition_invariants(strategy, fan_in, rows, cols, seed):
    net = conv_net(seed=seed)
    prof = profile_of(net, seed)
    hw = small_hw(max(rows, 10) if fan_in == "unroll" else rows, cols)
    try:
        p = partition(net, prof, hw, strategy=strategy, fan_in=fan_in)
    except InfeasibleMappingError:
        return
    # every neuron in exactly one part-0 piece
    for li, name in enumerate(p.layers):
        C, H, W = p.layer_shapes[li]
        cover = np.zeros((C, H, W), int)
        for b in p.piece_box[(p.piece_layer == li) & (p.piece_part == 0)]:
            cover[b[0]:b[1], b[2]:b[3], b[4]:b[5]] += 1
        assert (cover == 1).all(), name
    lim = p.limits
    assert (p.cluster_rows <= lim["rows"]).all()
    assert (p.cluster_columns <= lim["columns"]).all()
    assert (p.cluster_memory_bits <= lim["memory_bits"]).all()
    # spikes emitted equal the profile's spike counts
    total = sum(prof.layer(n).spikes for n in p.layers if prof.layer(n).spike_counts is not None)
    assert p.cluster_spikes.sum() == pytest.approx(total / (prof.samples * prof.timesteps))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 5))
def test_traffic_counts_each_destination_cluster_once(seed):
    net = conv_net(seed=seed)
    prof = profile_of(net, seed)
    for strategy in ("greedy", "tiles"):
        p = partition(net, prof, small_hw(128, 8), strategy=strategy, fan_in=None)
        # reference: for each source neuron, the set of clusters holding a neuron that reads it
        owner = {}
        for i in range(len(p.piece_box)):
            b = p.piece_box[i]
            _, H, W = p.layer_shapes[p.piece_layer[i]]
            for c in range(b[0], b[1]):
                for h in range(b[2], b[3]):
                    for w in range(b[4], b[5]):
                        owner[(p.layers[p.piece_layer[i]], (c * H + h) * W + w)] = p.piece_cluster[i]
        dest = {}
        for (name, i), pre in _neuron_inputs(net).items():
            for src in pre:
                if src[0] in p.layers:
                    dest.setdefault(src, set()).add(owner[(name, i)])
        ref = np.zeros((p.n_clusters, p.n_clusters))
        for (name, i), clusters in dest.items():
            r = prof.rates(name).ravel()[i]
            for c in clusters:
                ref[owner[(name, i)], c] += r
        np.testing.assert_allclose(p.traffic.toarray(), ref, atol=1e-9)


# -- errors ---------------------------------------------------------------------------------------
def test_fan_in_infeasible_names_layer_and_numbers():
    net = conv_net()
    with pytest.raises(InfeasibleMappingError, match=r"layer n1: neuron .* has 9 inputs, crossbar has 8 rows"):
        partition(net, profile_of(net), small_hw(8, 8), strategy="tiles", fan_in=None)
    with pytest.raises(InfeasibleMappingError, match=r"layer n1: .*9 inputs, crossbar has 8 rows"):
        partition(net, profile_of(net), small_hw(8, 8), strategy="greedy", fan_in=None)


def test_unknown_strategies_and_bad_profile():
    net = conv_net()
    prof = profile_of(net)
    with pytest.raises(UnknownStrategyError, match="unknown partitioner 'nope'; known: greedy, tiles, hypergraph"):
        partition(net, prof, small_hw(), strategy="nope")
    with pytest.raises(InvalidDataError, match="fan_in='both'"):
        partition(net, prof, small_hw(), fan_in="both")
    with pytest.raises(InvalidDataError, match="profile (has no spike counts for|of layer) n1"):
        partition(net, profile_of(dense_net()), small_hw(64, 8))
    with pytest.raises(InvalidHardwareSpecError, match="unknown hardware"):
        partition(net, prof, "no-such-chip")


def test_partition_needs_a_converted_snn():
    relu = ir.Network((ir.Input("x", (), (4,)),
                       ir.Linear("fc", ("x",), np.ones((2, 4), np.float32)), ir.ReLU("r", ("fc",))),
                      outputs=("r",), name="ann")
    with pytest.raises(NotConvertedError, match="partition: network ann has no spiking neurons; convert it first"):
        partition(relu, profile_of(dense_net()), small_hw())


def test_plan_search_matches_exhaustive_choice():
    """The pruned, cached tile-shape search picks a shape with the fewest crossbars an exhaustive scan finds."""
    from spikeforge.mapping import partition as pm
    net = conv_net(c=4, size=8)
    prof = profile_of(net)
    ctx = pm._context(net, prof, small_hw(200, 16), "split")
    for li in range(len(ctx.layers)):
        plan = pm._plan_layer(ctx, li, "rows")[0]
        C, H, W = ctx.shapes[li]
        best = min(-(-C // cc) * -(-H // bh) * -(-W // bw) for cc in pm._candidates(C) for bh in pm._candidates(H)
                   for bw in pm._candidates(W) if cc * bh * bw <= 16)
        assert plan.clusters == best  # no shape an exhaustive scan finds needs fewer
        assert plan.cc * plan.bh * plan.bw <= 16


@pytest.mark.parametrize("strategy", sorted(PARTITIONERS))
@pytest.mark.parametrize("hidden", [16, 40])
def test_packed_clusters_never_form_a_cycle(strategy, hidden):
    """A small MLP on 128-row crossbars: the first layer's fan-in (784) is split, and packing its
    last part with the next layer once made a two-cluster loop that deadlocked the dataflow graph."""
    import scipy.sparse as sp

    from spikeforge.dataflow.build import build_sdfg, guarantee

    rng = np.random.default_rng(hidden)
    net = ir.Network((ir.Input("x", (), (784,)),
                      ir.Linear("l1", ("x",), rng.normal(0, 0.05, (hidden, 784)).astype(np.float32)),
                      ir.IF("n1", ("l1",), threshold=np.float32(1)),
                      ir.Linear("l2", ("n1",), rng.normal(0, 0.3, (10, hidden)).astype(np.float32)),
                      ir.IF("n2", ("l2",), threshold=np.float32(1))), outputs=("n2",))
    x = rng.random((4, 784)).astype(np.float32)
    prof = simulate(net, x, timesteps=4).profile
    hw = load_hardware("xbar-mesh")
    p = partition(net, prof, hw, strategy=strategy)
    links = (p.traffic + p.partial_traffic).tolil()
    links.setdiag(0)
    n_scc, _ = sp.csgraph.connected_components(links.tocsr(), directed=True, connection="strong")
    assert n_scc == p.n_clusters
    pl = place(p, hw, chips=-(-p.n_clusters // hw.crossbars_per_chip))
    assert guarantee(build_sdfg(pl, prof, hw, timesteps=4), 4, p).inferences_per_s > 0


def _lenet(seed=0):
    """LeNet-5's layer shapes for 28×28 inputs (6 and 16 5×5 convolutions, average pooling, 120-84-10)."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.normal(0, 1 / np.sqrt(np.prod(shape[1:])), shape).astype(np.float32)

    return ir.Network((ir.Input("x", (), (1, 28, 28)),
                       ir.Conv2d("c1", ("x",), w(6, 1, 5, 5)), ir.IF("n1", ("c1",), threshold=np.float32(1)),
                       ir.AvgPool2d("p1", ("n1",), kernel=(2, 2)),
                       ir.Conv2d("c2", ("p1",), w(16, 6, 5, 5)), ir.IF("n2", ("c2",), threshold=np.float32(1)),
                       ir.AvgPool2d("p2", ("n2",), kernel=(2, 2)), ir.Flatten("f", ("p2",)),
                       ir.Linear("l3", ("f",), w(120, 256)), ir.IF("n3", ("l3",), threshold=np.float32(1)),
                       ir.Linear("l4", ("n3",), w(84, 120)), ir.IF("n4", ("l4",), threshold=np.float32(1)),
                       ir.Linear("l5", ("n4",), w(10, 84))), outputs=("l5",), name="lenet")


@pytest.mark.parametrize("strategy", ["tiles", "hypergraph"])
def test_tile_partitioners_match_greedy_crossbars_on_lenet_loihi(strategy):
    """LeNet-5 on Loihi cores: neuron-level greedy needs 10. The cheapest tile shapes alone (six
    full-width partial-sum parts for the second convolution) pack into no fewer than 12 acyclic
    clusters (the last two layers cannot join the first without a cycle); with the shape search
    the second convolution takes six spatial tiles, some beside first-layer tiles: 10."""
    net = _lenet()
    prof = profile_of(net)
    hw = load_hardware("loihi")
    greedy = partition(net, prof, hw, strategy="greedy").n_clusters
    p = partition(net, prof, hw, strategy=strategy)
    assert greedy == 10
    assert p.n_clusters <= greedy
    assert (p.cluster_layer == -1).sum() >= 2  # mixed clusters: packing did the work


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["split", "unroll"]), st.sampled_from([20, 40, 64, 100]), st.integers(2, 32), st.integers(0, 2))
@example("split", 100, 32, 0)
@example("unroll", 64, 20, 1)
def test_packing_leaves_no_cycle_to_split(fan_in, rows, cols, seed):
    """Tiles are packed around cycles, not split after the fact: the packed cluster graph is
    already acyclic for the cheapest and the dearest shortlisted tile shapes. (Packing first-fit
    without the check closed a cycle in the two examples, among others.)"""
    import scipy.sparse as sp

    from spikeforge.mapping import partition as pm

    net = conv_net(c=3, size=8, seed=seed)
    hw = small_hw(rows, cols)
    try:
        ctx = pm._context(net, profile_of(net, seed), hw, fan_in)
        options = [pm._plan_layer(ctx, li, "rows") for li in range(len(ctx.layers))]
    except InfeasibleMappingError:
        return
    for plans in ([o[0] for o in options], [o[-1] for o in options]):
        built, traffic, partial, assign = pm._packed_tiles(ctx, plans)
        k = int(assign.max()) + 1
        agg = sp.csr_matrix((np.ones(len(assign)), (np.arange(len(assign)), assign)), shape=(len(assign), k))
        links = agg.T @ (traffic + partial) @ agg
        assert pm._split_cycles(assign, built.piece_layer, built.piece_part, links) is None
