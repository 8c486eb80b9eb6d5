"""Mapping figures (``spikeforge.mapping.report``): the inter-chip traffic bound, the traffic summary
of a placement and the energy model behind it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from mapping_helpers import (
    chips_hw,
    dense_net,
    graph_partition,
    profile_of,
    random_graph,
    small_hw,
)

from spikeforge.errors import InvalidDataError
from spikeforge.mapping.partition import partition
from spikeforge.mapping.place import PLACERS, place
from spikeforge.mapping.report import interchip_bound, mapping_energy, traffic_summary


def _split_partition(seed=0):
    """Tiles of a dense net whose 40 inputs need 3 crossbars of 16 rows: partial sums flow."""
    net = dense_net(n_in=40, n_hidden=12, n_out=4, seed=seed)
    prof = profile_of(net, seed)
    return partition(net, prof, small_hw(16, 4), strategy="tiles", fan_in="split"), prof


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([None, *sorted(PLACERS)]), st.integers(0, 50), st.sampled_from([2, 4, 8]))
def test_no_placement_beats_the_interchip_bound(strategy, seed, per_chip):
    """Any assignment of clusters to chips (a random one, or a placer's) sends at least the bound."""
    p, prof = _split_partition(seed % 4)
    bound = interchip_bound(p, per_chip)
    assert p.partial_traffic.nnz
    if strategy is None:
        chip = np.random.default_rng(seed).permutation(p.n_clusters) // per_chip
    else:
        hw = small_hw(16, 4).replace(chip={"mesh_x": per_chip, "mesh_y": 1})
        pl = place(p, hw.with_chips(-(-p.n_clusters // per_chip)), strategy=strategy, seed=seed)
        chip = pl.cluster_chip
        assert traffic_summary(pl, prof).interchip_traffic_bound == pytest.approx(bound.total)
    sent = 0.0
    for m in (p.traffic.tocoo(), p.partial_traffic.tocoo()):
        sent += float(m.data[chip[m.row] != chip[m.col]].sum()) * p.timesteps
    assert sent >= bound.total - 1e-9


def test_interchip_bound_is_zero_when_one_chip_holds_everything():
    p, _ = _split_partition()
    assert interchip_bound(p, p.n_clusters).total == 0
    assert interchip_bound(p, 2).partial_sums > 0  # 3-crossbar split groups cannot share a 2-crossbar chip
    with pytest.raises(InvalidDataError, match="crossbars_per_chip=0: must be ≥ 1"):
        interchip_bound(p, 0)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 30), st.integers(1, 5), st.integers(0, 100), st.sampled_from(sorted(PLACERS)))
def test_summary_splits_every_token_by_where_it_goes(n, cap, seed, strategy):
    """Spikes inside a core, between cores of a chip and between chips add up to all spikes sent;
    every token that crosses chips costs at least one inter-chip hop, and the summary's hop
    count is the energy model's."""
    g = random_graph(n, seed)
    p = graph_partition(sp.triu(g).tocsr(), partial=sp.tril(g, -1).tocsr() * 0.5)
    pl = place(p, chips_hw(cap, -(-n // cap) + 1), strategy=strategy, seed=seed)
    r = traffic_summary(pl)
    assert r.spikes_inside_cores + r.spikes_between_cores + r.spikes_between_chips == pytest.approx(p.traffic.sum())
    chip = pl.cluster_chip
    crossing = sum(float(m.data[chip[m.row] != chip[m.col]].sum()) for m in (p.traffic.tocoo(),
                                                                           p.partial_traffic.tocoo()))
    assert r.spikes_between_chips + r.partial_sums_between_chips == pytest.approx(crossing)
    use = mapping_energy(p, pl.hardware, pl.cluster_core, profile=None, time_s=r.time_s)
    assert use.interchip_hops >= crossing - 1e-9
    assert r.interchip_hops == pytest.approx(use.interchip_hops)
    assert r.spike_hops == pytest.approx(use.hops + use.interchip_hops)
    assert r.energy.total_j == pytest.approx(use.energy.total_j)
