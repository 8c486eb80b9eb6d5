r"""Placers: clusters → crossbars → cores → chips, minimising traffic × distance.

Strategies (registry :data:`PLACERS`; :func:`place` takes a name, or a :class:`Placer` object carrying
its options such as ``MinCutPlacer(max_restarts=4)``) decide which chip each cluster goes to:

``fill``
    In partition order, chip after chip.
``round-robin``
    Cluster *i* on chip *i* mod *K* (all chips of the board used).
``greedy-interchip``
    Grow one chip at a time with the unplaced cluster most connected to it (nengo-loihi's
    greedy allocator).
``min-cut``
    The same number of chips as ``fill`` (the fewest that hold the clusters), chosen to minimise the
    traffic (spikes + partial sums) between chips: multi-start (k-way min edge-cuts of the cluster
    graph — KaHyPar on its 2-pin nets up to 3,000 clusters, METIS via pymetis beyond — with
    ``min(16, 10,000 // clusters)`` seeds, partition order, and greedy growth up to 50,000 clusters), each
    repaired to the exact chip capacity and refined by FM-style moves and swaps whose gains come from a
    cluster × chip weight matrix updated in O(degree) per move (:func:`_refine_chips`); the lowest cut
    wins. Beyond 2,048 chips in two levels: about √k groups of chips, then the chips of each group
    (:func:`_two_level_min_cut`). Chips are then arranged on
    the board (reverse Cuthill-McKee along a serpentine, then best-improvement pairwise swaps up to
    256 chips), as the U-Net-on-Loihi work partitions across chips.

Within each chip, clusters are laid on the core mesh along a serpentine in reverse Cuthill-McKee
order of the cluster graph, then ``min-cut`` and ``greedy-interchip`` are refined by greedy swaps of
cores within a chip (chips keep their clusters, so inter-chip traffic is unchanged), accepting
those that lower

.. math:: \sum_{(u,v)} t_{uv}\,\big(h^{noc}_{uv} e_{hop} + h^{chip}_{uv} e_{chip}\big)

(:math:`t` = tokens per timestep, :math:`h` = hop counts, :math:`e` = energies per hop and per
inter-chip transfer of the hardware, 1 and 10 when the preset has none).
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from spikeforge.api import public
from spikeforge.errors import CapacityError, InvalidDataError
from spikeforge.hardware.geometry import hop_counts
from spikeforge.hardware.spec import load_hardware
from spikeforge.ir.hardware import Hardware
from spikeforge.ir.partition import Partition
from spikeforge.ir.placement import Placement
from spikeforge.resources import check_count, check_memory, format_bytes
from spikeforge.strategies import Registry

__all__ = ["place", "check_place_request", "PLACERS", "DEFAULT_PLACER", "Placer", "FillPlacer",
           "RoundRobinPlacer", "GreedyInterchipPlacer", "MinCutPlacer"]

#: The placer ``place``, ``compile`` and ``map`` use unless told otherwise.
DEFAULT_PLACER = "min-cut"
# _refine_chips keeps the cluster × chip matrix dense (float64) up to 1 GiB: U-Net-512 on Loihi (112,445
# clusters × 879 chips) then places in 20–30 s instead of ~60 s with rows recomputed from neighbours
_DENSE_LIMIT = 2 ** 30 // 8
_RESTART_BUDGET = 10_000  # clusters × k-way partition starts of min-cut
_FLAT_CHIPS = 2048  # beyond, min-cut partitions in two levels (groups of chips, then chips)
_MAX_RESTARTS = 16
# Bytes per core of the board grid (chip mesh × board mesh, empty board slots included) that a placement
# and its report allocate: core coordinates of the swap refinement (7 int64 arrays), the placement's per-core
# neuron and memory sums (2), the report's per-core loads (3) and link loads over the grid (2 float64).
_BYTES_PER_CORE = 14 * 8
# Bytes per core of one chip: the serpentine order of the chip's mesh, built as a Python list.
_BYTES_PER_CHIP_CORE = 48
_MAX_REFINE_MOVES = 10_000_000


def _graph(p: Partition) -> sp.csr_matrix:
    m = (p.traffic + p.partial_traffic)
    m = (m + m.T).tocsr()
    m.setdiag(0)
    m.eliminate_zeros()
    return m


def _chip_capacity(hw: Hardware) -> int:
    return hw.cores_per_chip * hw.core.crossbars_per_core


def _check_capacity(p: Partition, hw: Hardware) -> None:
    need = p.n_clusters
    cap = hw.total_crossbars
    if need > cap:
        per = hw.core.crossbars_per_core
        cores = -(-need // per)
        raise CapacityError(f"{p.network} needs {cores:,} cores ({need:,} crossbars); {hw.chips} chip(s) × "
                            f"{hw.cores_per_chip:,} = {hw.total_cores:,} cores on {hw.name}")


@public
def check_place_request(hw: Hardware | str | os.PathLike, *, chips: int | None = None, seed: int = 0,
                        refine_moves: int | None = None) -> Hardware:
    """The board :func:`place` would use, checked as :func:`place` checks it before any work; a
    command can call this before its expensive steps (profiling, partitioning).

    Returns
    -------
    Hardware
        ``hw`` loaded, with ``chips`` chips when given.

    Raises
    ------
    InvalidHardwareSpecError
        An unknown or invalid hardware, or ``chips`` not in 1 .. 2^31 − 1.
    ResourceError
        The board's per-core arrays need more memory than is available, ``seed`` is above
        2^31 − 1 or ``refine_moves`` above 10^7.
    ArgumentError
        ``seed`` or ``refine_moves`` is not an integer ≥ 0.

    Examples
    --------
    >>> check_place_request("loihi", chips=4).chips
    4
    >>> check_place_request("loihi", seed=-1)
    Traceback (most recent call last):
    ...
    spikeforge.errors.ArgumentError: place: seed -1: must be ≥ 0
    """
    hw = load_hardware(hw)
    if chips is not None:
        hw = hw.with_chips(chips)
    check_count(seed, "place: seed", low=0, high=2**31 - 1)
    if refine_moves is not None:
        check_count(refine_moves, "place: refine_moves", low=0, high=_MAX_REFINE_MOVES)
    grid = hw.cores_per_chip * hw.board.mesh_x * hw.board.mesh_y
    need = grid * _BYTES_PER_CORE + hw.cores_per_chip * _BYTES_PER_CHIP_CORE
    check_memory(need, f"place on {hw.name}: {hw.chips:,} chip(s) of {hw.chip.mesh_x:,} × "
                       f"{hw.chip.mesh_y:,} cores ({grid:,} core positions on the board, "
                       f"{format_bytes(_BYTES_PER_CORE)} each)")
    return hw


def _fill(p: Partition, hw: Hardware) -> np.ndarray:
    return np.arange(p.n_clusters) // _chip_capacity(hw)


def _greedy_growth(g: sp.csr_matrix, cap: int) -> np.ndarray:
    """Chips grown one at a time with the unplaced cluster most connected to the chip (ties: lowest id)."""
    n = g.shape[0]
    chip = np.full(n, -1, np.int64)
    score = np.zeros(n)
    unplaced = n
    c = 0
    nxt = 0  # lowest cluster id that may still be unplaced
    while unplaced:
        heap: list[tuple[float, int]] = []
        touched: list[np.ndarray] = []
        used = 0
        while used < cap and unplaced:
            u = -1
            while heap:
                s, v = heapq.heappop(heap)
                if chip[v] < 0 and -s == score[v]:
                    u = v
                    break
            if u < 0:
                while chip[nxt] >= 0:
                    nxt += 1
                u = nxt
            chip[u] = c
            used += 1
            unplaced -= 1
            nb = g.indices[g.indptr[u]:g.indptr[u + 1]]
            w = g.data[g.indptr[u]:g.indptr[u + 1]]
            free = chip[nb] < 0
            score[nb[free]] += w[free]
            touched.append(nb[free])
            for v, sv in zip(nb[free], score[nb[free]]):
                heapq.heappush(heap, (-sv, int(v)))
        for t in touched:
            score[t] = 0.0
        c += 1
    return chip


def _min_cut(p: Partition, hw: Hardware, k: int, seed: int, max_restarts: int, restart_budget: int,
             flat_chips: int) -> np.ndarray:
    """Fewest chips (as ``fill``); multi-start min-cut of the cluster graph, refined by FM moves/swaps
    (in two levels beyond ``flat_chips`` chips)."""
    n, cap = p.n_clusters, _chip_capacity(hw)
    if k <= 1:
        return np.zeros(n, np.int64)
    g = _graph(p)
    if k > flat_chips:
        return _two_level_min_cut(g, k, cap, seed)
    # k-way partitioners are randomised: more seeds where a start is cheap (~1.5 s per 1,000 clusters)
    restarts = min(max_restarts, max(1, restart_budget // max(n, 1)))
    starts = [_graph_partition(g, k, cap, seed + r) for r in range(restarts)] + [_fill(p, hw)]
    if n <= 50_000:  # a third start; on 10^5+ clusters each start costs tens of seconds
        starts.append(_greedy_growth(g, cap))
    return _best_refined(starts, g, cap, k)


def _best_refined(starts: list[np.ndarray], g: sp.csr_matrix, cap: int | np.ndarray, k: int) -> np.ndarray:
    """Each start repaired to ``cap`` clusters per part and refined; the one with the lowest cut."""
    best, best_cut = None, math.inf
    for s in starts:
        chip = _refine_chips(_repair(np.asarray(s, np.int64), g, cap, k), g, cap, k)
        cut = _cut_weight(g, chip)
        if cut < best_cut - 1e-9:
            best, best_cut = chip, cut
    return best


def _two_level_min_cut(g: sp.csr_matrix, k: int, cap: int, seed: int) -> np.ndarray:
    """Min-cut in two levels: the clusters into about √k groups of chips, then each group into its chips.

    A single k-way partition of U-Net-512 on ``xbar-mesh`` (1.5 M clusters into 93,184 chips) costs
    METIS minutes and leaves the FM refinement millions of candidates; two levels of √k parts cost
    seconds per group. Group *j* may hold ``chips_j · cap`` clusters, with ``Σ chips_j = k``, so the
    groups' chips, numbered group after group, are exactly the ``k`` of ``fill``. Each level is one
    METIS start, repaired and refined. On ResNet-18-224 on ``xbar-mesh`` (11,586 chips) this cuts 9 %
    less traffic than the flat search, in less time; more starts per group (``fill`` order, KaHyPar)
    cost minutes and cut no less. ``fill`` is returned instead if it cuts less.
    """
    n_groups = math.isqrt(k - 1) + 1
    group_chips = np.full(n_groups, k // n_groups)
    group_chips[: k % n_groups] += 1
    group_cap = group_chips * cap
    group = _best_refined([_graph_partition(g, n_groups, group_cap, seed, kahypar=False)], g, group_cap, n_groups)
    order = np.argsort(group, kind="stable")
    ends = np.cumsum(np.bincount(group, minlength=n_groups))
    by_group = g[order][:, order].tocsr()  # each group's subgraph is one slice of the permuted graph
    chip = np.empty(g.shape[0], np.int64)
    next_chip = 0
    for start, end in zip(np.concatenate([[0], ends[:-1]]), ends):
        chips = -(-(end - start) // cap)
        if chips > 1:
            sub = by_group[start:end, start:end]
            local = _best_refined([_graph_partition(sub, chips, cap, seed, kahypar=False)], sub, cap, chips)
        else:
            local = np.zeros(end - start, np.int64)
        chip[order[start:end]] = next_chip + local
        next_chip += chips
    fill = np.arange(len(chip)) // cap
    return chip if _cut_weight(g, chip) <= _cut_weight(g, fill) else fill


def _cut_weight(g: sp.csr_matrix, chip: np.ndarray) -> float:
    """Traffic (both directions) between clusters on different chips."""
    coo = g.tocoo()
    return float(coo.data[chip[coo.row] != chip[coo.col]].sum()) / 2


def _graph_partition(g: sp.csr_matrix, k: int, cap: int | np.ndarray, seed: int, *,
                     kahypar: bool = True) -> np.ndarray:
    """k-way min edge-cut of the symmetric cluster graph, ~3 % imbalance allowed (repaired afterwards).

    ``cap``: clusters per part, one number or one per part (then the parts' target sizes are in proportion).
    KaHyPar (cut of 2-pin nets) up to 3,000 clusters when installed and ``kahypar``, METIS (pymetis) beyond.
    """
    from spikeforge.mapping.partition import hypergraph_partition, kahypar_available

    n = g.shape[0]
    caps = np.broadcast_to(np.asarray(cap, np.int64), (k,))
    if g.nnz == 0:
        return np.repeat(np.arange(k), caps)[:n]
    # imbalance allowed: the room capacity leaves above an even share (equal parts: as before per-part capacities)
    if (caps == caps[0]).all():
        eps, targets = max(0.03, caps[0] / -(-n // k) - 1), None
    else:
        eps, targets = max(0.03, caps.sum() / n - 1), (caps / caps.sum()).tolist()
    w = np.maximum(1, np.round(g.data * 1e4 / max(float(g.data.max()), 1e-12))).astype(np.int64)
    if kahypar and n <= 3000 and kahypar_available():
        up = sp.triu(sp.csr_matrix((w, g.indices, g.indptr), shape=g.shape), k=1).tocoo()
        nets = list(np.stack([up.row, up.col], 1))
        return hypergraph_partition(n, nets, up.data, np.ones(n, np.int64), k, eps, seed=seed)
    import pymetis

    opts = pymetis.Options(seed=seed, ufactor=int(max(1, eps * 1000)))
    _, parts = pymetis.part_graph(k, pymetis.CSRAdjacency(g.indptr.astype(np.int64), g.indices.astype(np.int64)),
                                  eweights=w, tpwgts=targets, options=opts)
    return np.asarray(parts, np.int64)


def _refine_chips(chip: np.ndarray, g: sp.csr_matrix, cap: int | np.ndarray, k: int, passes: int = 8) -> np.ndarray:
    """Greedy FM-style refinement of a chip assignment: moves and swaps that lower the cut.

    With ``W[u, c]`` the traffic between cluster ``u`` and the clusters on chip ``c``, the gain of
    moving ``u`` from ``a`` to ``c`` is ``W[u, c] − W[u, a]``; of swapping it with ``v`` on a full
    chip ``c``, that plus ``W[v, a] − W[v, c] − 2 w_{uv}``. Gains of all clusters are computed at
    once per pass (a sparse ``n × k`` matrix). ``W`` itself is kept dense and updated in O(degree)
    per move while it fits in 1 GiB; beyond that, a candidate's rows are recomputed from their
    neighbours when needed. Chips never exceed ``cap`` clusters (one number, or one per chip). Passes
    stop when the cut drops by less than 0.01 % of the traffic.
    """
    n = len(chip)
    if n < 2 or g.nnz == 0 or k < 2:
        return chip
    chip = chip.copy()
    caps = np.broadcast_to(np.asarray(cap, np.int64), (k,))
    indptr, indices, data = g.indptr, g.indices, g.data
    R = np.repeat(np.arange(n), np.diff(indptr))
    counts = np.bincount(chip, minlength=k)
    order = np.argsort(chip, kind="stable")
    members = [set(s.tolist()) for s in np.split(order, np.cumsum(counts)[:-1])]
    scratch = np.zeros(n)
    total = float(data.sum())

    dense = n * k <= _DENSE_LIMIT
    if dense:  # W kept up to date: O(degree) per move
        W = np.zeros((n, k))
        np.add.at(W, (R, chip[indices]), data)

    def row(u: int) -> tuple[np.ndarray, np.ndarray]:
        if dense:
            cs = np.flatnonzero(W[u])
            return cs, W[u, cs]
        s, e = indptr[u], indptr[u + 1]
        cs, inv = np.unique(chip[indices[s:e]], return_inverse=True)
        return cs, np.bincount(inv, weights=data[s:e], minlength=len(cs))

    def to_chips(mem: np.ndarray, a: int, c: int) -> tuple[np.ndarray, np.ndarray]:
        """``W[mem, a]`` and ``W[mem, c]``."""
        if dense:
            return W[mem, a], W[mem, c]
        ri, pos = _edge_positions(indptr, mem)
        ch, wt = chip[indices[pos]], data[pos]
        return (np.bincount(ri, weights=wt * (ch == a), minlength=len(mem)),
                np.bincount(ri, weights=wt * (ch == c), minlength=len(mem)))

    def move(u: int, a: int, c: int) -> None:
        if dense:
            nb, wt = indices[indptr[u]:indptr[u + 1]], data[indptr[u]:indptr[u + 1]]
            W[nb, a] -= wt
            W[nb, c] += wt
        chip[u] = c
        counts[a] -= 1
        counts[c] += 1
        members[a].discard(u)
        members[c].add(u)

    for _ in range(passes):
        C = chip[indices]
        same = C == chip[R]
        own = np.bincount(R[same], weights=data[same], minlength=n)
        if same.all():
            break
        other = sp.csr_matrix((data[~same], (R[~same], C[~same])), shape=(n, k))
        gain = other.max(axis=1).toarray().ravel() - own
        cand = np.flatnonzero(gain > 1e-12)
        if len(cand) == 0:
            break
        improved = 0.0
        for u in cand[np.argsort(-gain[cand], kind="stable")]:
            a = int(chip[u])
            cs, ws = row(u)
            here = cs == a
            w_own = float(ws[here].sum())
            if here.all():
                continue
            cs, ws = cs[~here], ws[~here]
            j = int(np.argmax(ws))
            c, gu = int(cs[j]), float(ws[j]) - w_own
            if gu <= 1e-12:
                continue
            if counts[c] < caps[c]:
                move(u, a, c)
                improved += gu
                continue
            mem = np.fromiter(members[c], np.int64, len(members[c]))
            wa, wc = to_chips(mem, a, c)
            s, e = indptr[u], indptr[u + 1]
            scratch[indices[s:e]] = data[s:e]
            vg = wa - wc - 2 * scratch[mem]
            scratch[indices[s:e]] = 0.0
            j = int(np.argmax(vg))
            if gu + float(vg[j]) > 1e-12:
                move(u, a, c)
                move(int(mem[j]), c, a)
                improved += gu + float(vg[j])
        if improved < 1e-4 * total:
            break
    return chip


def _edge_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a CSR matrix's ``indices``/``data`` of the entries of ``rows``, with the index into
    ``rows`` each belongs to: the concatenated ranges ``indptr[r]:indptr[r + 1]``, without a Python loop.

    >>> _edge_positions(np.array([0, 2, 2, 5]), np.array([2, 0]))
    (array([0, 0, 0, 1, 1]), array([2, 3, 4, 0, 1]))
    """
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    first = np.cumsum(lengths) - lengths  # where each row's run begins in the output
    return owner, np.arange(int(lengths.sum())) - first[owner] + starts[owner]


def _repair(chip: np.ndarray, g: sp.csr_matrix, cap: int | np.ndarray, k: int) -> np.ndarray:
    """Move clusters out of chips over ``cap`` (one number, or one per chip), least-connected first, to
    the chips they talk to most (among those with room; with none, the lowest-numbered chip with room).

    Nothing moves into an over-full chip, so each keeps its initial members until its turn, and a chip
    that is full stays full: the lowest chip with room only moves up. Work is O(edges of the moved
    clusters) plus one sort, not O(chips) per move (U-Net-512 on ``xbar-mesh``: 93,184 chips).
    """
    chip = chip.copy()
    caps = np.broadcast_to(np.asarray(cap, np.int64), (k,))
    counts = np.bincount(chip, minlength=k)
    over = np.flatnonzero(counts > caps)
    if len(over) == 0:
        return chip
    members_by_chip = np.argsort(chip, kind="stable")
    first = np.concatenate([[0], np.cumsum(counts)])
    free = 0
    for c in over:
        members = members_by_chip[first[c]:first[c + 1]]
        owner, pos = _edge_positions(g.indptr, members)
        inside = np.bincount(owner, weights=g.data[pos] * (chip[g.indices[pos]] == c), minlength=len(members))
        for u in members[np.argsort(inside)][: counts[c] - caps[c]]:
            s, e = g.indptr[u], g.indptr[u + 1]
            near, inv = np.unique(chip[g.indices[s:e]], return_inverse=True)
            w = np.bincount(inv, weights=g.data[s:e], minlength=len(near))
            room = (counts[near] < caps[near]) & (w > 0)
            if room.any():
                dest = int(near[room][np.argmax(w[room])])
            else:
                while counts[free] >= caps[free]:
                    free += 1
                dest = free
            chip[u] = dest
            counts[c] -= 1
            counts[dest] += 1
    return chip


@dataclass(frozen=True)
class Placer:
    """A placement strategy with its options: :meth:`chips` puts each cluster on a chip."""

    name: ClassVar[str]
    #: Chips arranged on the board by traffic, and cores refined by swaps unless ``place(refine=False)``.
    refined: ClassVar[bool] = False

    def chips(self, partition: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
        """The chip of each cluster; ``k`` is the fewest chips that hold the clusters."""
        raise NotImplementedError


@dataclass(frozen=True)
class FillPlacer(Placer):
    """Clusters in partition order, chip after chip."""

    name: ClassVar[str] = "fill"

    def chips(self, partition: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
        return _fill(partition, hw)


@dataclass(frozen=True)
class RoundRobinPlacer(Placer):
    """Cluster i on chip i mod K, all chips of the board used."""

    name: ClassVar[str] = "round-robin"

    def chips(self, partition: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
        return np.arange(partition.n_clusters) % hw.chips


@dataclass(frozen=True)
class GreedyInterchipPlacer(Placer):
    """Grows one chip at a time with the unplaced cluster most connected to it (nengo-loihi's greedy allocator)."""

    name: ClassVar[str] = "greedy-interchip"
    refined: ClassVar[bool] = True

    def chips(self, partition: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
        return _greedy_growth(_graph(partition), _chip_capacity(hw))


@dataclass(frozen=True)
class MinCutPlacer(Placer):
    """The fewest chips, chosen to minimise the traffic between chips (multi-start k-way min-cut, FM-refined).

    ``max_restarts`` and ``restart_budget`` (clusters × starts) bound the randomised k-way
    starts; beyond ``flat_chips`` chips the cut is made in two levels.
    """

    name: ClassVar[str] = "min-cut"
    refined: ClassVar[bool] = True
    max_restarts: int = _MAX_RESTARTS
    restart_budget: int = _RESTART_BUDGET
    flat_chips: int = _FLAT_CHIPS

    def __post_init__(self) -> None:
        for option in ("max_restarts", "restart_budget", "flat_chips"):
            check_count(getattr(self, option), f"min-cut placer: {option}", error=InvalidDataError)

    def chips(self, partition: Partition, hw: Hardware, k: int, seed: int) -> np.ndarray:
        return _min_cut(partition, hw, k, seed, self.max_restarts, self.restart_budget, self.flat_chips)


#: Placers by name (see the module docstring).
PLACERS: Registry[Placer] = Registry("placer", Placer,
                                     (FillPlacer, RoundRobinPlacer, GreedyInterchipPlacer, MinCutPlacer))


def _weights(hw: Hardware) -> tuple[float, float]:
    e = hw.energy
    if e.per_hop_pj == 0 and e.per_interchip_transfer_pj == 0:
        return 1.0, 10.0
    return float(e.per_hop_pj), float(e.per_interchip_transfer_pj)


def _arrange_chips(chip: np.ndarray, g: sp.csr_matrix, hw: Hardware, max_swaps: int | None = None) -> np.ndarray:
    """Map chip blocks onto board slots: best-improvement pairwise swaps of the traffic × distance.

    The gain of swapping the slots of blocks ``a`` and ``b`` for all pairs at once is
    ``2 (S_ab + S_ba − S_aa − S_bb + 2 m_ab D_ab)`` with ``S = M D`` (``M`` block traffic, ``D`` slot
    distances under the current assignment): one matrix product per accepted swap.
    """
    k = int(chip.max()) + 1 if len(chip) else 0
    if k <= 2:
        return chip
    coo = g.tocoo()
    ms = sp.csr_matrix((coo.data, (chip[coo.row], chip[coo.col])), shape=(k, k))
    ms = (ms + ms.T).tocsr()
    ms.setdiag(0)
    ms.eliminate_zeros()
    bx = hw.board.mesh_x
    # start: blocks in reverse Cuthill-McKee order of their traffic graph along a serpentine of the board
    rcm = sp.csgraph.reverse_cuthill_mckee(ms, symmetric_mode=True)
    by = -(-k // bx)
    serp = np.array([y * bx + (x if y % 2 == 0 else bx - 1 - x) for y in range(by) for x in range(bx)])
    perm = np.empty(k, np.int64)  # block -> slot
    perm[rcm] = serp[serp < k]
    if k > 256:  # the all-pairs gain matrix costs k³ per swap
        return perm[chip]
    m = ms.toarray()
    slots = np.arange(k)
    pos = np.stack([slots % bx, slots // bx], 1)
    dist = np.abs(pos[:, None, :] - pos[None, :, :]).sum(-1).astype(np.float64)
    for _ in range(max_swaps if max_swaps is not None else 4 * k):
        D = dist[perm][:, perm]
        S = m @ D
        d = np.diag(S)
        delta = S + S.T - d[:, None] - d[None, :] + 2 * m * D  # cost change of swapping a, b (÷2)
        np.fill_diagonal(delta, 0)
        a, b = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[a, b] >= -1e-9 * max(1.0, float(m.sum())):
            break
        perm[a], perm[b] = perm[b], perm[a]
    return perm[chip]


def _layout_cores(p: Partition, hw: Hardware, chip: np.ndarray, g: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Cores within each chip: BFS order of the cluster graph laid along a serpentine of the mesh."""
    n = p.n_clusters
    per = hw.core.crossbars_per_core
    nx, ny = hw.chip.mesh_x, hw.chip.mesh_y
    serp = np.array([(y * nx + (x if y % 2 == 0 else nx - 1 - x)) for y in range(ny) for x in range(nx)], np.int64)
    core = np.empty(n, np.int64)
    slot = np.empty(n, np.int64)
    cols = p.cluster_columns
    mem = p.cluster_memory_bits
    order = np.argsort(chip, kind="stable")
    bounds = np.flatnonzero(np.diff(chip[order])) + 1
    starts = np.concatenate([[0], bounds])
    # the graph in chip order, one slice per chip below: one permutation, not one fancy index per chip
    chip_ordered = g[order][:, order].tocsr()
    for start, members in zip(starts, np.split(order, bounds)):
        c = int(chip[members[0]])
        if len(members) > 1 and g.nnz:
            end = start + len(members)
            rcm = sp.csgraph.reverse_cuthill_mckee(chip_ordered[start:end, start:end], symmetric_mode=True)
            members = members[rcm[::-1]]
        local, s, ncol, nmem = 0, 0, 0, 0
        for u in members:
            if s >= per or ncol + cols[u] > hw.core.neurons_per_core or nmem + mem[u] > hw.synapse_memory_bits_per_core:
                local, s, ncol, nmem = local + 1, 0, 0, 0
            if local >= hw.cores_per_chip:
                raise CapacityError(f"chip {c}: its clusters need more than {hw.cores_per_chip} cores "
                                    f"(neurons or synapse memory per core)")
            core[u] = c * hw.cores_per_chip + serp[local]
            slot[u] = s
            s += 1
            ncol += cols[u]
            nmem += mem[u]
    return core, slot


class _EdgeCost:
    """Cost ``e_hop·noc + e_chip·inter`` of routes between cores; closed form on meshes, else hop_counts."""

    def __init__(self, hw: Hardware) -> None:
        self.hw = hw
        self.e_hop, self.e_chip = _weights(hw)
        self.mesh = hw.noc.topology == "mesh2d" and hw.interchip.topology == "mesh2d"
        ids = np.arange(hw.total_cores)
        chip, local = np.divmod(ids, hw.cores_per_chip)
        nx, ny, bx = hw.chip.mesh_x, hw.chip.mesh_y, hw.board.mesh_x
        self.cx, self.cy = chip % bx, chip // bx
        self.gx, self.gy = self.cx * nx + local % nx, self.cy * ny + local // nx

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.mesh:  # X-then-Y on the global grid: all links are hops, chip crossings cost extra
            span = np.abs(self.gx[a] - self.gx[b]) + np.abs(self.gy[a] - self.gy[b])
            cross = np.abs(self.cx[a] - self.cx[b]) + np.abs(self.cy[a] - self.cy[b])
            return self.e_hop * span + (self.e_chip - self.e_hop) * cross
        noc, inter = hop_counts(self.hw, a, b)
        return self.e_hop * noc + self.e_chip * inter


def _refine(p: Partition, hw: Hardware, core: np.ndarray, slot: np.ndarray, g: sp.csr_matrix, seed: int,
            moves: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy swaps of whole cores (all their clusters) within a chip, lowering traffic × hop cost.

    Proposals pick an intra-chip edge ``(u, v)`` with probability ∝ traffic and try to swap ``u``'s core
    with a mesh neighbour of ``v``'s core; the gain is computed from the moved clusters' edges only.
    Chips keep their clusters, so inter-chip traffic is unchanged.
    """
    if g.nnz == 0 or p.n_clusters < 2:
        return core, slot
    cost = _EdgeCost(hw)
    rng = np.random.default_rng(seed)
    core = core.copy()
    occupants: dict[int, list[int]] = {}
    for u, c in enumerate(core):
        occupants.setdefault(int(c), []).append(u)
    coo = g.tocoo()
    cpc = hw.cores_per_chip
    same = (core[coo.row] // cpc) == (core[coo.col] // cpc)
    if not same.any():
        return core, slot
    er, ec, ed = coo.row[same], coo.col[same], coo.data[same]
    picks = rng.choice(len(ed), size=moves, p=ed / ed.sum())
    targets = rng.integers(0, 4, size=moves)
    indptr, indices, data = g.indptr, g.indices, g.data
    nx, ny = hw.chip.mesh_x, hw.chip.mesh_y

    def local_cost(nodes: list[int]) -> float:
        rows = np.asarray(nodes, np.int64)
        owner, pos = _edge_positions(indptr, rows)
        return float(data[pos] @ cost(core[rows[owner]], core[indices[pos]]))

    for e, t in zip(picks, targets):
        u, v = int(er[e]), int(ec[e])
        cu, cv = int(core[u]), int(core[v])
        if cu == cv:
            continue
        chipv, local = divmod(cv, cpc)
        x, y = local % nx, local // nx
        nbrs = [(x + dx, y + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= x + dx < nx and 0 <= y + dy < ny]
        tx, ty = nbrs[int(t) % len(nbrs)]
        target = chipv * cpc + ty * nx + tx
        if target == cu:
            continue
        a = occupants.get(cu, [])
        b = occupants.get(target, [])
        moved = a + b
        before = local_cost(moved)
        core[a] = target
        core[b] = cu
        after = local_cost(moved)
        if after < before - 1e-12:
            occupants[target], occupants[cu] = a, b
        else:
            core[a] = cu
            core[b] = target
    return core, slot



@public
def place(partition: Partition, hw: Hardware | str | os.PathLike, *, strategy: str | Placer = DEFAULT_PLACER,
          chips: int | None = None, refine: bool | None = None, seed: int = 0,
          refine_moves: int | None = None) -> Placement:
    """Bind every cluster of ``partition`` to a crossbar of a core of a chip of ``hw``.

    Parameters
    ----------
    partition : Partition
    hw : Hardware or str
        Target, or a preset name / TOML path.
    strategy : str or Placer
        A name of :data:`PLACERS` (``'min-cut'``, ``'greedy-interchip'``, ``'fill'``,
        ``'round-robin'``, options at their defaults) or a placer object with its options,
        e.g. ``MinCutPlacer(max_restarts=4)``.
    chips : int, optional
        Chips on the board (default: as in ``hw``).
    refine : bool, optional
        Swap refinement (default: the placer's ``refined``, on for ``min-cut`` and
        ``greedy-interchip``).
    seed : int
        Random seed of the partitioners and the refinement.

    Returns
    -------
    Placement

    Raises
    ------
    CapacityError
        Not enough crossbars/cores on the chips, with needed vs available.
    UnknownStrategyError
        Unknown strategy.
    ResourceError
        The board's per-core arrays need more memory than is available (checked before any is
        allocated: a board of 10^8 chips, or a chip of 100,000 × 100,000 cores), ``seed`` is
        above 2^31 − 1 or ``refine_moves`` above 10^7.
    ArgumentError
        ``seed`` or ``refine_moves`` is not an integer ≥ 0.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from spikeforge.ir.partition import Partition
    >>> part = Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=1,
    ...     layers=("a",), layer_shapes=((4, 1, 1),), piece_cluster=[0, 1], piece_layer=[0, 0],
    ...     piece_part=[0, 0], piece_box=[[0, 2, 0, 1, 0, 1], [2, 4, 0, 1, 0, 1]],
    ...     cluster_rows=[1, 1], cluster_synapses=[2, 2], cluster_memory_bits=[16, 16],
    ...     cluster_spikes=[0, 0], cluster_synops=[0, 0], traffic=sp.csr_matrix((2, 2)),
    ...     partial_traffic=sp.csr_matrix((2, 2)), limits={})
    >>> place(part, "xbar-mesh", strategy="fill").cluster_core.tolist()
    [0, 1]
    """
    hw = check_place_request(hw, chips=chips, seed=seed, refine_moves=refine_moves)
    placer = PLACERS.resolve(strategy)
    _check_capacity(partition, hw)
    n = partition.n_clusters
    k = max(1, -(-n // _chip_capacity(hw)))
    chip = placer.chips(partition, hw, k, seed).astype(np.int64)
    g = _graph(partition)
    if placer.refined:
        chip = _arrange_chips(chip, g, hw)
    core, slot = _layout_cores(partition, hw, chip, g)
    do_refine = placer.refined if refine is None else refine
    notes = []
    if do_refine:
        moves = refine_moves if refine_moves is not None else min(20000, 20 * n)
        core, slot = _refine(partition, hw, core, slot, g, seed, moves)
        notes.append(f"refined with {moves} swap proposals")
    return Placement(partition, hw, placer.name, core, slot, tuple(notes))
