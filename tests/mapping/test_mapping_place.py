"""Placers (``spikeforge.mapping.place``), tested through :func:`place` and the placements it
returns: capacity, the chips min-cut chooses and the traffic they cut, how chips are arranged on
the board and how cores are refined within a chip."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from mapping_helpers import (
    chips_hw,
    conv_net,
    graph_partition,
    hop_cost,
    interchip_traffic,
    profile_of,
    random_graph,
    relabelled,
    same_blocks,
    small_hw,
)

import spikeforge.mapping.place as place_module
from spikeforge.errors import CapacityError, UnknownStrategyError
from spikeforge.hardware import load_hardware
from spikeforge.mapping.partition import partition
from spikeforge.mapping.place import (
    PLACERS,
    GreedyInterchipPlacer,
    MinCutPlacer,
    Placer,
    place,
)
from spikeforge.mapping.report import mapping_energy, traffic_summary


@dataclass(frozen=True)
class Given(Placer):
    """A placer that puts the clusters on the chips it is given (the public way to start from
    any assignment); chips are used as given, not arranged."""

    name: ClassVar[str] = "given"
    assignment: tuple[int, ...] = ()

    def chips(self, partition, hw, k, seed):
        return np.array(self.assignment, np.int64)


@dataclass(frozen=True)
class GivenArranged(Given):
    """The same, with the arrangement of chips on the board (and core refinement) of min-cut."""

    refined: ClassVar[bool] = True


def _random_case(n, cap, seed, density=0.2):
    """A partition of ``n`` clusters whose traffic is a random graph, in random order (so ``fill``,
    chip after chip in partition order, is a random capacity-respecting start), and a board of
    ``cap`` crossbars per chip with the fewest chips that hold them."""
    g = random_graph(n, seed, density)
    perm = np.random.default_rng(seed).permutation(n)
    g = g[perm][:, perm]
    return graph_partition(sp.triu(g).tocsr()), chips_hw(cap, -(-n // cap))


def _chip_loads(pl):
    return np.bincount(pl.cluster_chip, minlength=pl.hardware.chips)


# -- capacity ------------------------------------------------------------------------------------
@settings(max_examples=10, deadline=None)
@given(st.sampled_from(sorted(PLACERS)), st.integers(1, 3), st.integers(0, 3))
def test_placement_within_capacity(strategy, extra_chips, seed):
    net = conv_net(c=3, seed=seed)
    prof = profile_of(net, seed)
    p = partition(net, prof, small_hw(64, 6), strategy="tiles")
    need = -(-p.n_clusters // 4)
    pl = place(p, small_hw(64, 6), strategy=strategy, chips=need + extra_chips - 1, seed=seed)
    assert len(np.unique(pl.cluster_core)) == p.n_clusters  # one crossbar per core here
    assert pl.cluster_core.max() < pl.hardware.total_cores
    r = traffic_summary(pl, prof)
    delivered = float(p.traffic.sum()) * p.timesteps
    assert r.spikes_inside_cores + r.spikes_between_cores + r.spikes_between_chips == pytest.approx(delivered)
    assert r.energy.total_j > 0


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 4), st.sampled_from([1, 2, 5, 40, 64]), st.integers(0, 100), st.sampled_from([0.05, 0.2]),
       st.booleans())
def test_min_cut_fills_the_fewest_chips_exactly_to_capacity(k, cap, seed, density, tight):
    """Was: ``_repair`` moves the excess out of over-full chips. The k-way starts of min-cut allow
    ~3 % imbalance (one cluster more from 34 per chip), so on a board where every chip must be
    full (``tight``: n = k · cap) they start over-full; whatever the start, the placement holds at
    most ``cap`` clusters per chip on exactly the fewest chips, each cluster once."""
    n = max(2, k * cap - (0 if tight else seed % cap))
    p, hw = _random_case(n, cap, seed, density)
    k = hw.chips
    for strategy in (MinCutPlacer(max_restarts=3), GreedyInterchipPlacer()):  # 3 starts: enough over-full ones
        pl = place(p, hw, strategy=strategy, seed=seed)
        assert _chip_loads(pl).max() <= cap
        assert pl.chips_used == k  # the fewest chips that hold n clusters
        assert len(np.unique(pl.cluster_core * hw.core.crossbars_per_core + pl.cluster_slot)) == n


def test_a_placer_that_overfills_a_chip_is_refused():
    """Only the built-in placers repair to capacity; a custom one that puts too much on a chip is
    an error, never a silently overfull chip."""
    p, hw = _random_case(8, 4, 0)
    with pytest.raises(CapacityError, match="chip 0: its clusters need more than 4 cores"):
        place(p, hw, strategy=Given((0,) * 5 + (1,) * 3))


def test_capacity_error_quotes_needed_and_available():
    net = conv_net()
    p = partition(net, profile_of(net), small_hw(64, 4), strategy="tiles")
    with pytest.raises(CapacityError, match=rf"needs {p.n_clusters} cores .*1 chip\(s\) × 4 = 4 cores"):
        place(p, small_hw(64, 4, mesh=2), strategy="fill")


def test_unknown_placer():
    net = conv_net()
    p = partition(net, profile_of(net), small_hw(64, 8), strategy="tiles")
    with pytest.raises(UnknownStrategyError, match="unknown placer 'x'; known: fill, round-robin, greedy-interchip, "
                                                   "min-cut"):
        place(p, small_hw(64, 8), strategy="x")


# -- the chips min-cut chooses ------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(4, 60), st.integers(2, 8), st.integers(0, 100), st.sampled_from([0.05, 0.2]))
def test_min_cut_never_cuts_more_than_fill_or_greedy(n, cap, seed, density):
    """Was: ``_refine_chips`` respects capacity and never raises the cut. ``fill`` (here a random
    capacity-respecting assignment: the clusters come in random order) and ``greedy-interchip``
    are among min-cut's starts; refining a start never raises its cut, so min-cut's inter-chip
    traffic is at most theirs, on every partition."""
    p, hw = _random_case(n, cap, seed, density)
    mc = place(p, hw, strategy=MinCutPlacer(), seed=seed)
    fill = place(p, hw, strategy="fill", seed=seed)
    greedy = place(p, hw, strategy="greedy-interchip", seed=seed)
    assert _chip_loads(mc).max() <= cap
    assert interchip_traffic(mc) <= interchip_traffic(fill) + 1e-9
    assert interchip_traffic(mc) <= interchip_traffic(greedy) + 1e-9
    # the report's inter-chip figures are the same cut (spikes and partial sums, T = 1)
    r = traffic_summary(mc)
    assert r.spikes_between_chips + r.partial_sums_between_chips == pytest.approx(interchip_traffic(mc))


@settings(max_examples=25, deadline=None)
@given(st.integers(6, 60), st.integers(1, 6), st.integers(1, 3), st.integers(0, 100))
def test_two_level_min_cut_respects_capacity_and_never_cuts_more_than_fill(n, cap, flat_chips, seed):
    """Was: ``_repair`` and ``_refine_chips`` respect per-chip capacities. Beyond ``flat_chips``
    chips min-cut first splits the clusters into groups of chips of unequal sizes (k chips into
    ⌈√k⌉ groups), repaired and refined with one capacity per group; chips stay within capacity
    and the cut never exceeds fill's (it falls back to fill otherwise)."""
    p, hw = _random_case(n, cap, seed)
    if hw.chips <= flat_chips:
        flat_chips = 1
    mc = place(p, hw, strategy=MinCutPlacer(flat_chips=flat_chips), seed=seed)
    fill = place(p, hw, strategy="fill")
    assert _chip_loads(mc).max() <= cap
    assert mc.chips_used == fill.chips_used
    assert interchip_traffic(mc) <= interchip_traffic(fill) + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_two_level_min_cut_gives_groups_of_unequal_size_their_share(seed):
    """Was: ``_graph_partition`` sizes parts in proportion to their capacities. Three chips make
    two groups, of two chips and of one; three separate cliques, each filling a chip and given in
    random order, are cut apart without traffic between chips only if the group of two chips ends
    with two cliques and the other with one. (That METIS is asked for parts in proportion is not
    observable through ``place``: the repair and refinement after it reach the same cut without.)"""
    cap = 12
    blocks = sp.block_diag([np.ones((cap, cap))] * 3, format="csr")
    blocks.setdiag(0)
    blocks.eliminate_zeros()
    perm = np.random.default_rng(seed).permutation(3 * cap)
    p = graph_partition(sp.triu(blocks[perm][:, perm]).tocsr())
    hw = chips_hw(cap, 3)
    assert interchip_traffic(place(p, hw, strategy="fill")) > 0
    mc = place(p, hw, strategy=MinCutPlacer(flat_chips=1), seed=seed)
    assert interchip_traffic(mc) == 0
    assert same_blocks(mc.cluster_chip, perm // cap)


def test_refinement_without_the_dense_gain_matrix_finds_the_same_cut(monkeypatch):
    """Above 1 GiB the chip refinement recomputes a cluster's chip weights from its neighbours
    instead of keeping a dense matrix. The size cannot be reached in a test, so the threshold is
    lowered (a private constant: the narrowest seam left); the placement must cut the same."""
    p, hw = _random_case(40, 5, 3)
    dense = place(p, hw, strategy=MinCutPlacer(max_restarts=2), seed=3)
    monkeypatch.setattr(place_module, "_DENSE_LIMIT", 0)
    sparse = place(p, hw, strategy=MinCutPlacer(max_restarts=2), seed=3)
    assert _chip_loads(sparse).max() <= 5
    assert interchip_traffic(sparse) == pytest.approx(interchip_traffic(dense))


@pytest.mark.parametrize("flat_chips", [2048, 2], ids=["flat", "two-level"])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 3))
def test_min_cut_uses_fill_chip_count_and_beats_fill(flat_chips, seed):
    """Flat, and in two levels (groups of chips first) beyond ``flat_chips`` chips: the same guarantees."""
    net = conv_net(c=3, seed=seed)
    prof = profile_of(net, seed)
    hw = small_hw(64, 6)
    p = partition(net, prof, hw, strategy="hypergraph")
    chips = -(-p.n_clusters // 4) + 2
    fill = place(p, hw, strategy="fill", chips=chips, seed=seed)
    assert fill.chips_used > 4
    mc = place(p, hw, strategy=MinCutPlacer(flat_chips=flat_chips), chips=chips, seed=seed)
    assert mc.chips_used == fill.chips_used  # same number of chips as fill
    rf, rm = traffic_summary(fill, prof), traffic_summary(mc, prof)
    assert (rm.spikes_between_chips + rm.partial_sums_between_chips
            <= rf.spikes_between_chips + rf.partial_sums_between_chips + 1e-9)
    # every cluster placed once, capacities respected, deliveries conserved
    assert len(np.unique(mc.cluster_core * 4 + mc.cluster_slot)) == p.n_clusters
    assert np.bincount(mc.cluster_chip).max() <= hw.crossbars_per_chip
    delivered = float(p.traffic.sum()) * p.timesteps
    assert rm.spikes_inside_cores + rm.spikes_between_cores + rm.spikes_between_chips == pytest.approx(delivered)


# -- chips on the board, cores within a chip -------------------------------------------------------
def _interchip_hops(pl):
    return mapping_energy(pl.partition, pl.hardware, pl.cluster_core, profile=None, time_s=0.0).interchip_hops


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 12), st.integers(1, 7), st.integers(0, 1000), st.sampled_from([0.05, 0.2, 0.5]))
def test_chip_arrangement_only_renames_chips_and_no_swap_of_two_improves_it(k, cap, seed, density):
    """Was: ``_arrange_chips`` never worse than identity. The arrangement keeps each chip's
    clusters together and ends where swapping the board slots of any two chips would not lower
    the traffic × inter-chip hops. (Not "never worse than the identity order": a local optimum
    from the reverse Cuthill-McKee start can be, on about 1 % of random cases.)"""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(k, k * cap + 1))
    chip = rng.permutation(np.arange(n) % k)
    p = graph_partition(sp.triu(random_graph(n, seed, density)).tocsr())
    hw = chips_hw(cap, k)
    as_given = place(p, hw, strategy=Given(tuple(chip.tolist())))
    arranged = place(p, hw, strategy=GivenArranged(tuple(chip.tolist())), refine=False)
    assert (as_given.cluster_chip == chip).all()
    assert same_blocks(arranged.cluster_chip, chip)
    cost = _interchip_hops(arranged)
    tol = 1e-9 * max(1.0, 4 * float(p.traffic.sum()))
    for a, b in itertools.combinations(range(k), 2):
        order = np.arange(hw.chips)
        order[[a, b]] = b, a
        assert _interchip_hops(relabelled(arranged, order)) >= cost - tol, (a, b)


def test_chip_arrangement_beats_identity_on_the_seed_example():
    """90 clusters in 9 chips of 10, in random order on a 3 × 3 board: the arranged order costs
    less than the given one (the example the arrangement was written for)."""
    hw = load_hardware("xbar-mesh").with_chips(9)
    chip = np.random.default_rng(0).permutation(np.arange(90) // 10)
    p = graph_partition(sp.triu(random_graph(90, 1, 0.05)).tocsr())
    as_given = place(p, hw, strategy=Given(tuple(chip.tolist())))
    arranged = place(p, hw, strategy=GivenArranged(tuple(chip.tolist())), refine=False)
    assert sorted(np.bincount(arranged.cluster_chip).tolist()) == sorted(np.bincount(chip).tolist())
    assert _interchip_hops(arranged) < _interchip_hops(as_given)


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 40), st.integers(0, 1000), st.sampled_from(["min-cut", "greedy-interchip"]))
def test_core_refinement_never_raises_the_hop_cost_nor_moves_chips(n, seed, strategy):
    """Was: ``_edge_positions`` (the CSR ranges of the moved clusters' edges). The swap refinement
    prices a swap on exactly those edges and keeps it only if it lowers the cost, so the refined
    placement's traffic × (hop and chip-crossing energies) never exceeds the unrefined one's,
    and every cluster stays on its chip."""
    p, _ = _random_case(n, 4, seed)
    hw = small_hw(128, 128, chips=-(-n // 4), mesh=2)
    plain = place(p, hw, strategy=strategy, refine=False, seed=seed)
    refined = place(p, hw, strategy=strategy, refine=True, refine_moves=400, seed=seed)
    assert (refined.cluster_chip == plain.cluster_chip).all()
    assert hop_cost(refined) <= hop_cost(plain) * (1 + 1e-9)
